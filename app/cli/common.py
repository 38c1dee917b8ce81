"""What every ``hsclink`` command shares: the service context, exit codes, output."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any, NoReturn

import typer

from app.config import InsecureConfiguration, load_settings
from app.errors import Conflict, HsclinkError, InvalidRequest, NotFound, PermissionDenied
from app.keys.master import MasterKeyMissing
from app.policy.engine import PolicyError
from app.services.context import ServiceContext
from app.services.setup import NotInitialised

__all__ = ["OPERATOR_ORG", "JsonFlag", "_context", "_exit_code", "_fail", "_print"]

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]
OPERATOR_ORG = "HSCOPS"


def _exit_code(error: Exception) -> int:
    match error:
        case InvalidRequest():
            return 2
        case NotFound():
            return 3
        case Conflict():
            return 4
        case PermissionDenied():
            return 5
        case MasterKeyMissing() | PolicyError() | InsecureConfiguration() | NotInitialised():
            return 6

        case _:
            return 1


def _fail(error: Exception) -> NoReturn:
    message = error.safe_detail if isinstance(error, HsclinkError) else str(error)
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(_exit_code(error))


@contextmanager
def _context() -> Iterator[ServiceContext]:
    try:
        settings = load_settings()
        ctx = ServiceContext.build(settings)
    except (PolicyError, InsecureConfiguration) as error:
        _fail(error)
    try:
        yield ctx
    except (HsclinkError, MasterKeyMissing) as error:
        _fail(error)
    finally:
        ctx.close()


def _print(data: Any, as_json: bool, human: Callable[[], None]) -> None:
    if as_json:
        typer.echo(json.dumps(data, default=_json_default, indent=2))
    else:
        human()


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(type(value).__name__)
