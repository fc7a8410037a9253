"""One configuration: a TOML file, `BELVEDERE_*` environment variables, command-line options.

Precedence, highest first: command line > environment > file > defaults. The file is
`--config FILE`, else `$BELVEDERE_CONFIG`, else `./belvedere.toml` when it exists. Every key
of every section has an environment variable named `BELVEDERE_<SECTION>_<KEY>` in capitals
(`[serve] port` is `BELVEDERE_SERVE_PORT`, `[dask.slurm] queue` is
`BELVEDERE_DASK_SLURM_QUEUE`). Lists in the environment are comma-separated (or a JSON
array); tables are JSON objects. Unknown keys and bad values are refused with a message
naming the key, where it came from, and what is allowed.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from pipelines.ingest.cluster_settings import DaskSettings

DEFAULT_FILE = "belvedere.toml"
ENV_FILE = "BELVEDERE_CONFIG"
ENV_PREFIX = "BELVEDERE_"
# Older names that keep working (the environment variable wins over the file, as for any other).
ENV_ALIASES = {"BELVEDERE_TILE_URL": ("serve", "tile_url")}


class ConfigError(ValueError):
    """A configuration that cannot be used; the message says which key and why."""


class Section(BaseModel):
    """A table of the configuration: unknown keys are refused, assignments validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ServeSettings(Section):
    """`belvedere serve`: which stores, where to listen, who may connect."""

    stores: list[str] = Field(default_factory=list,
                              description="store folders or fsspec URLs (http://, s3://)")
    port: int = Field(5006, ge=1, le=65535)
    address: str = "127.0.0.1"
    allow_websocket_origin: list[str] = Field(default_factory=list,
                                              description="host[:port] the page is reached at")
    tile_url: str | None = None
    prefix: str = Field("", description="URL path prefix behind a reverse proxy, e.g. /belvedere")
    use_xheaders: bool = Field(False, description="trust the proxy's X-Forwarded-* headers")
    num_procs: int = Field(1, ge=0, description="server processes sharing the port (0: per core)")
    threads: int = Field(2, ge=1, description="worker threads per process for frames")
    queue: int = Field(60, ge=0, description="page builds, and frames, that may wait for a thread")
    snapshot_threads: int = Field(1, ge=1, description="snapshots rendered at once per process")
    snapshot_queue: int = Field(2, ge=0, description="snapshots that may wait (503 past it)")
    chunk_cache_mb: int = Field(256, ge=0, description="decoded chunks kept per process (MB)")

    @field_validator("stores", "allow_websocket_origin")
    @classmethod
    def _no_empty(cls, v: list[str]) -> list[str]:
        if any(not s.strip() for s in v):
            raise ValueError("entries must not be empty")
        return [s.strip() for s in v]

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        v = v.strip().rstrip("/")
        if v and not re.fullmatch(r"(/[A-Za-z0-9._~-]+)+", v):
            raise ValueError("must be a URL path such as /belvedere (letters, digits, . _ ~ -)")
        return v

    @field_validator("tile_url")
    @classmethod
    def _tiles(cls, v: str | None) -> str | None:
        if v is not None and v.strip() == "":
            return None
        if v is not None and not re.match(r"^https?://", v):
            raise ValueError("must be an http(s) URL with {Z}/{X}/{Y}, e.g. "
                             "https://tile.openstreetmap.org/{Z}/{X}/{Y}.png")
        return v


class IngestSettings(Section):
    """`belvedere ingest`: the default store, local parallelism, snapping, the catalog."""

    store: str | None = None
    workers: int = Field(1, ge=1, le=1024)
    snap_tolerance: float = Field(0.25, ge=0.0, le=0.5)
    catalog: str | None = Field(None, description="datasets catalog file (TOML)")


class ViewsSettings(Section):
    """Filtered views: the standard bands kept as filtered pyramids (`belvedere analyse
    filter`, the demo), which the waveform and helicorder pages then show at any span."""

    bands: list[str] = Field(default_factory=lambda: ["hp1", "bp0.5-2", "bp1-8", "bp2-10",
                                                      "lp0.1"],
                             description="hpF, lpF or bpLOW-HIGH in Hz, e.g. bp0.5-2")
    build_at_ingest: bool = Field(False, description="`ingest seismic` builds the bands of "
                                  "the streams it changed (only the days that changed); "
                                  "--bands/--no-bands decide for one run")

    @field_validator("bands")
    @classmethod
    def _bands(cls, v: list[str]) -> list[str]:
        from pipelines.analysis.filtered import check

        check({"bands": v})  # a ValueError naming the band and the form to use
        return v


