"""Keeping a node's writers running while its services stop, whatever cancels the node.

A service publishes as it stops (the candle service's bars in progress): its writer
must still be running then, even when the node stops because it was cancelled (a
Ctrl-C, a timeout around ``open_node``). So once the node has started, each writer
runs in a shielded cancel scope. A cancellation that reaches the node while its services stop
starts a timer: after ``drain_timeout`` seconds the writers are cancelled anyway (a
full disk must not hold a cancelled node for ever). Once the services have stopped
the shields are dropped: a cancellation, pending or later, reaches the writers as it
would without them (they commit what they hold, within ``drain_timeout``, and exit).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio
from anyio.abc import TaskGroup

__all__ = ["WriterShields"]


class WriterShields:
    """The cancel scopes of one node's writers."""

    def __init__(self) -> None:
        self._scopes: list[anyio.CancelScope] = []
        self._released = False

    def scope(self) -> anyio.CancelScope:
        """A scope for a writer's run (writers start before the node has started:
        :meth:`shield` shields it then)."""
        scope = anyio.CancelScope()
        self._scopes.append(scope)
        return scope

    def shield(self) -> None:
        """Shield the writers, once the node has started (until then a cancellation
        stops the start, writers included)."""
        if not self._released:
            for scope in self._scopes:
                scope.shield = True

    async def while_services_stop(
        self,
        stop: Callable[[], Awaitable[None]],
        task_group: TaskGroup,
        grace: float,
        *,
        cancelled: bool,
    ) -> BaseException | None:
        """Run ``stop`` (the services stopping) in a shielded task of ``task_group``,
        and wait for it. If the node was cancelled (``cancelled``), or a cancellation
        reaches the caller meanwhile, the writers are cancelled after ``grace``
        seconds, or as soon as ``stop`` has returned; either way they are released
        (see :meth:`release`) once it has.

        :returns: the cancellation that reached the caller meanwhile (None if none),
            for the caller to raise once the node is torn down.
        :raises: what ``stop`` raised.
        """
        stopped = anyio.Event()
        failures: list[BaseException] = []

        async def run_stop() -> None:
            try:
                with anyio.CancelScope(shield=True):
                    await stop()
            except BaseException as exc:  # raised by the caller, not this task
                failures.append(exc)
            finally:
                stopped.set()

        task_group.start_soon(run_stop)
        interrupted: BaseException | None = None
        try:
            if not cancelled:
                await stopped.wait()  # unshielded: a cancellation reaches it
        except anyio.get_cancelled_exc_class() as exc:
            interrupted, cancelled = exc, True
        finally:
            if cancelled:
                with anyio.CancelScope(shield=True):
                    with anyio.move_on_after(grace):
                        await stopped.wait()
                    self.cancel()
                    await stopped.wait()
            self.release()
        if failures:
            raise failures[0]
        return interrupted

    def release(self) -> None:
        """Drop the shields: a cancellation of the node reaches the writers again."""
        self._released = True
        for scope in self._scopes:
            scope.shield = False

    def cancel(self) -> None:
        """Cancel the writers: they commit what they hold and exit."""
        self.release()
        for scope in self._scopes:
            scope.cancel()
