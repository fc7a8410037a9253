"""The access rules, the per-user view of the sources over a real store, the users file, the
session cookie, HTTP digest (against urllib's own digest client) and the audit log: in
process, no server."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from access_support import tampered
from conftest import make_sds, run_cli

from belvedere.config import ConfigError, load
from dashboard.access.audit import AuditLog
from dashboard.access.digest import DigestAuth, DigestProblem
from dashboard.access.policy import ANONYMOUS, Policy, Rule, User, embargo_ns
from dashboard.access.sessions import SessionCookie, SessionProblem
from dashboard.access.users import UsersError, UsersFile
from dashboard.sources import Sources
from pipelines.seismic.ingest import ingest_seismic
from pipelines.store import UnknownStreamError

NS = 1_000_000_000
ALICE = User("alice", frozenset({"seismo"}), "password")
BOB = User("bob", frozenset({"other"}), "password")
SECRET = "s" * 40


def policy_of(toml: str, tmp_path) -> Policy:
    path = tmp_path / "belvedere.toml"
    path.write_text(toml)
    return Policy.from_settings(load(path, env={}).access)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A real store: two networks written as Steim2 miniSEED by ObsPy, ingested."""
    root = tmp_path_factory.mktemp("acc")
    make_sds(root / "sds", channels=("XX.PUB.00.HHZ", "XX.PUB.00.HHN", "YY.SEC.00.HHZ",
                                     "YY.OPEN.00.HHZ"), rate=5.0, hours=2)
    url = str(root / "acc.zarr")
    ingest_seismic(url, [str(root / "sds")])  # in process: the CLI's own start costs seconds
    return url


def test_a_restricted_network_is_hidden_from_everyone_outside_its_groups(tmp_path):
    p = policy_of('[[access.datasets]]\nstore = "acc.zarr"\nstreams = ["YY.SEC.*"]\n'
                  'groups = ["seismo"]\n', tmp_path)
    now = time.time_ns()
    assert p.allows_stream("acc.zarr", "YY.SEC.00.HHZ", ALICE, now)
    assert not p.allows_stream("acc.zarr", "YY.SEC.00.HHZ", BOB, now)
    assert not p.allows_stream("acc.zarr", "YY.SEC.00.HHZ", ANONYMOUS, now)
    assert p.allows_stream("acc.zarr", "YY.OPEN.00.HHZ", ANONYMOUS, now)
    assert p.allows_stream("other.zarr", "YY.SEC.00.HHZ", ANONYMOUS, now)  # another store
    assert p.allows_stream("acc.zarr", "YY.SEC.00.HHZ", User("r", frozenset({"admin"})), now)


def test_the_most_restrictive_rule_wins():
    p = Policy((Rule("*", ("YY.*",), frozenset({"seismo", "other"})),
                Rule("*", ("YY.SEC.*",), frozenset({"seismo"}))))
    now = time.time_ns()
    assert p.allows_stream("a", "YY.OPEN.00.HHZ", BOB, now)
    assert not p.allows_stream("a", "YY.SEC.00.HHZ", BOB, now)
    assert p.allows_stream("a", "YY.SEC.00.HHZ", ALICE, now)


def test_an_embargo_that_ended_yesterday_is_public_today_with_no_restart(tmp_path):
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date()
    p = policy_of(f'[[access.datasets]]\nstreams = ["YY.SEC.*"]\ngroups = ["seismo"]\n'
                  f'embargo_until = {yesterday.isoformat()}\n', tmp_path)
    assert p.allows_stream("acc.zarr", "YY.SEC.00.HHZ", ANONYMOUS, time.time_ns())
    # one policy, the clock moving across its end: decided at each request, not at start
    ends = embargo_ns(date(2030, 1, 1))
    q = Policy((Rule("*", ("YY.SEC.*",), frozenset({"seismo"}), ends),))
    assert not q.allows_stream("s", "YY.SEC.00.HHZ", ANONYMOUS, ends - 1)
    assert q.allows_stream("s", "YY.SEC.00.HHZ", ANONYMOUS, ends)
    assert embargo_ns(datetime(2030, 1, 1, 12)) == ends + 12 * 3600 * NS  # naive: UTC


