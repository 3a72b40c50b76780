"""The NATS JetStream bridge: a node's events to JetStream, and from JetStream into a
node's databases, exactly once.

:class:`JetStreamForwarder` forwards chosen topics of a node's bus to one stream per
database; :class:`JetStreamConsumer` consumes a stream into the node's database.
"""

from __future__ import annotations

from ._consume_stats import ConsumerStatistics
from ._consumer import JetStreamConsumer
from ._errors import BridgeError, BridgeOptionError
from ._forward_stats import ForwarderStatistics
from ._forwarder import JetStreamForwarder
from ._names import stream_name

__all__ = [
    "BridgeError",
    "BridgeOptionError",
    "ConsumerStatistics",
    "ForwarderStatistics",
    "JetStreamConsumer",
    "JetStreamForwarder",
    "stream_name",
]
