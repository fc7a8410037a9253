"""The local users file: accounts with an argon2 password hash, groups and a digest HA1.

A JSON file (`belvedere users add|remove|list` writes it; mode 0600):

    {"realm": "FDSN", "users": {"alice": {"password": "$argon2id$...",
                                          "ha1": "<md5 of alice:FDSN:password>",
                                          "groups": ["seismo"]}}}

The login form checks the argon2 hash. HTTP digest (the FDSN `queryauth` routes) cannot use a
salted slow hash: the server must compute MD5(HA1:nonce:...) itself, so each account also
keeps HA1 = MD5(user:realm:password), as Apache's htdigest files do. HA1 is as good as the
password for digest requests to this realm, so the file must stay private (0600, not in the
store folders); it is not the password and is useless against the login form. MD5 because
ObsPy's client (urllib's digest handler) offers MD5 and SHA-1 only.

The file is read again when it changes, so `users add` takes effect without a restart.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from dashboard.access.policy import User

__all__ = ["Account", "UsersError", "UsersFile", "ha1_of"]

NAME = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")
GROUP = re.compile(r"^[A-Za-z0-9._:@/-]{1,64}$")


class UsersError(ValueError):
    """A users file or an account that cannot be used; the message says what to do."""


def ha1_of(name: str, realm: str, password: str) -> str:
    """HTTP digest HA1 (RFC 7616, MD5): what the server needs to check a digest response."""
    return hashlib.md5(f"{name}:{realm}:{password}".encode()).hexdigest()


@dataclass(frozen=True)
class Account:
    """One account of the file."""

    name: str
    password: str  # argon2 encoded hash
    ha1: str
    groups: tuple[str, ...]

    def user(self, via: str) -> User:
        """The account as a logged-in user."""
        return User(self.name, frozenset(self.groups), via)


def _hasher():
    from argon2 import PasswordHasher

    return PasswordHasher()  # argon2id with the library's current defaults


# A hash checked against when the name is unknown, so that an unknown name costs the same time
# as a wrong password (no telling which names exist by timing the form).
_DUMMY: list[str] = []


class UsersFile:
    """The accounts of one file, read again whenever the file changes."""

    def __init__(self, path: str | os.PathLike, realm: str = "FDSN"):
        self.path = Path(path)
        self.realm = realm
        self._lock = threading.Lock()
        self._seen: tuple[int, int] | None = None
        self._accounts: dict[str, Account] = {}

    # -- reading --------------------------------------------------------------------------
    def accounts(self) -> dict[str, Account]:
        """Name -> account, as the file says now ({} when the file does not exist yet)."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return {}
        key = (st.st_mtime_ns, st.st_size)
        with self._lock:
            if key != self._seen:
                self._accounts = self._parse(self.path.read_text(encoding="utf-8"))
                self._seen = key
            return dict(self._accounts)

    def _parse(self, text: str) -> dict[str, Account]:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UsersError(f"users file {self.path} is not valid JSON ({exc.msg}, line "
                             f"{exc.lineno}); write it with `belvedere users add`") from None
        if data.get("realm", self.realm) != self.realm:
            raise UsersError(f"users file {self.path} was written for digest realm "
                             f"{data.get('realm')!r}, the server uses {self.realm!r}; set "
                             "[access] digest_realm to match, or add the users again")
        out = {}
        for name, entry in (data.get("users") or {}).items():
            out[name] = Account(name, entry["password"], entry.get("ha1", ""),
                                tuple(entry.get("groups", ())))
        return out

    def check_password(self, name: str, password: str) -> User | None:
        """The user when the password is right, else None (same cost for unknown names)."""
        from argon2.exceptions import InvalidHashError, VerificationError

        account = self.accounts().get(name)
        hasher = _hasher()
        if not _DUMMY:
            _DUMMY.append(hasher.hash("not a password"))
        try:
            hasher.verify(account.password if account else _DUMMY[0], password)
        except (VerificationError, InvalidHashError):
            return None
        return account.user("password") if account else None

    def digest_account(self, name: str) -> Account | None:
        """The account a digest response names, when it has an HA1."""
        account = self.accounts().get(name)
        return account if account is not None and account.ha1 else None

    # -- writing --------------------------------------------------------------------------
    def add(self, name: str, password: str, groups: list[str]) -> Account:
        """Add or replace an account (the password hashed, never stored)."""
        if not NAME.match(name):
            raise UsersError(f"user name {name!r}: use 1-64 letters, digits, . _ @ -")
        bad = [g for g in groups if not GROUP.match(g)]
        if bad:
            raise UsersError(f"group {bad[0]!r}: use 1-64 letters, digits, . _ : @ / -")
        if len(password) < 8:
            raise UsersError("the password must have at least 8 characters")
        account = Account(name, _hasher().hash(password), ha1_of(name, self.realm, password),
                          tuple(groups))
        accounts = self.accounts()
        accounts[name] = account
        self._write(accounts)
        return account

    def remove(self, name: str) -> None:
        """Remove an account; UsersError when there is none of that name."""
        accounts = self.accounts()
        if name not in accounts:
            raise UsersError(f"no user {name!r} in {self.path}; `belvedere users list` shows "
                             "them")
        del accounts[name]
        self._write(accounts)

    def _write(self, accounts: dict[str, Account]) -> None:
        data = {"realm": self.realm, "users": {
            a.name: {"password": a.password, "ha1": a.ha1, "groups": list(a.groups)}
            for a in sorted(accounts.values(), key=lambda a: a.name)}}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Written beside and renamed: a server reading it never sees half a file.
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".users-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f, indent=2)
                f.write("\n")
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
