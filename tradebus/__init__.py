"""tradebus: persist a trading system's event stream into SQLite, one writer per file.

The application layer: the topology of roles and databases, the node that wires the
bus and the writers, the trade-integration API and the ``tradebus`` CLI.
"""

from __future__ import annotations

from writers import Pruner as Pruner
from writers import Retention as Retention

from ._awaited import IntegrationCall as IntegrationCall
from ._candles import CandleService as CandleService
from ._candles import CandleStatistics as CandleStatistics
from ._candles_options import DEFAULT_TIMEFRAMES as DEFAULT_TIMEFRAMES
from ._candles_options import check_candle_options as check_candle_options
from ._contracts import DEFAULT_CONTRACT as DEFAULT_CONTRACT
from ._contracts import ContractSizes as ContractSizes
from ._exceptions import AccessDenied as AccessDenied
from ._exceptions import AlreadyRecorded as AlreadyRecorded
from ._exceptions import NoRoute as NoRoute
from ._exceptions import NotDelivered as NotDelivered
from ._exceptions import ReferenceRefused as ReferenceRefused
from ._exceptions import StaleUpdate as StaleUpdate
from ._exceptions import TradebusError as TradebusError
from ._exceptions import UnknownReference as UnknownReference
from ._import import ImportResult as ImportResult
from ._import import import_ticks as import_ticks
from ._import_run import RowError as RowError
from ._import_time import TickImportError as TickImportError
from ._integration import TradeIntegration as TradeIntegration
from ._integration import outcome_of as outcome_of
from ._journal import Journal as Journal
from ._journal import JournalEntry as JournalEntry
from ._journal import JournalError as JournalError
from ._journal import JournalSummary as JournalSummary
from ._journal import closed_trades as closed_trades
from ._journal import journal as journal
from ._monitor import MonitorStatistics as MonitorStatistics
from ._monitor import PositionMonitor as PositionMonitor
from ._node import Node as Node
from ._node import NodeStatistics as NodeStatistics
from ._open_node import open_node as open_node
from ._relay_stats import RelayStatistics as RelayStatistics
from ._retention import RetentionService as RetentionService
from ._retention import retention_service as retention_service
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
    "DEFAULT_CONTRACT",
    "DEFAULT_ROLES",
    "DEFAULT_TIMEFRAMES",
    "AccessDenied",
    "AlreadyRecorded",
    "CandleService",
    "CandleStatistics",
    "ContractSizes",
    "ImportResult",
    "IntegrationCall",
    "Journal",
    "JournalEntry",
    "JournalError",
    "JournalSummary",
    "MonitorStatistics",
    "NoRoute",
    "Node",
    "NodeStatistics",
    "NotDelivered",
    "PositionMonitor",
    "ProcessStatus",
    "Pruner",
    "ReferenceRefused",
    "RelayLag",
    "RelayStatistics",
    "Retention",
    "RetentionService",
    "RowError",
    "StaleUpdate",
    "StatusFile",
    "StatusReporter",
    "SyncTradeIntegration",
    "TickImportError",
    "Topology",
    "TradeIntegration",
    "TradebusError",
    "UnknownReference",
    "WriterHealth",
    "__version__",
    "check_candle_options",
    "closed_trades",
    "get_trade_integration",
    "import_ticks",
    "journal",
    "open_node",
    "outcome_of",
    "read_status",
    "retention_service",
]
