"""Waiting for messages to be acknowledged: ``publish(..., wait=True)`` and ``flush``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from anyio.lowlevel import checkpoint

from ._outcomes import Ledger
from ._routing import Route, Router, waited_on
from ._subscription import Subscription

__all__ = ["flush", "wait_stored", "waited_on_routes"]


def waited_on_routes(routes: Iterable[Route]) -> tuple[Subscription, ...]:
    """The subscriptions whose acknowledgement of these routes' messages counts, each
    once: for each message its durable recipients if any, else all its recipients."""
    waited: dict[Subscription, None] = {}
    for route in routes:
        waited.update(dict.fromkeys(waited_on(route.subscriptions())))
    return tuple(waited)


async def wait_stored(
    ledger: Ledger, seqs: Sequence[int], subscriptions: tuple[Subscription, ...]
) -> None:
    """Wait until the messages ``seqs`` are acknowledged by ``subscriptions``.

    :raises NotStored: for the first of them acknowledged as not stored (its ``more``
        counts the others); they are reported here, not to a flush.
    :raises BusClosed: if a durable one of ``subscriptions`` closed before
        acknowledging one of them.
    """
    if not seqs:
        return
    for seq in seqs:
        ledger.watch(seq)
    reported = False
    try:
        for subscription in subscriptions:
            await subscription.wait_done(seqs[-1])
        reported = True
    finally:
        failure = ledger.unwatch_all(seqs, report=reported)
    if failure is not None:
        raise failure


async def flush(router: Router, seq: int | None) -> None:
    """See :meth:`EventBus.flush`."""
    await checkpoint()
    last = router.seq if seq is None else seq
    ledger = router.ledger
    ledger.check_abandoned(last)  # then the durable subscriptions may all be gone
    for subscription in waited_on(tuple(router.subscriptions)):
        await subscription.wait_done(last)
    ledger.check_abandoned(last)
    failure = ledger.take_upto(last)
    if failure is not None:
        raise failure