def test_the_user_view_hides_names_listings_lookups_and_sizes(store):
    clock = [time.time_ns()]
    sources = Sources([store])
    sources.policy = Policy((Rule("acc.zarr", ("YY.SEC.*",), frozenset({"seismo"}),
                                  clock[0] + 60 * NS),))
    anon = sources.for_user(ANONYMOUS, "/test")
    anon.clock = lambda: clock[0]
    st = anon.store()
    assert st.streams() == ["XX.PUB.00.HHN", "XX.PUB.00.HHZ", "YY.OPEN.00.HHZ"]
    assert [s.name for s in st] == st.streams()
    assert "YY.SEC.00.HHZ" not in st and st.select("YY.*") == ["YY.OPEN.00.HHZ"]
    with pytest.raises(UnknownStreamError) as hidden:
        st["YY.SEC.00.HHZ"]
    with pytest.raises(UnknownStreamError) as missing:
        st["YY.NONE.00.HHZ"]
    assert str(hidden.value).replace("SEC", "NONE") == str(missing.value)  # no oracle
    with pytest.raises(UnknownStreamError):
        st.select("YY.SEC.*")
    assert st.nbytes() < sources.store().nbytes()
    assert st.streams_named(lambda n: n.startswith("YY")) == ["YY.OPEN.00.HHZ"]
    alice = sources.for_user(ALICE)
    assert "YY.SEC.00.HHZ" in alice.store().streams()
    assert alice.store()["YY.SEC.00.HHZ"].n_samples > 0
    clock[0] += 61 * NS  # the embargo ends: the same view now shows it
    assert "YY.SEC.00.HHZ" in st.streams()


def test_the_catalogue_leaves_out_the_picks_on_hidden_streams(store):
    from pipelines.store import consolidate, open_store

    t = 1_262_309_400 * NS
    picks = [{"stream": "YY.SEC.00.HHZ", "phase": "P", "time_ns": t + 20 * NS},
             {"stream": "XX.PUB.00.HHZ", "phase": "P", "time_ns": t + 25 * NS},
             {"stream": "YY.SEC.00.HHZ", "phase": "S", "time_ns": t + 36 * NS}]
    writable = open_store(store, "a")
    writable.set_events([{"id": "smi:test/picked", "time_ns": t, "picks": picks},
                         {"id": "smi:test/unpicked", "time_ns": t + NS}])
    consolidate(writable)
    sources = Sources([store])
    sources.policy = Policy((Rule("acc.zarr", ("YY.SEC.*",), frozenset({"seismo"})),))
    seen = {e["id"]: e for e in sources.for_user(ANONYMOUS).store().events()}
    assert set(seen) == {"smi:test/picked", "smi:test/unpicked"}  # the events stay
    assert seen["smi:test/picked"]["picks"] == [picks[1]] and "picks" not in seen[
        "smi:test/unpicked"]
    assert sources.for_user(ALICE).store().events()[0]["picks"] == picks
    assert sources.store().events()[0]["picks"] == picks  # the store itself is unchanged


def test_network_detections_leave_out_the_triggers_on_hidden_streams(store):
    from pipelines.analysis.engine import DETECTION_COLUMNS, TRIGGER_COLUMNS
    from pipelines.store import open_store
    from pipelines.store.products import NETWORK, detections, require_table

    t, day = 1_262_309_400 * NS, 1_262_304_000 * NS
    writable = open_store(store, "a")
    for name in ("XX.PUB.00.HHZ", "YY.SEC.00.HHZ"):
        tab = require_table(writable, name, "detect", TRIGGER_COLUMNS, "detect", "test", {})
        tab.replace_days([day], {"time_ns": [t], "end_ns": [t + 5 * NS], "peak": [6.0],
                                 "day_ns": [day]}, {"d": {"from": name}})
    net = require_table(writable, NETWORK, "detect", DETECTION_COLUMNS, "detect", "test", {})
    net.replace_days([day], {"time_ns": [t], "end_ns": [t + 5 * NS], "count": [2],
                             "day_ns": [day], "streams": ["XX.PUB.00.HHZ,YY.SEC.00.HHZ"]},
                     {"d": {"from": "x"}})
    sources = Sources([store])
    sources.policy = Policy((Rule("acc.zarr", ("YY.SEC.*",), frozenset({"seismo"})),))
    anon = detections(sources.for_user(ANONYMOUS).store())
    assert [p["stream"] for p in anon[0]["picks"]] == ["XX.PUB.00.HHZ"]
    assert anon[0]["coincidence"] == 2 and "YY.SEC" not in repr(anon)
    alice = detections(sources.for_user(ALICE).store())
    assert [p["stream"] for p in alice[0]["picks"]] == ["XX.PUB.00.HHZ", "YY.SEC.00.HHZ"]


