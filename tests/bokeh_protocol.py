"""A page's websocket as BokehJS speaks it, for tests and benchmarks that need many sessions
and no browser: GET the page, open its websocket with the page's session token, pull the
document, then move the waveforms plot's x range and receive the frames it is sent.

Messages are three text frames (header, metadata, content) and a (text, binary) pair per
buffer, as in `bokeh.protocol`. Bokeh's own Python client cannot be used here: it rebuilds
every model of the document in Python, and the pages hold models defined in the browser only.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import random
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple, TypeVar

from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.websocket import websocket_connect

WIDTH = 1282  # the plot's inner width in a 1400 px window, as Chromium reports it
WHEEL = (0.4, -1 / 3)  # Bokeh's wheel zoom for -240 and +200 pixels of wheel (speed 1/600)
_ids = itertools.count(1)
T = TypeVar("T")


class Frame(NamedTuple):
    """A frame as the page receives it: when, the x range its image covers (ms), and the
    image's size in pixels."""

    at: float  # time.perf_counter()
    x0: float
    x1: float
    width: int
    height: int


def png_size(data_url: str) -> tuple[int, int]:
    """(width, height) of a PNG data URL, from its header."""
    head = base64.b64decode(data_url.split(",", 1)[1][:32])
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def _walk(obj, found: dict) -> None:
    """Collect every full model (a dict with id, name and attributes) of a document's JSON."""
    if isinstance(obj, dict):
        if "id" in obj and "attributes" in obj:
            found[obj["id"]] = obj
        for v in obj.values():
            _walk(v, found)
    elif isinstance(obj, list):
        for v in obj:
            _walk(v, found)


