"""The CLI's log output: one line per record on stderr, and no error said twice."""

from __future__ import annotations

import logging
import re
import sys
from types import TracebackType

__all__ = ["CliLog"]


class CliLog(logging.Handler):
    """Print the library's warnings and errors as ``tradebus: LEVEL: message`` lines.

    A record that carries an exception (``"writer main failed: <error>"``) usually
    announces the error that is about to end the command, which the CLI prints
    itself: such records wait until the command ends, and are dropped if the error
    that ended it says the same. Use as ``with CliLog() as log: ...; log.finish(error)``.
    """

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self._held: list[logging.LogRecord] = []
        self._root_level = logging.NOTSET

    def __enter__(self) -> CliLog:
        root = logging.getLogger()
        self._root_level = root.level
        if root.level == logging.NOTSET or root.level > logging.WARNING:
            root.setLevel(logging.WARNING)
        root.addHandler(self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.finish(exc if isinstance(exc, Exception) else None)
        root = logging.getLogger()
        root.removeHandler(self)
        root.setLevel(self._root_level)

    def emit(self, record: logging.LogRecord) -> None:
        if _carries_error(record):
            self._held.append(record)
        else:
            self._write(record)

    def finish(self, error: BaseException | None) -> None:
        """Print the held records, but those that repeat ``error`` (printed by the CLI)
        or its notes, and each error once (a writer and its node both announce it)."""
        held, self._held = self._held, []
        said: set[str] = set()
        if error is not None:
            said.update(_said_by(error))
        for record in held:
            message = record.getMessage()
            if any(text and text in message for text in said):
                continue
            said.update(str(arg) for arg in _errors_of(record))
            self._write(record)

    def _write(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record must not end the command
            message = str(record.msg)
        level = record.levelname.lower()
        print(f"tradebus: {level}: {message}", file=sys.stderr, flush=True)


# How a node notes the errors of its other writers on the one it raises.
_NOTE = re.compile(r"^another writer failed too: ")


def _said_by(error: BaseException) -> set[str]:
    """What printing ``error`` says: its text, its notes, and each error it was
    raised from whose text it repeats (``"... a writer of this node failed (...)"``)."""
    text = str(error)
    said = {text}
    said.update(_NOTE.sub("", note) for note in getattr(error, "__notes__", ()))
    cause = error.__cause__
    while cause is not None:
        if str(cause) and str(cause) in text:
            said.add(str(cause))
        cause = cause.__cause__
    return said


def _errors_of(record: logging.LogRecord) -> list[BaseException]:
    args = record.args if isinstance(record.args, tuple) else ()
    return [arg for arg in args if isinstance(arg, BaseException)]


def _carries_error(record: logging.LogRecord) -> bool:
    return bool(record.exc_info) or bool(_errors_of(record))