def test_a_whole_store_rule_hides_the_store_and_its_name(store):
    sources = Sources([store, store])  # labels acc.zarr and acc.zarr-2
    sources.policy = Policy((Rule("acc.zarr-2", (), frozenset({"seismo"})),))
    anon = sources.for_user(ANONYMOUS)
    assert anon.labels == ["acc.zarr"] and sources.for_user(ALICE).labels == sources.labels
    with pytest.raises(ValueError) as exc:
        anon.store("acc.zarr-2")
    assert "acc.zarr-2" not in str(exc.value).split("; ")[1]  # not among the stores listed
    assert anon.resolve_or_first("acc.zarr-2")[0] == "acc.zarr"
    with pytest.raises(ValueError):
        anon.store(str(1))  # nor by index


def test_without_an_access_section_nothing_changes(store):
    sources = Sources([store])
    assert sources.for_user(ANONYMOUS) is sources


def test_the_users_file_hashes_passwords_and_keeps_a_digest_ha1(tmp_path):
    users = UsersFile(tmp_path / "u.json")
    users.add("alice", "correct horse", ["seismo"])
    text = (tmp_path / "u.json").read_text()
    assert "correct horse" not in text and "$argon2id$" in text
    assert (tmp_path / "u.json").stat().st_mode & 0o077 == 0
    assert users.check_password("alice", "correct horse") == User("alice",
                                                                  frozenset({"seismo"}),
                                                                  "password")
    assert users.check_password("alice", "wrong") is None
    assert users.check_password("nobody", "correct horse") is None
    other = UsersFile(tmp_path / "u.json")  # a server reading the file another wrote
    users.add("bob", "another one", [])
    assert set(other.accounts()) == {"alice", "bob"}
    users.remove("bob")
    assert set(other.accounts()) == {"alice"}
    with pytest.raises(UsersError, match="no user 'bob'"):
        users.remove("bob")
    with pytest.raises(UsersError, match="at least 8"):
        users.add("carol", "short", [])
    with pytest.raises(UsersError, match="realm"):
        UsersFile(tmp_path / "u.json", realm="other").accounts()


def test_the_users_command_adds_lists_and_removes(tmp_path):
    path = str(tmp_path / "users.json")
    res = run_cli("users", "add", "dana", "-g", "seismo", "-g", "ops", "--password",
                  "dana-password", "--file", path)
    assert res.returncode == 0, res.stderr
    listed = run_cli("users", "list", "--file", path)
    assert "dana" in listed.stdout and "seismo, ops" in listed.stdout
    assert "argon2" not in listed.stdout
    assert run_cli("users", "remove", "dana", "--file", path).returncode == 0
    assert "dana" not in run_cli("users", "list", "--file", path).stdout
    bad = run_cli("users", "remove", "dana", "--file", path)
    assert bad.returncode == 1 and "no user 'dana'" in bad.stderr


def test_a_session_cookie_is_refused_when_altered_forged_or_expired():
    cookies = SessionCookie(SECRET, 3600)
    value = cookies.make(ALICE)
    assert cookies.read(value) == ALICE
    with pytest.raises(SessionProblem, match="expired"):
        cookies.read(cookies.make(ALICE, now=time.time() - 3601))
    with pytest.raises(SessionProblem, match="not valid"):
        cookies.read(SessionCookie("t" * 40).make(ALICE))
    assert tampered(value) != value
    with pytest.raises(SessionProblem, match="not valid"):
        cookies.read(tampered(value))
    with pytest.raises(SessionProblem, match="not valid"):
        cookies.read("garbage")