class AnalysisSettings(Section):
    """`belvedere analyse`: each analysis' parameters as `<ANALYSIS>_<PARAMETER>` (unset: the
    analysis' default; `--param` on the command line wins) and the streams it runs on."""

    psd_streams: list[str] = Field(default_factory=list,
                                   description="wildcards psd runs on when none are given")
    rsam_streams: list[str] = Field(default_factory=list)
    rsam_bands: list[str] | None = Field(None, description="bands in Hz, e.g. 0.5-2, 2-8")
    rsam_intervals_s: list[int] | None = Field(None, description="e.g. 60, 600")
    rsam_metrics: list[str] | None = Field(None, description="mean_abs and/or rms")
    rsam_corners: int | None = Field(None, ge=1, le=10)
    detect_streams: list[str] = Field(default_factory=list)
    detect_sta_s: float | None = Field(None, gt=0)
    detect_lta_s: float | None = Field(None, gt=0)
    detect_thr_on: float | None = Field(None, gt=0)
    detect_thr_off: float | None = Field(None, gt=0)
    detect_max_len_s: float | None = Field(None, gt=0)
    detect_freqmin: float | None = Field(None, ge=0)
    detect_freqmax: float | None = Field(None, ge=0)
    detect_coincidence: int | None = Field(None, ge=1)

    @field_validator("rsam_bands")
    @classmethod
    def _bands(cls, v: list[str] | None) -> list[str] | None:
        from pipelines.analysis.bands import parse_band

        for text in v or []:
            parse_band(text)  # ValueError names the band and the form
        return v

    @field_validator("rsam_metrics")
    @classmethod
    def _metrics(cls, v: list[str] | None) -> list[str] | None:
        bad = [m for m in v or [] if m not in ("mean_abs", "rms")]
        if bad:
            raise ValueError(f"unknown metric {bad[0]!r}; choose mean_abs or rms")
        return v

    def parameters(self, analysis: str) -> dict[str, Any]:
        """The parameters this section sets for an analysis (`rsam_bands` -> `bands`)."""
        from pipelines.analysis.bands import parse_band

        out: dict[str, Any] = {}
        for key, value in self.model_dump().items():
            name = key.removeprefix(f"{analysis}_")
            if name == key or name == "streams" or value is None:
                continue
            out[name] = [list(parse_band(b)) for b in value] if name == "bands" else value
        return out

    def streams(self, analysis: str) -> list[str]:
        """The wildcards an analysis runs on when the command line names none."""
        return list(getattr(self, f"{analysis}_streams", []) or [])


class LatencySettings(Section):
    """Latency badges (time since a stream's last sample) on /waveforms?refresh= and /."""

    amber_s: float = Field(60.0, gt=0, description="seconds past which a badge is amber")
    red_s: float = Field(600.0, gt=0, description="seconds past which it is red")

    @model_validator(mode="after")
    def _ordered(self) -> LatencySettings:
        if self.red_s < self.amber_s:
            raise ValueError(f"red_s ({self.red_s:g}) must not be below amber_s "
                             f"({self.amber_s:g})")
        return self


