"""`belvedere users add|remove|list`: the local accounts of the `[access] users_file`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from belvedere.console import fail, out, shown

app = typer.Typer(help="Local accounts for the dashboard's login and the FDSN queryauth "
                       "(the [access] users_file).", no_args_is_help=True)

FileOption = Annotated[Path | None, typer.Option(
    "--file", help="Users file (default: [access] users_file of the configuration)")]
ConfigOption = Annotated[Path | None, typer.Option(
    "--config", envvar="BELVEDERE_CONFIG", help="Configuration file (TOML)")]


def _users(file: Path | None, config: Path | None):
    from belvedere.config import ConfigError, load
    from dashboard.access.users import UsersFile

    try:
        access = load(config).access
    except ConfigError as exc:
        fail(str(exc), 2, escape=True)
    path = file or access.users_file
    if not path:
        fail("no users file: give --file, or [access] users_file in the configuration", 2)
    return UsersFile(path, access.digest_realm)


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="User name")],
    group: Annotated[list[str], typer.Option(
        "--group", "-g", help="A group the user belongs to (repeat)")] = [],  # noqa: B006
    password: Annotated[str | None, typer.Option(
        envvar="BELVEDERE_USER_PASSWORD",
        help="The password (default: asked for, not echoed)")] = None,
    file: FileOption = None, config: ConfigOption = None,
) -> None:
    """Add a user (or replace one of that name): argon2 hash for the login, digest HA1."""
    from dashboard.access.users import UsersError

    users = _users(file, config)
    if password is None:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        account = users.add(name, password, list(group))
    except UsersError as exc:
        fail(str(exc), 2, escape=True)
    out.print(f"{shown(account.name)} added to {shown(str(users.path))} "
              f"(groups: {shown(', '.join(account.groups) or 'none')})", highlight=False)


@app.command("remove")
def remove(name: Annotated[str, typer.Argument(help="User name")],
           file: FileOption = None, config: ConfigOption = None) -> None:
    """Remove a user."""
    from dashboard.access.users import UsersError

    users = _users(file, config)
    try:
        users.remove(name)
    except UsersError as exc:
        fail(str(exc), 1, escape=True)
    out.print(f"{shown(name)} removed from {shown(str(users.path))}", highlight=False)


@app.command("list")
def list_users(file: FileOption = None, config: ConfigOption = None) -> None:
    """List the users and their groups (never the hashes)."""
    from dashboard.access.users import UsersError

    users = _users(file, config)
    try:
        accounts = users.accounts()
    except UsersError as exc:
        fail(str(exc), 2, escape=True)
    table = Table(title=shown(str(users.path)), title_justify="left")
    table.add_column("user")
    table.add_column("groups")
    for a in sorted(accounts.values(), key=lambda a: a.name):
        table.add_row(shown(a.name), shown(", ".join(a.groups)))
    out.print(table)


def register(root: typer.Typer) -> None:
    """Add `users` to the `belvedere` app."""
    root.add_typer(app, name="users")