def test_the_configuration_refuses_a_login_without_a_cookie_secret(tmp_path):
    path = tmp_path / "b.toml"
    path.write_text('[access]\nusers_file = "u.json"\n')
    with pytest.raises(ConfigError, match="cookie_secret"):
        load(path, env={})
    path.write_text('[access]\ncookie_secret = "short"\n')
    with pytest.raises(ConfigError, match="at least 32"):
        load(path, env={})
    path.write_text('[[access.datasets]]\nstreams = ["YY.*"]\ngroups = ["g"]\n'
                    'embargo_until = "next week"\n')
    with pytest.raises(ConfigError, match=r"\[access.datasets.0\] embargo_until"):
        load(path, env={})


def test_digest_against_urllibs_own_client_and_replays_refused(tmp_path):
    users = UsersFile(tmp_path / "u.json")
    users.add("alice", "alice-password", ["seismo"])
    auth = DigestAuth(users, "FDSN", SECRET)
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the http.server API)
            try:
                user = auth.check("GET", self.path, self.headers.get("Authorization"))
            except DigestProblem as exc:
                self.send_response(401)
                self.send_header("WWW-Authenticate", auth.challenge(exc.stale))
                self.end_headers()
                self.wfile.write(str(exc).encode())
                return
            seen.append(self.headers["Authorization"])
            self.send_response(200)
            self.end_headers()
            self.wfile.write(user.name.encode())

        def log_message(self, *args):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{srv.server_port}/q?x=1"
    try:
        mgr = urllib.request.HTTPPasswordMgrWithDefaultRealm()
        mgr.add_password(None, url, "alice", "alice-password")
        opener = urllib.request.build_opener(urllib.request.HTTPDigestAuthHandler(mgr))
        assert opener.open(url).read() == b"alice"
        req = urllib.request.Request(url, headers={"Authorization": seen[0]})
        with pytest.raises(urllib.error.HTTPError) as replay:
            urllib.request.urlopen(req)
        assert replay.value.code == 401 and b"replay" in replay.value.read()
        bad = urllib.request.HTTPPasswordMgrWithDefaultRealm()
        bad.add_password(None, url, "alice", "wrong")
        with pytest.raises(urllib.error.HTTPError) as wrong:
            urllib.request.build_opener(urllib.request.HTTPDigestAuthHandler(bad)).open(url)
        assert wrong.value.code == 401
    finally:
        srv.shutdown()
    with pytest.raises(DigestProblem) as old:
        auth._issued(auth.new_nonce(now=time.time() - 600), time.time())
    assert old.value.stale


def test_audit_lines_are_json_a_log_shipper_reads(tmp_path, store):
    log = AuditLog(tmp_path / "audit.jsonl")
    sources = Sources([store])
    sources.policy = Policy((Rule("*", ("YY.SEC.*",), frozenset({"seismo"})),))
    sources.audit = log
    view = sources.for_user(ALICE, "/waveforms")
    for _ in range(3):  # read three times a minute: one line
        view.store()["YY.SEC.00.HHZ"]
    view.store()["XX.PUB.00.HHZ"]  # public: not audited
    lines = [json.loads(x) for x in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert len(lines) == 1
    assert lines[0] | {"time": None} == {
        "time": None, "event": "read", "user": "alice", "groups": ["seismo"],
        "via": "password", "route": "/waveforms", "store": "acc.zarr",
        "stream": "YY.SEC.00.HHZ", "kind": "stream"}
    assert datetime.fromisoformat(lines[0]["time"].replace("Z", "+00:00"))


def test_the_usage_store_is_for_its_groups_only(tmp_path, store):
    import pandas as pd

    from pipelines.demo.usage import generate_usage

    usage = generate_usage(str(tmp_path / "usage.zarr"), pd.Timestamp("2024-02-05").value,
                           days=1, n_jobs=50, nodes=2)
    sources = Sources([store, usage])
    sources.policy = Policy(usage_groups=frozenset({"hpc"}))
    anon = sources.for_user(ANONYMOUS)
    assert anon.usage_labels == [] and anon.labels == ["acc.zarr"]
    with pytest.raises(ValueError, match="log in to see more"):
        anon.usage()
    ops = sources.for_user(User("ops", frozenset({"hpc"})))
    assert ops.usage_labels == ["usage.zarr"] and ops.usage().n_jobs() == 50
    assert sources.for_user(User("r", frozenset({"admin"}))).usage_labels == ["usage.zarr"]
