"""The browser's address bar: it says the view (a URL that restores it), written sparingly.

Writing the address costs the browser about as much CPU as painting the plot: 22-29 ms a
history entry in headless Chromium with no driver attached (measured with a page that writes one
every 100 ms), and Panel's `Location` pushes one per change, then reports the new `href` back to
the server. A page that follows every zoom or drag would pay that per frame, and leave a
history of dead entries behind it (Back changes the address, not the view). Here the page is
sent the query with every render, and its script replaces the address (one history entry for the
page) once the view has rested, or at once when the user could be about to read or keep it:
the pointer leaves the page (towards the address bar), a modifier key or F6 (Ctrl+L, Ctrl+D),
the context menu, the tab hidden or left.
"""

from __future__ import annotations

from collections.abc import Callable

import param
from panel.custom import JSComponent

from dashboard.state import query_string

QUIET_MS = 2000  # the view at rest this long is written into the address bar


class AddressBar(JSComponent):
    """Replaces the page's address query with `query` once it has rested `quiet_ms`."""

    query = param.String(default="", doc="'?a=b' (or '') the address should hold")
    quiet_ms = param.Integer(default=QUIET_MS, bounds=(0, None))

    _stylesheets = [":host {display: none;}"]

    _esm = """
export function render({ model }) {
  let timer = null;
  const write = () => {
    clearTimeout(timer);
    timer = null;
    const want = model.query;
    if (want === window.location.search) return;
    const url = window.location.pathname + want + window.location.hash;
    window.history.replaceState(window.history.state, "", url);
  };
  const flush = () => { if (timer !== null) write(); };
  const key = (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey || e.key === "F6") flush();
  };
  const hidden = () => { if (document.visibilityState === "hidden") flush(); };
  // Where the user could be about to read or keep the address: [target, event, handler,
  // capture] (keys and the context menu before the page's own handlers can stop them).
  const now = [[document.documentElement, "mouseleave", flush, false],
               [window, "blur", flush, false], [window, "pagehide", flush, false],
               [window, "keydown", key, true], [window, "contextmenu", flush, true],
               [document, "visibilitychange", hidden, false]];
  for (const [target, name, fn, capture] of now) target.addEventListener(name, fn, capture);
  model.on("query", () => {
    clearTimeout(timer);
    timer = setTimeout(write, model.quiet_ms);
  });
  model.on("remove", () => {
    flush();
    for (const [target, name, fn, capture] of now)
      target.removeEventListener(name, fn, capture);
  });
  write();  // the address the page was opened with, said the way the view says it
  return document.createElement("span");
}
"""


class QuerySync:
    """Keeps the browser's address query saying `query()` (without reloading), so that it
    restores the view; `view` is the page's part that writes it (put it in the page)."""

    def __init__(self, query: Callable[[], dict[str, str]]):
        self.query = query
        self.view = AddressBar(width=0, height=0, margin=0)

    def write(self) -> None:
        """Put the view's query in the address bar (once the view rests)."""
        search = query_string(self.query())
        if search != self.view.query:
            self.view.query = search

