"""Finding a user's app, ``MODULE:FUNCTION``: an ``async def f(node) -> None``."""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from ._exceptions import TradebusError

if TYPE_CHECKING:
    from ._node import Node

__all__ = ["App", "AppError", "load_app", "split_app_spec"]

#: An app: runs inside a node until it is cancelled (or returns, or raises).
App = Callable[["Node"], Awaitable[None]]

_EXAMPLE = "tradebus.role_apps:chatgpt_bot"


class AppError(TradebusError):
    """An ``--app`` that cannot be run: not found, not importable, not an async function."""


def split_app_spec(spec: str) -> tuple[str, str]:
    """``"pkg.mod:func"`` -> ``("pkg.mod", "func")``.

    :raises AppError: if ``spec`` is not of the form ``MODULE:FUNCTION``.
    """
    module, sep, function = spec.partition(":")
    if not sep or not module.strip() or not function.strip() or ":" in function:
        raise AppError(
            f"--app {spec!r} is not of the form MODULE:FUNCTION (for example {_EXAMPLE})"
        )
    return module.strip(), function.strip()


def load_app(spec: str) -> App:
    """Import ``MODULE`` and return its ``FUNCTION``, checked to be an async function.

    The current directory is searched first (as ``python -m`` does), so that an app
    module beside the data can be named without installing it.

    :raises AppError: saying which part is wrong: the form, the module (not found, or
        failing on import), the attribute (missing), or its kind (not ``async def``).
    """
    module_name, function = split_app_spec(spec)
    cwd = os.getcwd()
    if "" not in sys.path and cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (module_name + ".").startswith(exc.name + "."):
            raise AppError(
                f"--app {spec}: no module named {exc.name!r} (searched the current "
                f"directory {cwd} and the installed packages)"
            ) from exc
        raise AppError(
            f"--app {spec}: importing module {module_name!r} failed: {type(exc).__name__}: {exc}"
        ) from exc
    except (Exception, SystemExit, KeyboardInterrupt) as exc:  # what its code did on import
        raise AppError(
            f"--app {spec}: importing module {module_name!r} failed: {type(exc).__name__}: {exc}"
        ) from exc
    found: Any = module
    for part in function.split("."):
        try:
            found = getattr(found, part)
        except AttributeError:
            apps = sorted(
                name
                for name, value in vars(module).items()
                if not name.startswith("_") and inspect.iscoroutinefunction(value)
            )
            hint = f"; its async functions: {', '.join(apps)}" if apps else ""
            raise AppError(
                f"--app {spec}: module {module_name!r} has no attribute {function!r}{hint}"
            ) from None
    if not inspect.iscoroutinefunction(found):
        kind = type(found).__name__
        raise AppError(
            f"--app {spec}: {function!r} is a {kind}, not an async function; an app is "
            f"`async def {function.rsplit('.', 1)[-1]}(node) -> None`"
        )
    app: App = found
    return app
