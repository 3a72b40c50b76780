"""The message the bus hands to subscribers, and the headers a publisher may add."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic

import msgspec

__all__ = ["Envelope", "Headers", "Message"]

if TYPE_CHECKING:
    from typing_extensions import TypeVar

    #: The event type; a bare ``Message`` is ``Message[Any]``.
    E = TypeVar("E", default=Any)
else:
    from typing import TypeVar

    E = TypeVar("E")


class Headers(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """What a publisher says about a message besides its event.

    :param origin: who published it (a process, node, service or relay name); a
        subscription made with ``echo=False`` does not receive the messages whose
        origin is its own name.
    :param cursor: a relay's position in the source it reads (so that it can resume).
    """

    origin: str = ""
    cursor: int | None = None


class Envelope:
    """What the messages of one publish share: how their event is encoded or decoded,
    whether they arrived encoded (``foreign``), and their ``group``.

    The bus keeps one envelope for the messages published alone in this process and
    one for those published alone already encoded; each atomic group gets its own.
    """

    __slots__ = ("codec", "foreign", "group")

    def __init__(self, codec: Callable[..., Any], *, foreign: bool, group: int = 0) -> None:
        #: The encoder (in-process messages) or the decoder (foreign ones).
        self.codec = codec
        self.foreign = foreign
        self.group = group


_DEFAULT_DECODER = Envelope(msgspec.msgpack.decode, foreign=True)


class Message(msgspec.Struct, Generic[E], gc=False):
    """One published event, as every matching subscription receives it.

    The same message object is shared by every subscription that receives it; treat
    it as read-only. Build messages with :meth:`of_event` or :meth:`of_data`; ``local``
    and ``encoded`` are the message's own cache of its event and its bytes.

    ``event`` is the published object itself when it was published in this process,
    or decoded from the bytes once, lazily, when the message came from elsewhere
    (``foreign``: published with ``publish_encoded*``; what ``event`` then holds is
    whatever the bus's decoder made of the bytes). ``data`` is the encoded event: for
    an in-process message it is encoded on first access only (with the bus's
    encoder), then kept, so subscribers that use only ``event`` cost no encoding.
    """

    topic: str
    seq: int
    #: The event object: the one published in this process, or decoded (else None).
    local: E | None
    envelope: Envelope
    headers: Headers | None = None
    #: The encoded event: the bytes that arrived, or encoded on demand (else None).
    encoded: bytes | None = None

    @classmethod
    def of_event(
        cls,
        topic: str,
        seq: int,
        event: E,
        *,
        encode: Callable[[Any], bytes] = msgspec.msgpack.encode,
        headers: Headers | None = None,
    ) -> Message[E]:
        """A message published in this process: ``data`` is ``encode(event)``, lazily."""
        return cls(topic, seq, event, Envelope(encode, foreign=False), headers)

    @classmethod
    def of_data(
        cls,
        topic: str,
        seq: int,
        data: bytes,
        *,
        decoder: Callable[[bytes], Any] | None = None,
        headers: Headers | None = None,
    ) -> Message[Any]:
        """A message that arrived encoded: ``event`` is ``decoder(data)``, lazily."""
        envelope = _DEFAULT_DECODER if decoder is None else Envelope(decoder, foreign=True)
        return cls(topic, seq, None, envelope, headers, bytes(data))

    @property
    def event(self) -> E:
        """The event object (decoded from the bytes on first access if foreign)."""
        event = self.local
        if event is None and self.encoded is not None and self.envelope.foreign:
            event = self.local = self.envelope.codec(self.encoded)
        return event  # type: ignore[return-value]  # None only if None was published

    @property
    def data(self) -> bytes:
        """The encoded event (encoded on first access if published in this process)."""
        data = self.encoded
        if data is None:
            data = self.encoded = self.envelope.codec(self.local)
        return data

    @property
    def foreign(self) -> bool:
        """Whether the message arrived encoded (``publish_encoded*``)."""
        return self.envelope.foreign

    @property
    def group(self) -> int:
        """0 if the message was published alone, else the seq of the last message of
        the atomic group it was published in (``publish_many*``)."""
        return self.envelope.group
