"""What every part of the API server shares: the node, the options, the counters."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from .._node import Node
from ._options import ApiOptions
from ._readers import ReadState
from ._request_log import RequestLogStats

__all__ = ["ApiContext"]


@dataclass
class ApiContext:
    """The API server's state, handed to its route handlers (as the ``ctx``
    dependency) and to its middleware.

    :param node: the running node of the process (it hosts the ``api_server`` role in
        ``tradebus serve``; any node works for reads).
    :param options: the server's options.
    """

    node: Node  # imported at run time: Litestar resolves these annotations
    options: ApiOptions
    #: When the server started (ns since the epoch).
    started: int = field(default_factory=time.time_ns)
    #: The request log's counters (lines logged, dropped under backpressure, failed).
    request_log: RequestLogStats = field(default_factory=RequestLogStats)
    #: The read endpoints' read-only connections and cursor secret (see ``_readers``).
    reads: ReadState = field(init=False)

    def __post_init__(self) -> None:
        self.reads = ReadState(self.node.path, self.options.readers)