class DatasetAccess(Section):
    """One `[[access.datasets]]` entry: a store, or streams of it, public or for named groups."""

    store: str = Field("*", description="store label (its folder name, `demo.zarr`), or a "
                                        "wildcard; `*`: every store")
    streams: list[str] = Field(default_factory=list, description=(
        "stream wildcards within the store: a network `XX.*`, a station `BV.SECRET.*`, "
        "streams `BV.ALPS.00.HH?`; none: the whole store (not even its name is shown)"))
    groups: list[str] = Field(default_factory=list, description=(
        "groups that may see it; none: public"))
    embargo_until: datetime | None = Field(None, description=(
        "public by itself from this UTC date (or time) on, checked on every request: "
        "2027-01-01 or 2027-01-01T12:00:00Z"))

    @field_validator("store")
    @classmethod
    def _store(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must name a store label (or `*` for every store)")
        return v.strip()

    @field_validator("embargo_until", mode="before")
    @classmethod
    def _embargo(cls, v: Any) -> Any:
        if isinstance(v, str):
            try:
                v = date.fromisoformat(v) if len(v.strip()) == 10 else datetime.fromisoformat(v)
            except ValueError:
                raise ValueError("write a date such as 2027-01-01 or a UTC time such as "
                                 "2027-01-01T12:00:00Z") from None
        if isinstance(v, date) and not isinstance(v, datetime):  # a date: its 00:00 UTC
            v = datetime(v.year, v.month, v.day, tzinfo=UTC)
        if isinstance(v, datetime) and v.tzinfo is None:
            v = v.replace(tzinfo=UTC)
        return v

    @field_validator("streams", "groups")
    @classmethod
    def _entries(cls, v: list[str]) -> list[str]:
        if any(not s.strip() for s in v):
            raise ValueError("entries must not be empty")
        return [s.strip() for s in v]


class OidcSettings(Section):
    """`[access.oidc]`: the campus single sign-on (an OpenID Connect provider)."""

    issuer: str = Field("", description="issuer URL; its /.well-known/openid-configuration is "
                                        "read for the endpoints (empty: no SSO login)")
    client_id: str = ""
    client_secret: str = ""
    groups_claim: str = Field("groups", description="ID-token (or userinfo) claim holding "
                                                    "the user's groups")
    user_claim: str = Field("preferred_username", description="claim naming the user "
                                                               "(`sub` when absent)")
    scopes: list[str] = Field(default_factory=lambda: ["openid", "profile", "email"])
    label: str = Field("campus login", description="the login button's text")

    @field_validator("issuer")
    @classmethod
    def _issuer(cls, v: str) -> str:
        v = v.strip().rstrip("/")
        if v and not re.match(r"^https?://", v):
            raise ValueError("must be an http(s) URL such as https://sso.example.org/realms/x")
        return v


class AccessSettings(Section):
    """`[access]`: who may see what. No datasets and no usage groups: everything is public
    (and no login is offered unless a users file or an OIDC issuer is given)."""

    datasets: list[DatasetAccess] = Field(default_factory=list, description=(
        "[[access.datasets]] entries; a stream is shown to a user when every entry that "
        "names it (and whose embargo is not over) lists one of the user's groups"))
    usage_groups: list[str] = Field(default_factory=list, description=(
        "groups that may see the usage stores (/resources); none: public"))
    admin_groups: list[str] = Field(default_factory=lambda: ["admin"], description=(
        "groups that see everything"))
    users_file: str | None = Field(None, description=(
        "local accounts (hashed passwords), written by `belvedere users add`"))
    cookie_secret: str = Field("", description=(
        "signs the session cookie (32+ random characters; every process of the server "
        "must share it); BELVEDERE_ACCESS_COOKIE_SECRET keeps it out of the file"))
    session_hours: float = Field(12.0, gt=0, le=24 * 90, description=(
        "a login lasts this long"))
    cookie_samesite: str = Field("Lax", description=(
        "Lax, Strict, or None (None: logins also count inside wiki iframes on another "
        "site; needs HTTPS)"))
    digest_realm: str = Field("FDSN", description="realm of the queryauth HTTP digest")
    audit_log: str | None = Field(None, description=(
        "JSON-lines file of every access to restricted data (who, what, when)"))
    oidc: OidcSettings = Field(default_factory=OidcSettings)

    @field_validator("cookie_samesite")
    @classmethod
    def _samesite(cls, v: str) -> str:
        if v not in ("Lax", "Strict", "None"):
            raise ValueError("write Lax, Strict or None")
        return v

    @field_validator("cookie_secret")
    @classmethod
    def _secret(cls, v: str) -> str:
        if v and len(v) < 32:
            raise ValueError("must be at least 32 characters (e.g. `python -c "
                             "'import secrets; print(secrets.token_urlsafe(32))'`)")
        return v

    @model_validator(mode="after")
    def _login_needs_a_secret(self) -> AccessSettings:
        if (self.users_file or self.oidc.issuer) and not self.cookie_secret:
            raise ValueError("a login (users_file or oidc.issuer) needs [access] cookie_secret "
                             "(32+ random characters) to sign its session cookie")
        if self.oidc.issuer and not self.oidc.client_id:
            raise ValueError("[access.oidc] issuer is set: give its client_id (and "
                             "client_secret) as registered with the provider")
        return self


class Settings(Section):
    """The whole configuration."""

    serve: ServeSettings = Field(default_factory=ServeSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    dask: DaskSettings = Field(default_factory=DaskSettings)
    analysis: AnalysisSettings = Field(default_factory=AnalysisSettings)
    latency: LatencySettings = Field(default_factory=LatencySettings)
    views: ViewsSettings = Field(default_factory=ViewsSettings)
    access: AccessSettings = Field(default_factory=AccessSettings)


# -- environment variables ------------------------------------------------------------------
def _fields(model: type[BaseModel], prefix: tuple[str, ...] = ()
            ) -> dict[tuple[str, ...], Any]:
    """Every leaf key of the model as a path, with its annotation."""
    out: dict[tuple[str, ...], Any] = {}
    for name, info in model.model_fields.items():
        ann = info.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            out.update(_fields(ann, (*prefix, name)))
        else:
            out[(*prefix, name)] = ann
    return out


def env_names() -> dict[str, tuple[str, ...]]:
    """Every environment variable the configuration reads -> its key path."""
    names = {ENV_PREFIX + "_".join(p).upper(): p for p in _fields(Settings)}
    names.update(ENV_ALIASES)
    return names


def _env_value(path: tuple[str, ...], raw: str) -> Any:
    ann = str(_fields(Settings)[path])
    text = raw.strip()
    if ann.startswith("list"):
        if text.startswith("["):
            return json.loads(text)
        return [s.strip() for s in text.split(",") if s.strip()]
    if ann.startswith("dict"):
        return json.loads(text) if text else {}
    return raw


def _env_layer(env: Mapping[str, str]) -> tuple[dict, dict[tuple[str, ...], str]]:
    names = env_names()
    sections = tuple(ENV_PREFIX + s.upper() + "_" for s in Settings.model_fields)
    data: dict = {}
    origin: dict[tuple[str, ...], str] = {}
    for var in sorted(env, key=lambda v: v in ENV_ALIASES):  # the full name beats an alias
        if var in names:
            path = names[var]
            if path in origin:
                continue
            try:
                value = _env_value(path, env[var])
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{var}: not valid JSON ({exc.msg}); give a JSON "
                                  "array or object") from None
            _set(data, path, value)
            origin[path] = f"environment variable {var}"
        elif var.startswith(sections):
            near = sorted(n for n in names if n.startswith(var.rsplit("_", 1)[0]))
            raise ConfigError(f"unknown environment variable {var}; known ones in that "
                              f"section: {', '.join(near or sorted(names))}")
    return data, origin


def _set(data: dict, path: tuple[str, ...], value: Any) -> None:
    for p in path[:-1]:
        data = data.setdefault(p, {})
    data[path[-1]] = value


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _leaves(data: dict, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = []
    for k, v in data.items():
        if isinstance(v, dict) and (*prefix, k) not in _fields(Settings):
            out += _leaves(v, (*prefix, k))
        else:
            out.append((*prefix, k))
    return out


# -- loading ------------------------------------------------------------------------------
def config_path(explicit: str | os.PathLike | None = None,
                env: Mapping[str, str] | None = None) -> Path | None:
    """The configuration file to read: the option, $BELVEDERE_CONFIG, ./belvedere.toml, none."""
    env = os.environ if env is None else env
    if explicit:
        return Path(explicit)
    if env.get(ENV_FILE):
        return Path(env[ENV_FILE])
    default = Path(DEFAULT_FILE)
    return default if default.is_file() else None


def read_file(path: Path) -> dict:
    """The TOML file's contents as a dict; a missing or malformed file is a ConfigError."""
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(f"configuration file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from None


def load(path: str | os.PathLike | None = None, env: Mapping[str, str] | None = None,
         overrides: dict | None = None) -> Settings:
    """Defaults < file < environment < `overrides` (the command line), validated."""
    env = os.environ if env is None else env
    file = config_path(path, env)
    file_data = read_file(file) if file else {}
    env_data, origin = _env_layer(env)
    for leaf in _leaves(file_data):
        origin.setdefault(leaf, f"{file}")
    data = _merge(file_data, env_data)
    for leaf in _leaves(overrides or {}):
        origin[leaf] = "the command line"
    data = _merge(data, overrides or {})
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(explain(exc, origin)) from None


def explain(exc: ValidationError, origin: dict[tuple[str, ...], str]) -> str:
    """The validation errors as one message: each key, where its value came from, and why."""
    lines = []
    for e in exc.errors():
        loc = tuple(str(x) for x in e["loc"])
        src = _origin_of(loc, origin)
        where = f" (from {src})" if src else ""
        key = _keyname(loc)
        if e["type"] == "extra_forbidden":
            section = _section_model(loc[:-1])
            allowed = ", ".join(section.model_fields) if section else "?"
            lines.append(f"unknown key {key}{where}; allowed here: {allowed}")
        else:
            got = e.get("input")
            shown = "" if isinstance(got, dict) else f"; got {got!r}"
            msg = e["msg"].removeprefix("Value error, ")
            lines.append(f"{key}{where}: {msg}{shown}")
    return "bad configuration:\n  " + "\n  ".join(lines)


def _origin_of(loc: tuple[str, ...], origin: dict[tuple[str, ...], str]) -> str | None:
    if loc in origin:
        return origin[loc]
    for k, v in origin.items():  # a whole table (an unknown section, a nested model)
        if k[:len(loc)] == loc:
            return v
    for n in range(len(loc) - 1, 0, -1):
        if loc[:n] in origin:
            return origin[loc[:n]]
    return None


def _keyname(loc: tuple[str, ...]) -> str:
    if len(loc) <= 1:
        return f"[{loc[0]}]" if loc else "(top level)"
    return f"[{'.'.join(loc[:-1])}] {loc[-1]}"


def _section_model(loc: tuple[str, ...]) -> type[BaseModel] | None:
    model: type[BaseModel] = Settings
    for part in loc:
        info = model.model_fields.get(part)
        if info is None or not (isinstance(info.annotation, type)
                                and issubclass(info.annotation, BaseModel)):
            return None
        model = info.annotation
    return model


# -- the command line ---------------------------------------------------------------------
# Command-line parameter -> configuration key, per command.
CLI_KEYS: dict[str, dict[str, tuple[str, ...]]] = {
    "serve": {"store": ("serve", "stores"), "port": ("serve", "port"),
              "address": ("serve", "address"),
              "allow_websocket_origin": ("serve", "allow_websocket_origin"),
              "tile_url": ("serve", "tile_url"), "prefix": ("serve", "prefix"),
              "use_xheaders": ("serve", "use_xheaders"),
              **{k: ("serve", k) for k in ("num_procs", "threads", "queue", "snapshot_threads",
                                           "snapshot_queue", "chunk_cache_mb")}},
    "ingest": {"store": ("ingest", "store"), "workers": ("ingest", "workers"),
               "snap_tolerance": ("ingest", "snap_tolerance"),
               "scheduler": ("dask", "scheduler"), "catalog": ("ingest", "catalog")},
}


def from_cli(ctx: Any, command: str, config_file: str | os.PathLike | None = None) -> Settings:
    """Settings with the options typed on this command line (click context) on top."""
    overrides: dict = {}
    for param, path in CLI_KEYS[command].items():
        if param not in ctx.params:
            continue
        # By name: typer may carry its own copy of click's ParameterSource enum.
        if getattr(ctx.get_parameter_source(param), "name", None) == "COMMANDLINE":
            value = ctx.params[param]
            if isinstance(value, tuple):
                value = list(value)
            if isinstance(value, os.PathLike):
                value = os.fspath(value)
            if value in ([], None):
                continue
            _set(overrides, path, value)
            if path == ("dask", "scheduler"):
                _set(overrides, ("dask", "cluster"), "scheduler")
    return load(config_file, overrides=overrides)
