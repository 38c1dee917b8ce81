"""What every ``hsclink`` command shares: the service context, exit codes, output.

Imports nothing heavy: every ``hsclink`` command (``--help`` included) imports this
module, so the service, its database and its domain are imported only when a command
opens a context or fails (``tests/unit/test_cli_imports.py`` pins it).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from app.errors import Conflict, HsclinkError, InvalidRequest, NotFound, PermissionDenied

if TYPE_CHECKING:
    from app.services.context import ServiceContext

__all__ = ["OPERATOR_ORG", "JsonFlag", "_context", "_exit_code", "_fail", "_print"]

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]
OPERATOR_ORG = "HSCOPS"


#: Errors meaning the service is not set up, or not safe to run (exit 6), by module. A
#: class whose module was never imported cannot have raised the error at hand, so they are
#: looked up in ``sys.modules``: a failing API-only command does not import the service.
_SETUP_ERRORS = (
    ("app.config", "InsecureConfiguration"),
    ("app.keys.master", "MasterKeyMissing"),
    ("app.policy.engine", "PolicyError"),
    ("app.services.setup", "NotInitialised"),
)


def _is_setup_error(error: Exception) -> bool:
    for module, name in _SETUP_ERRORS:
        loaded = sys.modules.get(module)
        if loaded is not None and isinstance(error, getattr(loaded, name)):
            return True
    return False


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
        case _ if _is_setup_error(error):
            return 6
        case _:
            return 1


def _fail(error: Exception) -> NoReturn:
    message = error.safe_detail if isinstance(error, HsclinkError) else str(error)
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(_exit_code(error))


@contextmanager
def _context() -> Iterator[ServiceContext]:
    from app.config import InsecureConfiguration, load_settings
    from app.keys.master import MasterKeyMissing
    from app.policy.engine import PolicyError
    from app.services.context import ServiceContext

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
