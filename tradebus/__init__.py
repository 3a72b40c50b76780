"""tradebus: persist a trading system's event stream into SQLite, one writer per file.

The application layer: the topology of roles and databases, the node that wires the
bus and the writers, the trade-integration API and the ``tradebus`` CLI.
"""

from __future__ import annotations

from ._awaited import IntegrationCall as IntegrationCall
from ._exceptions import AccessDenied as AccessDenied
from ._exceptions import AlreadyRecorded as AlreadyRecorded
from ._exceptions import NoRoute as NoRoute
from ._exceptions import NotDelivered as NotDelivered
from ._exceptions import ReferenceRefused as ReferenceRefused
from ._exceptions import StaleUpdate as StaleUpdate
from ._exceptions import TradebusError as TradebusError
from ._exceptions import UnknownReference as UnknownReference
from ._integration import TradeIntegration as TradeIntegration
from ._integration import outcome_of as outcome_of
from ._monitor import MonitorStatistics as MonitorStatistics
from ._monitor import PositionMonitor as PositionMonitor
from ._node import Node as Node
from ._node import NodeStatistics as NodeStatistics
from ._open_node import open_node as open_node
from ._relay_stats import RelayStatistics as RelayStatistics
from ._status import ProcessStatus as ProcessStatus
from ._status import RelayLag as RelayLag
from ._status import StatusFile as StatusFile
from ._status import WriterHealth as WriterHealth
from ._status_file import read_status as read_status
from ._status_reporter import StatusReporter as StatusReporter
from ._sync import SyncTradeIntegration as SyncTradeIntegration
from ._sync import get_trade_integration as get_trade_integration
from ._topology import DEFAULT_ROLES as DEFAULT_ROLES
from ._topology import Topology as Topology

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_ROLES",
    "AccessDenied",
    "AlreadyRecorded",
    "IntegrationCall",
    "MonitorStatistics",
    "NoRoute",
    "Node",
    "NodeStatistics",
    "NotDelivered",
    "PositionMonitor",
    "ProcessStatus",
    "ReferenceRefused",
    "RelayLag",
    "RelayStatistics",
    "StaleUpdate",
    "StatusFile",
    "StatusReporter",
    "SyncTradeIntegration",
    "Topology",
    "TradeIntegration",
    "TradebusError",
    "UnknownReference",
    "WriterHealth",
    "__version__",
    "get_trade_integration",
    "open_node",
    "outcome_of",
    "read_status",
]
