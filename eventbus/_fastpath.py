"""The hot path of :meth:`EventBus.publish_nowait`: a closure over what it needs.

Most publishes only append to the buffer of a topic's only subscription (or to the
buffers of its few: a writer and the services on the ticks); this closure does that
without attribute lookups on the bus, and hands everything else
(the first message of a batch, one that wakes a receiver or fills the buffer, one
with headers, a closed bus: a closed bus caches no routes) to the bus's slow path.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from itertools import repeat
from typing import Any

from ._exceptions import BusFull
from ._inbox import Inbox
from ._message import Headers, Message
from ._routing import Router, foreign_thread, not_its_topic, own_topic

__all__ = ["fast_publish_nowait", "publish_each_nowait"]

Publish = Callable[..., int]


def fast_publish_nowait(
    router: Router,
    slow: Callable[[Any, str, Headers | None], int],
    admit: Callable[[Any], str] | None,
) -> tuple[Publish, Callable[[threading.local], None]]:
    """``publish_nowait`` for a bus (with an ``admit`` hook every event is admitted;
    without, an event's own topic is asked for only when none is given), and the
    function that hands it the mark of the thread the bus now belongs to
    (``Router.take_over``).

    ``slow(event, topic, headers)`` delivers an admitted event the way the bus does.

    ``headers`` is not keyword-only here (as it is in the documented signature):
    Python 3.11 does not specialize calls of functions with keyword-only parameters,
    which costs about 5% of a publish.
    """
    single = router.single.get
    several = router.several.get
    envelope = router.local
    mark = router.owner_mark

    def set_owner(new_mark: threading.local) -> None:
        nonlocal mark
        mark = new_mark

    def publish_nowait(event: Any, topic: str | None = None, headers: Headers | None = None) -> int:
        if not mark.__dict__:  # another thread's view of the mark is empty (see Router)
            raise foreign_thread("publish_nowait", router.running)
        if topic is None:
            # own_topic(event), inlined: a call less per event.
            try:
                topic = event.topic
            except (AttributeError, NotImplementedError):
                topic = None
            if type(topic) is not str:
                topic = own_topic(event)  # raises
        inbox = single(topic)
        if inbox is not None and headers is None:
            buffer = inbox.buffer
            # Neither the first message (which starts the batch clock), nor one that
            # fills the buffer or wakes a receiver: just append (append_below is 0
            # while the buffer is empty).
            if len(buffer) < inbox.append_below:
                router.seq = seq = router.seq + 1
                buffer.append(Message(topic, seq, event, envelope))
                return seq
        return slow(event, topic, headers)

    if admit is None:
        return publish_nowait, set_owner
    admit_event = admit

    def admitting(event: Any, topic: str | None = None, headers: Headers | None = None) -> int:
        if not mark.__dict__:  # as above
            raise foreign_thread("publish_nowait", router.running)
        its_own = admit_event(event)
        if topic is None:
            topic = its_own
        elif topic != its_own:
            raise not_its_topic(event, topic, its_own)
        inbox = single(topic)
        if inbox is not None:
            if headers is None:
                buffer = inbox.buffer
                if len(buffer) < inbox.append_below:  # as above
                    router.seq = seq = router.seq + 1
                    buffer.append(Message(topic, seq, event, envelope))
                    return seq
        elif headers is None and (inboxes := several(topic)) is not None:
            # Several subscriptions (a writer and services): the same, for all at once.
            for inbox in inboxes:
                if len(inbox.buffer) >= inbox.append_below:
                    break
            else:
                router.seq = seq = router.seq + 1
                message = Message(topic, seq, event, envelope)
                for inbox in inboxes:
                    inbox.buffer.append(message)
                return seq
        return slow(event, topic, headers)

    return admitting, set_owner


def publish_each_nowait(
    router: Router, slow: Callable[[Any, str, Headers | None], int], events: Sequence[Any]
) -> int:
    """:meth:`EventBus.publish_each_nowait`: every event admitted (or its topic found),
    then, for events of one topic, the messages that the fast path would append one by
    one appended together; ``slow(event, topic, headers)`` delivers the others (the
    first message of a batch, one that wakes a receiver or meets a full buffer)."""
    router.check_thread("publish_each_nowait")
    admit = router.admit
    topics = list(map(admit if admit is not None else router.topic_of, events))
    n = len(events)
    if not n:
        return 0
    topic = topics[0]
    if topics.count(topic) != n:  # several topics: one by one
        for done, (event, its_topic) in enumerate(zip(events, topics, strict=True)):
            try:
                slow(event, its_topic, None)
            except BusFull:
                return done
        return n
    envelope = router.local
    done = 0
    while done < n:
        inboxes: tuple[Inbox, ...] | None = router.several.get(topic)
        if inboxes is None and (inbox := router.single.get(topic)) is not None:
            inboxes = (inbox,)
        if inboxes is not None:
            # As many as the fast path would append, each below its inbox's mark.
            room = min([inbox.append_below - len(inbox.buffer) for inbox in inboxes])
            if room > 0:
                count = min(room, n - done)
                seq = router.seq
                messages = list(
                    map(
                        Message,
                        repeat(topic, count),
                        range(seq + 1, seq + 1 + count),
                        events[done : done + count],
                        repeat(envelope, count),
                    )
                )
                router.seq = seq + count
                for inbox in inboxes:
                    inbox.buffer.extend(messages)
                done += count
                continue
        try:
            slow(events[done], topic, None)
        except BusFull:
            return done
        done += 1
    return n
