"""The intake's events, checked against the committed state and published to their
owners, returning once durable: committed to this node's database, or to its outbox
for a database another process owns (its relay delivers them)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

import msgspec

from eventbus import BusClosed, NotStored
from schemas import Event, PositionUpdate, RecommendationUpdate, TradeExecution, TradeRecommendation

from .. import _references as references
from .._exceptions import NoRoute, ReferenceRefused, TradebusError
from ._intake_errors import IntakeRefused

if TYPE_CHECKING:
    from .._node import Node
    from .._quick_reader import RowSource

__all__ = ["Incoming", "store_events"]


class Incoming(msgspec.Struct, frozen=True, kw_only=True):
    """An event of a request, and whether its ``event_id`` is the caller's (then it
    may be a retry of one stored already)."""

    event: Event
    caller_id: bool


async def store_events(
    node: Node, incoming: Sequence[Incoming], *, batch: bool
) -> list[str | None]:
    """Store ``incoming`` and return their ``event_id`` (None for a tick, which has
    none), once durable.

    When one writer of the node takes them all (as in the API server: its database
    and its outbox) they go as one atomic group, committed in one transaction or not
    at all; else (a node hosting several roles) one by one, in order, each once the
    one before it is committed (as the integration's calls do).

    An event under a caller's ``event_id`` that is committed already with the same
    content is a retry: it is not published again, and its id is answered.

    :raises IntakeRefused: 409 if the committed state refuses an event (its
        ``event_id`` is taken by another event, its ticket has no execution, ...) or
        its writer did (it went to dead_letters: nothing of the request is stored);
        422 if no database stores it; 503 if the node cannot store anything now.
    """
    events = [item.event for item in incoming]
    for index, event in enumerate(events):
        try:
            node.check_route(event)
        except NoRoute as exc:
            raise IntakeRefused(
                422,
                f"{_where(index, batch)}{exc}",
                field="type",
                value=type(event).__name__,
                item=index if batch else None,
            ) from exc
        except TradebusError as exc:  # the node stops, or a writer of it failed
            raise _unavailable(exc) from exc
    answers: list[str | None] = []
    fresh: list[Event] = []
    positions: list[int] = []  # the position in the request of each of fresh
    seen = _Batch()
    for index, item in enumerate(incoming):
        try:
            checked, answer = await _checked(node, item, seen)
        except ReferenceRefused as exc:
            raise IntakeRefused(
                409,
                f"{_where(index, batch)}{exc}",
                field=exc.field,
                value=exc.value,
                allowed="an event the committed state allows (see the text)",
                item=index if batch else None,
            ) from exc
        answers.append(answer)
        if checked is not None:
            fresh.append(checked)
            positions.append(index)
            seen.add(checked)
    if not fresh:
        return answers
    together = len({node.takes(event) for event in fresh}) == 1
    done = 0  # events committed one at a time, before a refusal
    try:
        if together:
            await node.bus.publish_many(fresh, wait=True)
        else:  # several writers (a node hosting several roles): in order, one by one
            for event in fresh:
                await node.bus.publish(event, wait=True)
                done += 1
    except NotStored as exc:
        found = _refused_index(exc, len(fresh)) if together else done
        refused = positions[found] if batch and found is not None else None
        if together or done == 0:
            kept = "nothing of this request is stored"
        else:
            kept = f"the {done} events before it are stored, it and those after it are not"
        raise IntakeRefused(
            409,
            f"{_where(refused, batch)}not stored: {exc.reason}; {kept} (correct it, or send "
            "it under a new event_id)",
            field=None,
            value=exc.event_type,
            item=refused,
        ) from exc
    except BusClosed as exc:
        raise _unavailable(exc) from exc
    return answers


def _where(index: int | None, batch: bool) -> str:
    return f"event {index} of the list: " if batch and index is not None else ""


def _unavailable(exc: BaseException) -> IntakeRefused:
    return IntakeRefused(
        503,
        "the server cannot store events now (it is stopping, or its writer failed): "
        "retry later, with the same event_id (a retry is stored once)",
    )


class _Batch:
    """What earlier events of the request open: a later one may name them."""

    def __init__(self) -> None:
        self.tickets: set[int] = set()
        self.recommendations: set[str] = set()

    def add(self, event: Event) -> None:
        if type(event) is TradeExecution:
            self.tickets.add(event.ticket)
        elif type(event) is TradeRecommendation:
            self.recommendations.add(event.recommendation_id)


async def _checked(node: Node, item: Incoming, seen: _Batch) -> tuple[Event | None, str | None]:
    """``item.event`` to publish (None if it is stored already: a retry), and the
    ``event_id`` to answer: its own, or a stored twin's (a repeated execution or
    recommendation with the same content and no caller's id is the stored one, as
    for the integration's calls).

    :raises ReferenceRefused: as the trade integration's calls refuse it.
    """
    event = item.event
    own: str | None = getattr(event, "event_id", None)
    if own is None or type(event) not in references.EVENT_TABLES:
        return event, own
    database, conn = await _reader(node, type(event))
    if item.caller_id and await references.stored_before(conn, database, event):
        return None, own
    if type(event) is PositionUpdate:
        if event.ticket not in seen.tickets:
            await references.require_execution(conn, database, event.ticket)
        if event.status == "closed":
            await references.require_open(conn, database, event.ticket, event.event_id)
        else:
            await references.require_unclosed(conn, database, event)
    elif type(event) is RecommendationUpdate:
        if event.recommendation_id not in seen.recommendations:
            await references.require_later_stage(conn, database, event)
    elif type(event) is TradeExecution:
        twin = await references.twin_execution(conn, database, event, caller_id=item.caller_id)
        if twin is not None:
            return None, twin[0]
        rid = event.recommendation_id
        if rid is not None and rid not in seen.recommendations:
            rec_db, rec_conn = await _reader(node, TradeRecommendation)
            await references.require_recommendation(rec_conn, rec_db, rid, executed_by=event.ticket)
    elif type(event) is TradeRecommendation:
        twin = await references.twin_recommendation(conn, database, event, caller_id=item.caller_id)
        if twin is not None:
            return None, twin[0]
    return event, own


async def _reader(node: Node, event_type: type[Event]) -> tuple[str, RowSource]:
    spec = node.topology.home(event_type)
    if spec is None:  # check_route passed: a home exists
        raise TradebusError(f"no database of this topology stores {event_type.__name__}")
    return spec.filename, await node.point_reader(spec)


# How a writer names the member of a group that made it refuse the whole group.
_GROUP_REASON: Final = re.compile(r"seqs (\d+) to (\d+)\), stored whole .* member seq (\d+)")


def _refused_index(exc: NotStored, published: int) -> int | None:
    """Which of the ``published`` events the writer refused, when its report says: a
    group is reported by its first member, whose reason names the culprit unless it
    is the culprit itself."""
    found = _GROUP_REASON.search(exc.reason)
    index = int(found.group(3)) - int(found.group(1)) if found is not None else 0
    return index if 0 <= index < published else None
