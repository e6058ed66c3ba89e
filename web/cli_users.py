"""CLI commands for accounts: ``jer user add|list|remove|token``.

Accounts are stored in the workspace (see :mod:`web.auth`); these commands register on
the one ``jer`` typer app of :mod:`web.cli`.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.table import Table

from .auth import (
    ROLES,
    add_user,
    create_token,
    list_users,
    remove_user,
    revoke_tokens,
    update_user,
)
from .cli import FormatOpt, WorkspaceOpt, _errors, _fail, _open, _print_json, app, console

user_app = typer.Typer(help="Accounts and roles of the web app.", no_args_is_help=True)
app.add_typer(user_app, name="user")


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


@user_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="User name")],
    workspace: WorkspaceOpt,
    role: Annotated[str, typer.Option(help=f"One of: {', '.join(ROLES)}")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from the first stdin line")
    ] = False,
    format: FormatOpt = "table",
) -> None:
    """Create an account; the password is prompted for without echo (or read from stdin)."""
    as_json = format == "json"
    if role not in ROLES:
        _fail(f"unknown role {role!r}; roles are {', '.join(ROLES)}", as_json=as_json)
    password = _read_password(password_stdin)
    with _errors(as_json), _open(workspace) as ws:
        created = add_user(ws, name, role=role, password=password)
    if as_json:
        _print_json(created)
    else:
        console.print(f"Added {created['username']} as {created['role']}", highlight=False)


@user_app.command("list")
def list_(workspace: WorkspaceOpt, format: FormatOpt = "table") -> None:
    """Accounts with their roles (never their password hashes)."""
    with _errors(format == "json"), _open(workspace) as ws:
        users = list_users(ws)
    if format == "json":
        _print_json(users)
        return
    table = Table(title="users")
    for column in ("username", "role", "active", "created_at"):
        table.add_column(column)
    for user in users:
        table.add_row(str(user["username"]), str(user["role"]), str(user["active"]),
                      str(user["created_at"]))
    console.print(table)


@user_app.command("remove")
def remove(
    name: Annotated[str, typer.Argument(help="User name")],
    workspace: WorkspaceOpt,
    format: FormatOpt = "table",
) -> None:
    """Delete an account and its API tokens; its sessions end on their next request."""
    with _errors(format == "json"), _open(workspace) as ws:
        remove_user(ws, name)
    if format == "json":
        _print_json({"removed": name})
    else:
        console.print(f"Removed {name}", highlight=False)


@user_app.command("token")
def token(
    name: Annotated[str, typer.Argument(help="User name")],
    workspace: WorkspaceOpt,
    format: FormatOpt = "table",
) -> None:
    """Create an API token for scripts (``Authorization: Bearer …``); shown only once."""
    with _errors(format == "json"), _open(workspace) as ws:
        value = create_token(ws, name)
    if format == "json":
        _print_json({"username": name, "token": value})
    else:
        console.print("Token (store it now; it cannot be shown again):", highlight=False)
        print(value)


@user_app.command("set")
def set_(
    name: Annotated[str, typer.Argument(help="User name")],
    workspace: WorkspaceOpt,
    role: Annotated[str | None, typer.Option(help=f"One of: {', '.join(ROLES)}")] = None,
    active: Annotated[
        bool | None, typer.Option("--active/--inactive", help="Allow or block signing in")
    ] = None,
    password: Annotated[
        bool, typer.Option("--password", help="Set a new password (prompted without echo)")
    ] = False,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the new password from stdin")
    ] = False,
    format: FormatOpt = "table",
) -> None:
    """Change an account's role, block or unblock it, or set a new password.

    Blocking ends its sessions and tokens at once; a new password ends its sessions.
    """
    as_json = format == "json"
    new_password = _read_password(password_stdin) if (password or password_stdin) else None
    with _errors(as_json), _open(workspace) as ws:
        changed = update_user(ws, name, role=role, active=active, password=new_password)
    if as_json:
        _print_json(changed)
    else:
        state = "active" if changed["active"] else "blocked"
        console.print(f"{name}: {changed['role']}, {state}", highlight=False)


@user_app.command("revoke-tokens")
def revoke(
    name: Annotated[str, typer.Argument(help="User name")],
    workspace: WorkspaceOpt,
    format: FormatOpt = "table",
) -> None:
    """Delete every API token of an account (scripts using them get 401)."""
    with _errors(format == "json"), _open(workspace) as ws:
        count = revoke_tokens(ws, name)
    if format == "json":
        _print_json({"username": name, "revoked": count})
    else:
        console.print(f"Revoked {count} token(s) of {name}", highlight=False)
