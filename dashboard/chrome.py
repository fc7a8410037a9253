"""Page chrome shared by every page: the header and its navigation, messages, the page frame."""

from __future__ import annotations

import html
import re
from urllib.parse import urlencode

import panel as pn

from dashboard.access import hooks as access_hooks

PAGES = (("", "Overview"), ("waveforms", "Waveforms"), ("helicorder", "Helicorder"),
         ("availability", "Availability"), ("stations", "Stations"), ("noise", "Noise"),
         ("rsam", "RSAM"), ("resources", "Resources"), ("mission", "Mission"))

CSS = """
.bv-header {display: flex; flex-wrap: wrap; align-items: baseline; gap: 6px 22px; padding: 8px 16px;
  background: #1d2b3a; color: #e8eef5; font-family: system-ui, sans-serif; border-radius: 4px;}
.bv-header a {color: #bcd3ea; text-decoration: none; font-size: 15px;}
.bv-header a.active {color: #ffffff; font-weight: 600; border-bottom: 2px solid #7fb2e5;}
.bv-header .bv-title {font-size: 19px; font-weight: 700; color: #ffffff; margin-right: 10px;}
.bv-header .bv-store {margin-left: auto; font-size: 13px; color: #9fb3c8;}
.bv-header .bv-who {margin-left: auto; font-size: 13px; color: #e8eef5;}
.bv-header .bv-store + .bv-who {margin-left: 14px;} .bv-header .bv-who a {font-size: 13px;}
"""

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")


def escape_markdown(text: str) -> str:
    """Text shown literally in a Markdown pane (stream wildcards contain `*` and `?`)."""
    return _MD_SPECIAL.sub(r"\\\1", html.escape(str(text), quote=False))


def alert(text: str, kind: str = "danger") -> pn.pane.Alert:
    """A message box in the page; the text is shown as is, never as markup."""
    return pn.pane.Alert(escape_markdown(text), alert_type=kind, sizing_mode="stretch_width",
                         margin=(4, 10))


def alerts(texts: list[str], kind: str = "danger") -> list[pn.pane.Alert]:
    """One message box per text."""
    return [alert(t, kind) for t in texts]


def header(active: str, store: str | None = None, extra_query: dict[str, str] | None = None
           ) -> pn.pane.HTML:
    """The navigation bar; links are relative so the app works behind a path prefix."""
    query = dict(extra_query or {})
    if store:
        query["store"] = store
    qs = ("?" + urlencode(query)) if query else ""
    links = []
    for slug, title in PAGES:
        cls = ' class="active"' if slug == active else ""
        href = f"./{slug}{qs}"
        links.append(f'<a href="{html.escape(href)}"{cls}>{title}</a>')
    right = f'<span class="bv-store">store: {html.escape(store)}</span>' if store else ""
    right += f'<span class="bv-who">{who}</span>' if (who := access_hooks.header_html()) else ""
    body = ('<div class="bv-header"><span class="bv-title">Belvedere</span>'
            + "".join(links) + right + "</div>")
    return pn.pane.HTML(body, stylesheets=[CSS], sizing_mode="stretch_width", margin=(6, 10))


def page(active: str, *items, store: str | None = None, embed: bool = False,
         title: str = "Belvedere") -> pn.Column:
    """A whole page: header (unless embedded in an iframe) and the items below it."""
    if pn.state.curdoc is not None:
        pn.state.curdoc.title = f"{title} · Belvedere"
    if embed:  # an iframe: the view alone, filling it
        if _has_alert(items) and access_hooks.embed_login_html():  # a login link, not a dead frame
            items = (pn.pane.HTML(access_hooks.embed_login_html()), *items)
        return pn.Column(*items, sizing_mode="stretch_both", margin=0)
    return pn.Column(header(active, store), *items, sizing_mode="stretch_width")


def _has_alert(items) -> bool:
    return any(isinstance(i, pn.pane.Alert) or (isinstance(i, pn.layout.ListPanel)
                                                and _has_alert(i.objects)) for i in items)


def widget_row(*widgets: pn.viewable.Viewable) -> pn.FlexBox:
    """A row of controls that wraps onto more lines where the window is too narrow for it
    (a plain row makes the whole page scroll sideways)."""
    return pn.FlexBox(*widgets, flex_wrap="wrap", align_items="flex-start",
                      sizing_mode="stretch_width")


def status_pane(theme: str) -> pn.pane.HTML:
    """The small line under a plot that says what it shows (HTML, set with `set_status`: it
    changes on every repaint, and a Markdown pane would parse it each time)."""
    return pn.pane.HTML("", sizing_mode="stretch_width", margin=(0, 12),
                        styles={"color": "#aab6c4" if theme == "dark" else "#445",
                                "font-size": "13px"})


def set_status(pane: pn.pane.HTML, text: str) -> None:
    """Show `text` (as is, never as markup) in a status pane."""
    pane.object = f"<span>{html.escape(text, quote=False)}</span>"


def pager(active: str, args: dict[str, str], page: int, pages: int) -> pn.pane.HTML:
    """Links to the other pages of a long stream list (the URL as it is, `page=` changed)."""
    def link(k: int, text: str) -> str:
        query = {key: value for key, value in args.items() if key != "page"} | {"page": str(k)}
        href = f"./{active}?" + urlencode(query, safe="*,?:/")
        return f'<a href="{html.escape(href)}" class="bv-page">{text}</a>'

    parts = []
    if page > 1:
        parts.append(link(page - 1, "← previous"))
    near = sorted({1, pages, *range(max(page - 3, 1), min(page + 3, pages) + 1)})
    last = 0
    for k in near:
        if k > last + 1:
            parts.append("…")
        parts.append(f"<b>{k}</b>" if k == page else link(k, str(k)))
        last = k
    if page < pages:
        parts.append(link(page + 1, "next →"))
    return pn.pane.HTML(f'<div class="bv-pager">Streams, page: {" ".join(parts)}</div>',
                        sizing_mode="stretch_width", margin=(2, 12),
                        styles={"font-size": "14px"})


def paging(active: str, state, args: dict[str, str]) -> list:
    """The note and links of a paged stream list (nothing when every stream is shown)."""
    note = state.paging_note()
    if not note:
        return []
    return [alert(note, "info"), pager(active, args, state.page, state.pages)]
