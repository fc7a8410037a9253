"""FDSN dataselect: miniSEED of the stores' samples, streamed piece by piece."""

from __future__ import annotations

from dashboard.webservices import params
from dashboard.webservices.common import FdsnError, FdsnHandler
from pipelines.seismic.fdsn import dataselect as ds


def _filter_runs(cuts: list[ds.Cut], min_length_s: float, longest_only: bool) -> list[ds.Cut]:
    out = []
    for cut in cuts:
        runs = [r for r in cut.runs
                if (r[1] - r[0]) / cut.stream.sampling_rate >= min_length_s]
        if longest_only and runs:
            runs = [max(runs, key=lambda r: r[1] - r[0])]
        if runs:
            out.append(ds.Cut(cut.stream, tuple(runs)))
    return out


class QueryHandler(FdsnHandler):
    """GET/POST query."""

    service = "dataselect"

    async def get(self) -> None:
        """Answer a GET query."""
        await self.answer(self._query)

    async def post(self) -> None:
        """Answer a bulk (POST) query."""
        await self.answer(self._query)

    async def _query(self, req: params.Request) -> None:
        fmt = req.get("format", "miniseed").lower()
        if fmt not in ("miniseed", "mseed"):
            raise FdsnError(400, f"format={fmt!r}: this service writes miniseed only")
        quality = (req.get("quality") or "B").upper()
        if quality not in ("D", "R", "Q", "M", "B", "*"):
            raise FdsnError(400, f"quality={quality!r}: write D, R, Q, M or B")
        min_len = params.parse_float("minimumlength", req.get("minimumlength") or "0", 0.0)
        longest = params.parse_bool("longestonly", req.get("longestonly") or "false")
        selections = params.selections(req)
        if req.get("nodata") not in (None, "204", "404"):
            raise FdsnError(400, f"nodata={req.get('nodata')!r}: write 204 or 404")
        cuts = await self.run(ds.plan, self.stores(), selections,
                              self.limits["max_samples"])
        cuts = _filter_runs(cuts, min_len, longest)
        if not cuts:
            self.nodata(req)
            return
        self.set_header("Content-Type", "application/vnd.fdsn.mseed")
        self.set_header("Content-Disposition", 'attachment; filename="belvedere.mseed"')
        pieces = ds.miniseed_pieces(cuts)
        while True:
            chunk = await self.run(next, pieces, None)
            if chunk is None:
                break
            self.write(chunk)
            await self.flush()  # the client gets each piece as it is made: memory stays flat
        self.finish()