class Session:
    """One page's websocket, as BokehJS uses it."""

    def __init__(self, ws):
        self.ws = ws
        self.fig_id = self.range_id = self.src_id = ""
        self.models: dict[str, dict] = {}  # id -> the model's JSON as pulled
        self.range = (0.0, 0.0)
        self.received = 0
        self.frames: asyncio.Queue[Frame] = asyncio.Queue()  # as they arrive
        self._reader: asyncio.Task | None = None

    async def read(self) -> tuple[dict, dict]:
        """The next message's (header, content)."""
        parts = []
        for _ in range(3):
            part = await self.ws.read_message()
            if part is None:
                raise ConnectionError("the server closed the websocket")
            self.received += len(part)
            parts.append(part)
        header = json.loads(parts[0])
        for _ in range(2 * header.get("num_buffers", 0)):
            part = await self.ws.read_message()
            self.received += len(part or b"")
        return header, json.loads(parts[2])

    async def send(self, msgtype: str, content: dict) -> None:
        """Send one message."""
        header = {"msgid": str(next(_ids)), "msgtype": msgtype}
        for part in (header, {}, content):
            await self.ws.write_message(json.dumps(part))

    async def pull(self) -> None:
        """Pull the document and find the waveforms plot, its x range and image source."""
        header, _ = await self.read()
        if header["msgtype"] != "ACK":
            raise RuntimeError(f"expected ACK, got {header['msgtype']}")
        await self.send("PULL-DOC-REQ", {})
        while True:
            header, content = await self.read()
            if header["msgtype"] == "PULL-DOC-REPLY":
                break
        models = self.models
        _walk(content["doc"], models)
        for mid, m in models.items():
            attrs = m["attributes"]
            if attrs.get("name") == "waveforms":
                self.fig_id, self.range_id = mid, attrs["x_range"]["id"]
            data = attrs.get("data")
            entries = data.get("entries", []) if isinstance(data, dict) else []
            if m.get("name") == "ColumnDataSource" and "dw" in [k for k, _ in entries]:
                self.src_id = mid  # the frame's image: url, x, y, dw, dh
        xr = models[self.range_id]["attributes"]
        self.range = (float(xr["start"]), float(xr["end"]))
        self._reader = asyncio.ensure_future(self._read_forever())

    async def _read_forever(self) -> None:
        while True:
            header, content = await self.read()
            if header["msgtype"] != "PATCH-DOC":
                continue
            at = time.perf_counter()
            for ev in content.get("events", []):
                if (ev.get("kind") == "ModelChanged" and ev.get("attr") in ("start", "end")
                        and ev.get("model", {}).get("id") == self.range_id):
                    # The server moved the plot's range (the browser would follow it).
                    start, end = self.range
                    new = float(ev["new"])
                    self.range = (new, end) if ev["attr"] == "start" else (start, new)
                if (ev.get("kind") in ("ModelChanged", "ColumnDataChanged")
                        and ev.get("attr") == "data"
                        and ev.get("model", {}).get("id") == self.src_id):
                    data = ev.get("data") or ev.get("new") or {}
                    cols = dict(data.get("entries", []))
                    if cols.get("x"):
                        x0 = float(cols["x"][0])
                        self.frames.put_nowait(Frame(at, x0, x0 + float(cols["dw"][0]),
                                                     *png_size(cols["url"][0])))

    async def change(self, model: str | None = None, **attrs) -> None:
        """Set attributes of a model (by id) as the browser would; by default of the plot
        (inner_width, inner_height) or its x range (start, end)."""
        def target(k: str) -> str:
            if model is not None:
                return model
            return self.fig_id if k.startswith("inner_") else self.range_id

        events = [{"kind": "ModelChanged", "model": {"id": target(k)}, "attr": k, "new": v}
                  for k, v in attrs.items()]
        await self.send("PATCH-DOC", {"events": events})

    async def frame(self, timeout: float = 30) -> Frame:
        """The next frame received (TimeoutError after `timeout` seconds)."""
        return await asyncio.wait_for(self.frames.get(), timeout)

    def drop_frames(self) -> None:
        """Forget the frames received and not yet taken."""
        while not self.frames.empty():
            self.frames.get_nowait()

    async def zoom(self, rng: random.Random, i: int) -> float:
        """One wheel notch at a random place (in, then out, in turn): ms to its frame."""
        start, end = self.range
        at = start + (end - start) * rng.uniform(0.2, 0.8)
        f = WHEEL[i % 2]
        self.range = (at - (at - start) * (1 - f), at + (end - at) * (1 - f))
        self.drop_frames()
        t = time.perf_counter()
        await self.change(start=self.range[0], end=self.range[1])
        return ((await self.frame()).at - t) * 1e3

    def close(self) -> None:
        """Close the websocket."""
        if self._reader is not None:
            self._reader.cancel()
        self.ws.close()


async def open_session(base: str, path: str) -> Session:
    """GET the page, open its websocket with the page's token, pull, report the width."""
    client = AsyncHTTPClient()
    page = await client.fetch(base + path, request_timeout=300)
    token = re.search(r'"token":"([^"]+)"', page.body.decode()).group(1)
    ws_url = base.replace("http", "ws", 1) + path.split("?")[0] + "/ws"
    ws = await websocket_connect(HTTPRequest(ws_url, headers={"Origin": base}),
                                 subprotocols=["bokeh", token],
                                 max_message_size=256 * 2**20)
    # A message is three small frames: without TCP_NODELAY the second waits for the server's
    # delayed ACK (40 ms on Linux). Browsers set it on every socket.
    ws.protocol.set_nodelay(True)
    s = Session(ws)
    await s.pull()
    await s.change(inner_width=WIDTH)  # as a browser does once it has laid the page out
    await s.frame()
    return s




@contextlib.asynccontextmanager
async def opened(base: str, path: str) -> AsyncIterator[Session]:
    """`open_session`, its websocket closed on leaving."""
    s = await open_session(base, path)
    try:
        yield s
    finally:
        s.close()


def run_apart(main: Callable[[], Awaitable[T]]) -> T:
    """`asyncio.run(main())` in a thread of its own: a test's thread may already run an event
    loop (Playwright's sync API leaves one there), and asyncio.run refuses to nest."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(main())).result()
