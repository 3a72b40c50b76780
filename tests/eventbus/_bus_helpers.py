"""What the event bus tests share: a small event with a topic of its own, the numbers
of received messages, and a wait until every other task is blocked."""

from __future__ import annotations

import anyio
import msgspec

from eventbus import Message


class Item(msgspec.Struct, frozen=True):
    """A small event with a topic of its own: ``items.<producer>``."""

    n: int
    producer: int = 0

    @property
    def topic(self) -> str:
        return f"items.{self.producer}"


def numbers(messages: list[Message]) -> list[int]:
    return [message.event.n for message in messages]


async def settle() -> None:
    """Let every other task run until it waits for something."""
    await anyio.wait_all_tasks_blocked()
