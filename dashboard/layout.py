"""Page chrome shared by every page: header and navigation, messages, URL query helpers."""

from __future__ import annotations

import html
import logging
import re
import traceback
from collections.abc import Callable
from urllib.parse import urlencode

import panel as pn

PAGES = (("", "Overview"), ("waveforms", "Waveforms"), ("availability", "Availability"),
         ("stations", "Stations"), ("resources", "Resources"), ("mission", "Mission"))

CSS = """
.bv-header {display: flex; align-items: baseline; gap: 22px; padding: 8px 16px;
  background: #1d2b3a; color: #e8eef5; font-family: system-ui, sans-serif; border-radius: 4px;}
.bv-header a {color: #bcd3ea; text-decoration: none; font-size: 15px;}
.bv-header a.active {color: #ffffff; font-weight: 600; border-bottom: 2px solid #7fb2e5;}
.bv-header .bv-title {font-size: 19px; font-weight: 700; color: #ffffff; margin-right: 10px;}
.bv-header .bv-store {margin-left: auto; font-size: 13px; color: #9fb3c8;}
"""

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")


def query_args() -> dict[str, str]:
    """The page's URL query as {name: last value} (empty outside a server session)."""
    args = getattr(pn.state, "session_args", None) or {}
    out = {}
    for key, values in args.items():
        if values:
            v = values[-1]
            out[key] = v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
    return out


def set_query(params: dict[str, str]) -> None:
    """Make the browser's URL query say `params` (without reloading) so it restores this view.

    The browser reports its own URL when it connects, after the page was built; a watcher puts
    ours back whenever the reported one differs, whichever arrives first.
    """
    loc = pn.state.location
    if loc is None:
        return
    # Wildcards, commas and colons stay readable: they are legal in a query string.
    search = "?" + urlencode({k: v for k, v in params.items() if v not in (None, "")},
                             safe="*,?:/")
    if getattr(loc, "_bv_search", None) is None:
        def reassert(event) -> None:
            wanted = getattr(loc, "_bv_search", None)
            if wanted is not None and event.new != wanted:
                loc.search = wanted

        loc.param.watch(reassert, "search")
    loc._bv_search = search
    if loc.search != search:
        loc.search = search


def escape_markdown(text: str) -> str:
    """Text shown literally in a Markdown pane (stream wildcards contain `*` and `?`)."""
    return _MD_SPECIAL.sub(r"\\\1", html.escape(str(text), quote=False))


def alert(text: str, kind: str = "danger") -> pn.pane.Alert:
    """A message box in the page; the text is shown as is, never as markup."""
    return pn.pane.Alert(escape_markdown(text), alert_type=kind, sizing_mode="stretch_width",
                         margin=(4, 10))


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
    body = ('<div class="bv-header"><span class="bv-title">Belvedere</span>'
            + "".join(links) + right + "</div>")
    return pn.pane.HTML(body, stylesheets=[CSS], sizing_mode="stretch_width", margin=(6, 10))


def page(active: str, *items, store: str | None = None, embed: bool = False,
         title: str = "Belvedere") -> pn.Column:
    """A whole page: header (unless embedded in an iframe) and the items below it."""
    if pn.state.curdoc is not None:
        pn.state.curdoc.title = f"{title} · Belvedere"
    if embed:  # an iframe: the view alone, filling it
        return pn.Column(*items, sizing_mode="stretch_both", margin=0)
    return pn.Column(header(active, store), *items, sizing_mode="stretch_width")


def is_embed(args: dict[str, str]) -> bool:
    """True when the URL asks for the chrome-less iframe view (`embed=1`)."""
    return args.get("embed", "").lower() in ("1", "true", "yes")


def guarded_page(name: str, build: Callable[[dict[str, str]], pn.viewable.Viewable],
                 title: str = "Belvedere") -> pn.viewable.Viewable:
    """The page `build(args)` makes from this URL; a failure becomes a message, never a
    traceback (that goes to the log of dashboard.<name>)."""
    args = query_args()
    try:
        return build(args)
    except Exception as exc:
        logging.getLogger(f"dashboard.{name}").error("%s page failed: %s", name,
                                                     traceback.format_exc())
        return page(name, alert(f"The {name} page could not be built: {exc}"),
                    embed=is_embed(args), title=title)
