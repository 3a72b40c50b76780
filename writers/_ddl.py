"""The numbered schema migrations of the three databases (``PRAGMA user_version``).

Migrations are only ever appended. The tables, their columns and indexes come from
the mappings (:mod:`writers._tables`), each with the version it came with; the rest is
hand-written SQLite (:mod:`writers._sqlite_rules`, :mod:`writers._sqlite_integrity`).

1. the tables (and the M5 candles view, the dead letters' index);
2. indexes for the queries users run;
3. the integrity triggers (and the indexes they search);
4. delivery between processes: the ``outbox`` (with the identity of this file's
   outbox, a random number in ``writer_state``), ``relay_cursors``, and where a dead
   letter a relay delivered came from;
5. the market services: the candles' completeness, revision and first and last
   tick times (and the M5 view with them); the tick import's ledger,
   ``tick_imports`` (main); the position monitor's tables, ``exit_rules``,
   ``oco_groups``, ``monitor_marks`` (main, with the replay guard of every event
   table).

Migration 3 makes the schema keep the meaning of what was stored, whatever arrives:

* A replay is a no-op: an event whose event_id is stored already, with the same
  content (compared column by column with ``IS``: NULLs are equal, floats exactly as
  stored), is skipped; with other content it is refused (the writer dead-letters it,
  with the table and the column that differs), and changes nothing.
* A key belongs to one event: a recommendation_id stored under another event_id, or
  an execution on a ticket another execution (another event_id) opened, is refused
  whatever its content, never skipped and never merged: an event acknowledged is an
  event stored under its own event_id. (A repeat of a committed call is the
  caller's to replay under the stored event_id.)
* A position closes once, and so does a recommendation: a close (another event_id)
  of a ticket or recommendation closed already is refused; the first close stored
  holds, whatever the event_ids.
* State follows event_id, never ts: a position takes its updates in event_id order (the
  ids of one process increase even when its wall clock steps back); a close is final:
  no later update reopens the position. A recommendation's status is its furthest
  stage (:data:`~writers._tables.RECOMMENDATION_STAGES`).
* Positions and recommendations change only from rows really inserted (AFTER INSERT
  triggers), so a skipped replay cannot touch them.
"""

from __future__ import annotations

from typing import Final

from ._monitor_tables import MONITOR_INTEGRITY
from ._sqlite_dialect import migrations
from ._sqlite_integrity import ANALYSIS_INTEGRITY, LOGS_INTEGRITY, MAIN_INTEGRITY
from ._sqlite_outbox import OUTBOX_IDENTITY
from ._sqlite_rules import CANDLES_V5, M5_CANDLES_VIEW
from ._tables import ANALYSIS_TABLES, LOGS_TABLES, MAIN_TABLES, WRITER_TABLES

__all__ = [
    "ANALYSIS_MIGRATIONS",
    "LOGS_MIGRATIONS",
    "MAIN_MIGRATIONS",
    "OUTBOX_MIGRATIONS",
    "SCHEMA_VERSION",
]

#: How many migrations each database has (its ``PRAGMA user_version`` when current).
SCHEMA_VERSION: Final = 5

MAIN_MIGRATIONS: Final = migrations(
    (*MAIN_TABLES, *WRITER_TABLES),
    {1: M5_CANDLES_VIEW, 3: MAIN_INTEGRITY, 4: OUTBOX_IDENTITY, 5: CANDLES_V5 + MONITOR_INTEGRITY},
    SCHEMA_VERSION,
)
ANALYSIS_MIGRATIONS: Final = migrations(
    (*ANALYSIS_TABLES, *WRITER_TABLES), {3: ANALYSIS_INTEGRITY, 4: OUTBOX_IDENTITY}, SCHEMA_VERSION
)
LOGS_MIGRATIONS: Final = migrations(
    (*LOGS_TABLES, *WRITER_TABLES), {3: LOGS_INTEGRITY, 4: OUTBOX_IDENTITY}, SCHEMA_VERSION
)
#: A file that holds only an outbox (a process that hosts no role writes one).
OUTBOX_MIGRATIONS: Final = migrations(WRITER_TABLES, {4: OUTBOX_IDENTITY}, SCHEMA_VERSION)
