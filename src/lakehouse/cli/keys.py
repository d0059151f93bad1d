"""`lakehouse keys create|list|revoke`: API keys (stored hashed; a key is shown once)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from lakehouse.access import ROLES
from lakehouse.service import Lakehouse

app = typer.Typer(help="Manage API keys (roles: reader, analyst, admin).", no_args_is_help=True)
console = Console()




@app.command()
def create(
    role: Annotated[str, typer.Option(help=f"one of {', '.join(ROLES)}")],
    name: Annotated[str | None, typer.Option(help="who or what the key is for")] = None,
) -> None:
    """Create a key and print it once (only its SHA-256 is stored)."""
    if role not in ROLES:
        raise typer.BadParameter(f"unknown role '{role}'; one of {', '.join(ROLES)}", param_hint="--role")
    new = Lakehouse().access.create_key(role, name)
    console.print(f"created key [bold]{new.key_id}[/] ({new.name}, role {new.role}); store it now, it is not shown again:")
    typer.echo(new.token)


@app.command("list")
def list_keys() -> None:
    """List keys (never their secret)."""
    table = Table("key id", "name", "role", "created", "revoked")
    for k in Lakehouse().access.list_keys():
        table.add_row(k.key_id, k.name, k.role, f"{k.created_at:%Y-%m-%d %H:%M}",
                      f"{k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "")
    console.print(table)


@app.command()
def revoke(key_id: Annotated[str, typer.Argument(help="the key id shown by `keys list`")]) -> None:
    """Revoke a key: requests with it get 401 (within seconds on running servers)."""
    if not Lakehouse().access.revoke_key(key_id):
        console.print(f"[red]no active key '{key_id}'[/]")
        raise typer.Exit(1)
    console.print(f"revoked {key_id}")
