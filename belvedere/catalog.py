"""The datasets catalog (`datasets/catalog.toml`): named datasets, each with its kind, its
sources and its store, for `belvedere ingest dataset NAME`."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationError

from belvedere.config import ConfigError, Section, Settings, explain, read_file

DEFAULT_CATALOG = Path("datasets") / "catalog.toml"


class _Dataset(Section):
    description: str = ""
    store: str = Field(description="store folder or fsspec URL the dataset is ingested into")


class SeismicDataset(_Dataset):
    """miniSEED / SDS sources with their StationXML and QuakeML."""

    kind: Literal["seismic"]
    sources: list[str] = Field(min_length=1)
    inventory: list[str] = Field(default_factory=list)
    events: list[str] = Field(default_factory=list)
    snap_tolerance: float | None = Field(None, ge=0.0, le=0.5)


class UsageDataset(_Dataset):
    """Slurm accounting and Prometheus metrics of one infrastructure."""

    kind: Literal["usage"]
    infrastructure: str = Field(min_length=1)
    sacct: list[str] = Field(default_factory=list)
    run_sacct: bool = False
    timezone: str | None = None
    cluster: str = ""
    prometheus: str | None = None
    queries: dict[str, str] = Field(default_factory=dict)
    start: str | None = Field(None, alias="from")
    end: str | None = Field(None, alias="to")
    step: str = "30s"


class Catalog(Section):
    """A site's datasets: each names its kind, its sources and its store."""

    root: str = Field(".", description="folder relative paths start from (relative to the "
                                       "catalog file)")
    datasets: dict[str, Annotated[SeismicDataset | UsageDataset, Field(discriminator="kind")]] = (
        Field(default_factory=dict))


def catalog_path(explicit: str | os.PathLike | None, settings: Settings | None = None
                 ) -> Path:
    """The catalog file: the option, else `[ingest] catalog`, else ./datasets/catalog.toml."""
    if explicit:
        return Path(explicit)
    if settings is not None and settings.ingest.catalog:
        return Path(settings.ingest.catalog)
    return DEFAULT_CATALOG


def load_catalog(path: str | os.PathLike) -> Catalog:
    """Read and validate a catalog file; relative paths in it become absolute."""
    path = Path(path)
    data = read_file(path)
    try:
        cat = Catalog.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(explain(exc, {}).replace("bad configuration",
                                                    f"bad catalog {path}")) from None
    root = (path.parent / expand_vars(cat.root)).resolve()
    for ds in cat.datasets.values():
        ds.store = resolve_location(ds.store, root)
        if isinstance(ds, SeismicDataset):
            ds.sources = [resolve_location(s, root) for s in ds.sources]
            ds.inventory = [resolve_location(s, root) for s in ds.inventory]
            ds.events = [resolve_location(s, root) for s in ds.events]
        else:
            ds.sacct = [s if s == "-" else resolve_location(s, root) for s in ds.sacct]
    return cat


def resolve_location(loc: str, root: Path) -> str:
    """`{obspy}` (ObsPy's package folder), $VARS and ~ expanded; relative paths under root;
    URLs (scheme://) as they are."""
    if "{obspy}" in loc:
        import obspy

        loc = loc.replace("{obspy}", str(Path(obspy.__file__).parent))
    loc = os.path.expanduser(expand_vars(loc))
    if "://" in loc or os.path.isabs(loc):
        return loc
    return str(root / loc)


_VAR = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}|\$(\w+)")


def expand_vars(text: str, env: Mapping[str, str] | None = None) -> str:
    """`$VAR`, `${VAR}` and `${VAR:-default}` replaced from the environment; an unset
    variable without a default is a ConfigError."""
    env = os.environ if env is None else env

    def sub(m: re.Match) -> str:
        name = m.group(1) or m.group(3)
        if env.get(name):
            return env[name]
        if m.group(2) is not None:
            return m.group(2)
        raise ConfigError(f"{text!r} uses ${name}, which is not set (give a default: "
                          f"${{{name}:-value}})")

    return _VAR.sub(sub, text)
