"""The `belvedere` command: demo, ingest, info, export, serve, snapshot (one module each in
`belvedere.commands`), assembled here."""

from __future__ import annotations

import sys

import typer

from belvedere.commands import analyse, demo, export, info, serve, snapshot, users
from belvedere.commands.ingest import dataset, mission, seismic, usage

app = typer.Typer(help="Belvedere: seismic, mission and usage time series in Zarr stores, "
                       "shown as datashaded views.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
ingest_app = typer.Typer(help="Bring data into a store.", no_args_is_help=True)
app.add_typer(ingest_app, name="ingest")
# The order of registration is the order of `--help`.
usage.register(ingest_app)
snapshot.register(app)
dataset.register(ingest_app)
mission.register(ingest_app)
seismic.register(ingest_app)
info.register(app)
export.register(app)
demo.register(app)
serve.register(app)
analyse.register(app)
users.register(app)


def main() -> None:
    """Entry point for `python -m belvedere`."""
    app()


if __name__ == "__main__":
    sys.exit(main())
