"""Writer actors: exactly one writer per database (a SQLite file, or a PostgreSQL database).

A writer consumes its database's topics from the bus in batches and commits each
batch in one transaction; everyone else reads through :func:`open_reader`.
"""

from __future__ import annotations

from . import _queries as queries
from ._actor import WriterActor as WriterActor
from ._actor import WriterStatistics as WriterStatistics
from ._create import create_database as create_database
from ._exceptions import InvalidOption as InvalidOption
from ._exceptions import SchemaVersionError as SchemaVersionError
from ._exceptions import WriterError as WriterError
from ._exceptions import WriterLockError as WriterLockError
from ._files import open_regular_file as open_regular_file
from ._integrity import check_database as check_database
from ._lock import WriterLock as WriterLock
from ._lock import lock_path as lock_path
from ._options import check_writer_options as check_writer_options
from ._outbox_plan import TICKS_PER_ROW as TICKS_PER_ROW
from ._outbox_reader import OutboxReader as OutboxReader
from ._outbox_reader import OutboxRow as OutboxRow
from ._pg_store import PostgresStore as PostgresStore
from ._pg_writer import PostgresWriter as PostgresWriter
from ._prune_sql import Prunable as Prunable
from ._prune_sql import prunable as prunable
from ._pruner import Pruner as Pruner
from ._pruner import PruneReport as PruneReport
from ._pruner import PruneStatistics as PruneStatistics
from ._reader import ReadOnlyConnection as ReadOnlyConnection
from ._reader import open_reader as open_reader
from ._reader import reader_uri as reader_uri
from ._records import DeadLetter as DeadLetter
from ._records import PositionRecord as PositionRecord
from ._records import RecommendationRecord as RecommendationRecord
from ._retention import GROUPS as RETENTION_GROUPS
from ._retention import Retention as Retention
from ._specs import ANALYSIS as ANALYSIS
from ._specs import LOGS as LOGS
from ._specs import MAIN as MAIN
from ._specs import OUTBOX_SPEC as OUTBOX_SPEC
from ._specs import DatabaseSpec as DatabaseSpec
from ._sqlite import Synchronous as Synchronous
from ._tables import RECOMMENDATION_STAGES as RECOMMENDATION_STAGES
from ._writer_stats import BATCH_BUCKETS as BATCH_BUCKETS
from ._writer_stats import COMMIT_BUCKETS as COMMIT_BUCKETS

SPECS: tuple[DatabaseSpec, ...] = (MAIN, ANALYSIS, LOGS)

__all__ = [
    "ANALYSIS",
    "BATCH_BUCKETS",
    "COMMIT_BUCKETS",
    "LOGS",
    "MAIN",
    "OUTBOX_SPEC",
    "RECOMMENDATION_STAGES",
    "RETENTION_GROUPS",
    "SPECS",
    "TICKS_PER_ROW",
    "DatabaseSpec",
    "DeadLetter",
    "InvalidOption",
    "OutboxReader",
    "OutboxRow",
    "PositionRecord",
    "PostgresStore",
    "PostgresWriter",
    "Prunable",
    "PruneReport",
    "PruneStatistics",
    "Pruner",
    "ReadOnlyConnection",
    "RecommendationRecord",
    "Retention",
    "SchemaVersionError",
    "Synchronous",
    "WriterActor",
    "WriterError",
    "WriterLock",
    "WriterLockError",
    "WriterStatistics",
    "check_database",
    "check_writer_options",
    "create_database",
    "lock_path",
    "open_reader",
    "open_regular_file",
    "prunable",
    "queries",
    "reader_uri",
]
