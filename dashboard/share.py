"""The Share control of every view: links, the iframe snippet, snapshot (HTML) and PNG.

The links are built from the address the browser reports (`pn.state.location`), so they are
right behind a reverse proxy and a path prefix. The HTML snapshot is a plain link to the
server's `snapshot/<view>.html` route (see `dashboard.snapshot`); the PNG is drawn by the
browser from the plot on screen, exactly as shown.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable
from urllib.parse import urlencode

import panel as pn

from dashboard.state import query_string

IFRAME_HEIGHT = {"waveforms": 480, "availability": 420, "stations": 520, "": 560}

PNG_JS = """
const name = figure_name;
for (const doc of Bokeh.documents) {
  const model = doc.get_model_by_name(name);
  if (model == null) continue;
  const view = Bokeh.index.find_one(model);
  if (view == null) continue;
  view.export("png", true).to_blob().then((blob) => {
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = file_name;
    document.body.appendChild(a);
    a.click();
    a.remove();
  });
  break;
}
"""

CSS = """
.bv-share {font-family: system-ui, sans-serif; font-size: 13px;}
.bv-share a {margin-right: 14px;}
.bv-share code {font-size: 12px;}
"""


def page_base() -> str:
    """scheme://host[:port]/prefix/page of this session as the browser sees it ('' unknown)."""
    loc = pn.state.location
    if loc is not None and getattr(loc, "href", ""):
        return loc.href.split("?", 1)[0].split("#", 1)[0]
    headers = getattr(pn.state, "headers", None) or {}
    host = headers.get("Host")
    req = getattr(getattr(pn.state.curdoc, "session_context", None), "request", None)
    path = getattr(req, "path", "") if req is not None else ""
    return f"http://{host}{path}" if host else ""


def fdsn_html(base: str, locked: dict[str, str]) -> str:
    """Where programs read this view's data: the FDSN services under the server's root, the
    ObsPy line, and a dataselect URL when the streams are NET.STA.LOC.CHA codes or wildcards."""
    root = base.rsplit("/", 1)[0] if "://" in base else "."
    lines = [f"FDSN web services (dataselect, station, availability): "
             f"<code>{html.escape(root)}/fdsnws/</code>; in ObsPy: "
             f"<code>Client({html.escape(repr(root))})</code>"]
    codes = {tuple(c.strip().split(".")) for c in locked.get("streams", "").split(",")
             if c.strip()}
    columns = [sorted({c[i] or "--" for c in codes}) for i in range(4)] \
        if codes and all(len(c) == 4 for c in codes) else []
    # A GET names each code's list, i.e. their product: link only when that is exactly the view.
    if columns and math.prod(map(len, columns)) == len(codes) and locked.get("from") \
            and locked.get("to"):
        parts = {k: ",".join(col) for k, col in zip(("net", "sta", "loc", "cha"), columns,
                                                      strict=True)}
        query = urlencode({**parts, "start": locked["from"].rstrip("Z"),
                           "end": locked["to"].rstrip("Z")}, safe="*,?:")
        url = f"{root}/fdsnws/dataselect/1/query?{query}"
        lines.append(f"<a href='{html.escape(url)}'>These waveforms as miniSEED</a> "
                     "(FDSN dataselect)")
    return "".join(f"<div style='margin-top:6px;color:#667'>{x}</div>" for x in lines)


def iframe_snippet(url: str, page: str, height: int | None = None) -> str:
    """The <iframe> element a wiki page needs to show this view."""
    h = height or IFRAME_HEIGHT.get(page, 480)
    title = f"Belvedere: {page or 'overview'}"
    return (f'<iframe src="{html.escape(url)}" width="100%" height="{h}" '
            f'style="border:0" loading="lazy" title="{html.escape(title)}"></iframe>')


def embed_url(base: str, query: dict[str, str], theme: str = "light") -> str:
    """The URL of the same view in embed mode (no header, no widgets) in `theme`."""
    q = dict(query)
    q["embed"] = "1"
    if theme == "dark":
        q["theme"] = "dark"
    return base + query_string(q)


