"""Stop signals for the CLI's long commands: caught, not raised as KeyboardInterrupt."""

from __future__ import annotations

import os
import signal
import threading
from types import FrameType, TracebackType

__all__ = ["StopSignals"]


class StopSignals:
    """SIGINT and SIGTERM, caught for a whole command: its work, shutdown and report.

    The command polls :attr:`first` and stops at a point of its choosing (the demo:
    once the writers committed what they hold); later signals are only acknowledged
    on stderr. Letting KeyboardInterrupt loose in the middle of a shutdown would
    abandon the writers' threads (the process then hangs at exit) and the report of
    what was committed. Use as ``with StopSignals() as stop:``; outside the main
    thread it catches nothing.
    """

    def __init__(self) -> None:
        self.received: list[int] = []
        self._previous: dict[int, object] = {}

    @property
    def first(self) -> int | None:
        """The first signal received, if any."""
        return self.received[0] if self.received else None

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)  # type: ignore[arg-type]
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.received.append(signum)
        if len(self.received) > 1:
            # A raw write: a signal handler must not re-enter the console's buffers.
            os.write(
                2,
                b"tradebus: already stopping: finishing what was started, "
                b"then reporting what is committed\n",
            )
