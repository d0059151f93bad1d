"""The `lakehouse` command. Commands parse, call the `Lakehouse` facade, and render."""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer

from lakehouse.cli import health, maintenance, pipeline, quality, schedule, tables
from lakehouse.cli.render import err_console
from lakehouse.exceptions import LakehouseError

app = typer.Typer(
    name="lakehouse",
    help="A medallion lakehouse for event data: simulate -> ingest (bronze) -> transform (silver, gold) -> serve.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
pipeline.register(app)
tables.register(app)
quality.register(app)
schedule.register(app)
health.register(app)
maintenance.register(app)

_state = {"debug": False}


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks and debug logs.")] = False,
) -> None:
    _state["debug"] = debug
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def _register_optional() -> None:
    # The API and key commands need the `api` extra; without it they say how to install it.
    try:
        from lakehouse.cli import keys, serve

        app.add_typer(keys.app, name="keys", help="Create, list and revoke API keys.")
        app.command(name="serve", help="Serve the REST API (default 127.0.0.1:8888).")(serve.serve)
    except ImportError as exc:  # pragma: no cover - depends on the install
        missing = exc.name or "fastapi"

        @app.command(name="serve", help="Serve the REST API (needs: pip install 'lakehouse[api]').")
        def _serve_missing() -> None:
            raise LakehouseError(f"the API needs extra packages ({missing})", hint="pip install 'lakehouse[api]'")


_register_optional()


def main() -> None:
    try:
        code = app(standalone_mode=False)
        # Without standalone mode click hands back a command's `typer.Exit(code)` instead of exiting.
        if isinstance(code, int) and code:
            sys.exit(code)
    except LakehouseError as exc:
        if _state["debug"]:
            raise
        err_console.print(f"[bold red]error:[/] {exc.message}" + (f" [dim]({exc.hint})[/]" if exc.hint else ""))
        sys.exit(1)
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted[/]")
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(1)
    except OSError as exc:  # a path that cannot be read or written: say which, in one line
        if _state["debug"]:
            raise
        where = f" {exc.filename}" if exc.filename else ""
        err_console.print(
            f"[bold red]error:[/] cannot use{where}: {exc.strerror or exc} "
            "[dim](check the path settings: LAKEHOUSE_BASE_PATH, BRONZE_PATH, ...)[/]"
        )
        sys.exit(1)
    except Exception as exc:
        # Usage errors (unknown option, bad value) come from Typer's bundled click.
        show = getattr(exc, "show", None)
        if callable(show) and isinstance(getattr(exc, "exit_code", None), int):
            show()
            sys.exit(exc.exit_code)  # type: ignore[attr-defined]
        if _state["debug"]:
            raise
        err_console.print(f"[bold red]error:[/] {type(exc).__name__}: {exc} [dim](rerun with --debug for details)[/]")
        sys.exit(1)


if __name__ == "__main__":
    main()