class ShareControl:
    """A Share button that opens a panel with links, iframe snippet, HTML and PNG downloads."""

    def __init__(self, page: str, query: Callable[[], dict[str, str]], figure: str,
                 locked: Callable[[], dict[str, str]] | None = None):
        self.page = page  # "waveforms", "availability", "stations" or "" (overview)
        self.query = query  # the view's URL parameters as they are now
        self.locked = locked or query  # the same with the time range as absolute times
        self.button = pn.widgets.Toggle(name="Share", button_type="primary", width=90,
                                        margin=(20, 10, 5, 10))
        self.w_link = pn.widgets.TextInput(name="Link (times as typed: now-6h stays relative)",
                                           sizing_mode="stretch_width")
        self.w_locked = pn.widgets.TextInput(name="Link locked to these absolute times",
                                             sizing_mode="stretch_width")
        self.w_theme = pn.widgets.RadioButtonGroup(name="iframe theme",
                                                   options=["light", "dark"], value="light",
                                                   margin=(5, 10))
        self.w_iframe = pn.widgets.TextAreaInput(name="Iframe for a wiki page (embed=1)",
                                                 height=70, sizing_mode="stretch_width")
        self.downloads = pn.pane.HTML("", stylesheets=[CSS], sizing_mode="stretch_width",
                                      margin=(6, 10))
        self.png = pn.widgets.Button(name="PNG of the plot", width=150, margin=(6, 10))
        self.png.js_on_click(args={"figure_name": figure,
                                   "file_name": f"belvedere-{page or 'overview'}.png"},
                             code=PNG_JS)
        self.panel = pn.Card(
            self.w_link, self.w_locked,
            pn.Row(pn.pane.Markdown("Iframe theme", margin=(10, 10, 0, 10)), self.w_theme),
            self.w_iframe, pn.Row(self.downloads, self.png),
            title="Share this view", collapsible=False, visible=False, name="share-panel",
            sizing_mode="stretch_width", margin=(0, 10))
        self.button.param.watch(self._toggle, "value")
        self.w_theme.param.watch(lambda e: self.update(), "value")
        if pn.state.location is not None:
            pn.state.location.param.watch(lambda e: self.update(), "href")

    def view(self) -> pn.viewable.Viewable:
        """The button and (hidden until clicked) the panel."""
        return pn.Column(self.button, self.panel, sizing_mode="stretch_width", margin=0)

    def _toggle(self, event) -> None:
        self.panel.visible = bool(event.new)
        self.update()

    def update(self) -> None:
        """Recompute links and snippet from the view's current state (cheap: strings only)."""
        if not self.panel.visible:
            return
        base = page_base()
        q, locked = self.query(), self.locked()
        self.w_link.value = base + query_string(q)
        self.w_locked.value = base + query_string(locked)
        self.w_iframe.value = iframe_snippet(embed_url(base, q, self.w_theme.value), self.page)
        view = self.page or "overview"
        snap = f"./snapshot/{view}.html" + query_string(locked)
        cli = (f"belvedere snapshot '{base + query_string(locked)}' -o {view}.png "
               "--width 1600 --height 900 --scale 2")
        self.downloads.object = (
            f"<div class='bv-share'><a href='{html.escape(snap)}' download>"
            "Snapshot (HTML, opens without a server)</a>"
            f"<div style='margin-top:6px;color:#667'>PNG at any size: "
            f"<code>{html.escape(cli)}</code></div>{fdsn_html(base, locked)}</div>")


def for_page(page: str, args: dict[str, str], figure: str,
             locked: dict[str, str] | None = None) -> pn.viewable.Viewable:
    """The Share control of a page whose state is its URL query (`locked`: the parameters
    that pin its time range to absolute times)."""
    query = {k: v for k, v in args.items() if k not in ("embed", "theme")}
    pinned = {**query, **(locked or {})}
    return ShareControl(page, lambda: dict(query), figure, lambda: dict(pinned)).view()
