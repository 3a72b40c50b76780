"""Retention: how long each group of tables keeps its rows, by event time.

A :class:`Retention` policy names, per group of tables, how many days of rows to keep
(``None``: forever). What is older than that (its event time, ``ts`` in ns, against
the wall clock) is deleted by the database's own writer, a bounded chunk per
transaction, between its ingest transactions (see :mod:`writers._pruner`).

Groups (each table of a group lives in one database):

* ``ticks``: ``unified_ticks`` (by ``ts``);
* ``candles``: ``candles`` (by ``ts_open``): kept forever unless named; the candles
  of pruned ticks stay;
* ``logs``: ``trade_monitoring``, ``trade_alerts``, ``api_logs``, ``system_health``;
* ``analysis``: ``trade_analysis``, ``analysis_results``;
* ``trades``: closed positions (``trade_positions`` by ``closed_ts``) with their
  ``trade_executions``, ``position_updates``, and the position monitor's
  ``exit_rules`` and ``monitor_marks`` of the ticket; an open position and its
  history are never pruned, whatever their age;
* ``recommendations``: ended recommendations (closed, rejected or expired, by
  ``updated_ts``: their last update) with their ``recommendation_updates``; a pending
  or executed one is never pruned.

Trade history is kept forever unless the policy names its group. The writer's own
tables (dead letters, the outbox, relay cursors, its state) are never pruned.
"""

from __future__ import annotations

import math
from typing import Final, NamedTuple

import msgspec

from ._exceptions import InvalidOption

__all__ = [
    "GROUPS",
    "HISTORIES",
    "NS_PER_DAY",
    "TARGETS",
    "History",
    "Retention",
    "Target",
]

NS_PER_DAY: Final = 86_400 * 1_000_000_000
_MAX_DAYS: Final = 36_500.0  # a century: more is a typo, not a policy
_MAX_CHUNK: Final = 100_000


class Target(NamedTuple):
    """A table a policy may prune, and how its rows are found in key order.

    ``partition``: the leading columns of the index that ends with ``time`` (walked
    value by value, each a range search), empty when ``time`` is indexed alone;
    ``key``: the columns naming one row (its primary key).
    """

    table: str
    group: str
    time: str
    key: tuple[str, ...]
    partition: tuple[str, ...] = ()


#: Every table a policy may prune, per group, in the order a pass prunes them.
TARGETS: Final = (
    Target("unified_ticks", "ticks", "ts", ("symbol", "ts", "seq"), ("symbol",)),
    Target("candles", "candles", "ts_open", ("symbol", "timeframe", "ts_open"),
           ("symbol", "timeframe")),
    Target("trade_monitoring", "logs", "ts", ("id",)),
    Target("trade_alerts", "logs", "ts", ("id",)),
    Target("api_logs", "logs", "ts", ("id",)),
    Target("system_health", "logs", "ts", ("id",), ("component",)),
    Target("trade_analysis", "analysis", "ts", ("id",), ("symbol",)),
    Target("analysis_results", "analysis", "ts", ("id",), ("kind",)),
)  # fmt: skip


class History(NamedTuple):
    """Trade history a policy may prune, one finished item at a time: the rows of
    ``parent`` that ``ended`` (an SQL condition) before the bound (by ``time``),
    each with every row of ``children`` of the same ``key``, in one transaction."""

    parent: str
    group: str
    key: str
    time: str
    ended: str
    children: tuple[str, ...]

    @property
    def tables(self) -> tuple[str, ...]:
        return (*self.children, self.parent)


#: The trade history a policy may prune (only when it names the group).
HISTORIES: Final = (
    History("trade_positions", "trades", "ticket", "closed_ts", "status = 'closed'",
            ("position_updates", "trade_executions", "exit_rules", "monitor_marks")),
    History("trade_recommendations", "recommendations", "recommendation_id", "updated_ts",
            "status IN ('closed', 'rejected', 'expired')", ("recommendation_updates",)),
)  # fmt: skip

#: The groups a policy names, with their tables.
GROUPS: Final = {
    **{
        group: tuple(t.table for t in TARGETS if t.group == group)
        for group in dict.fromkeys(t.group for t in TARGETS)
    },
    **{h.group: h.tables for h in HISTORIES},
}
#: The group of each table a policy may prune.
_GROUP_OF: Final = {table: group for group, tables in GROUPS.items() for table in tables}


def _check_days(field: str, value: object) -> None:
    allowed = f"a number of days > 0 and <= {_MAX_DAYS:g}, or None (keep forever)"
    if value is None:
        return
    if type(value) not in (int, float):
        raise InvalidOption(field, value, allowed)
    days = float(value)  # type: ignore[arg-type]  # an int or a float, checked above
    if not math.isfinite(days) or not 0 < days <= _MAX_DAYS:
        raise InvalidOption(field, value, allowed)


class Retention(msgspec.Struct, frozen=True, kw_only=True):
    """How long each group of tables keeps its rows (days; ``None``: forever).

    Nothing is pruned unless a group is named: a policy with every group ``None``
    (the default) keeps everything. ``Retention(ticks=30, logs=90)`` keeps raw ticks
    30 days, the log tables 90 days, and candles and trade history forever.

    :param ticks: days of ``unified_ticks`` kept (by the tick's ``ts``).
    :param candles: days of ``candles`` kept (by ``ts_open``); default forever.
    :param logs: days of ``trade_monitoring``, ``trade_alerts``, ``api_logs`` and
        ``system_health`` kept (by ``ts``).
    :param analysis: days of ``trade_analysis`` and ``analysis_results`` kept.
    :param trades: days a closed position (with its execution, updates, exit rules
        and monitor marks) is kept after its close; default forever. Open positions
        are never pruned.
    :param recommendations: days an ended recommendation (closed, rejected,
        expired; with its updates) is kept after its last update; default forever.
    :param chunk: the most rows one prune transaction deletes (ingest waits behind
        at most one chunk).
    :param every: seconds between two prune passes of a running writer (its first
        pass starts at once).
    :param share: the largest share of the writer's time pruning may take while
        it has a backlog to delete: after a chunk that took ``t`` seconds the pruner
        rests ``t * (1 - share) / share`` (0.25: at least three quarters are ingest's).

    :raises InvalidOption: naming the field, the value and what is allowed.
    """

    ticks: float | None = None
    candles: float | None = None
    logs: float | None = None
    analysis: float | None = None
    trades: float | None = None
    recommendations: float | None = None
    chunk: int = 2_000
    every: float = 3_600.0
    share: float = 0.25

    def __post_init__(self) -> None:
        for group in GROUPS:
            _check_days(group, getattr(self, group))
        if type(self.chunk) is not int or not 1 <= self.chunk <= _MAX_CHUNK:
            raise InvalidOption("chunk", self.chunk, f"an int from 1 to {_MAX_CHUNK}")
        every = self.every
        if type(every) not in (int, float) or not math.isfinite(every) or every <= 0:
            raise InvalidOption("every", every, "a finite number of seconds > 0")
        share = self.share
        if type(share) not in (int, float) or not 0 < share <= 1:
            raise InvalidOption("share", share, "a number > 0 and <= 1")

    @property
    def enabled(self) -> bool:
        """Whether any group is pruned at all."""
        return any(getattr(self, group) is not None for group in GROUPS)

    def days(self, table: str) -> float | None:
        """The days ``table`` keeps (``None``: forever, or not a table it prunes)."""
        group = _GROUP_OF.get(table)
        value: float | None = None if group is None else getattr(self, group)
        return value

    def bounds(self, tables: tuple[str, ...], now: int) -> dict[str, int]:
        """Per table of ``tables`` that this policy prunes: the event time (ns) below
        which its rows go, given the wall clock ``now`` (ns)."""
        bounds = {}
        for table in _GROUP_OF:
            days = self.days(table)
            if table in tables and days is not None:
                bounds[table] = now - round(days * NS_PER_DAY)
        return bounds

    def describe(self) -> str:
        """The policy in words, for logs and the CLI."""
        kept = [
            f"{group} {_days(getattr(self, group))}"
            for group in GROUPS
            if getattr(self, group) is not None
        ]
        if not kept:
            return "keep everything (no group named)"
        return "keep " + ", ".join(kept) + "; everything else forever"


def _days(days: float) -> str:
    """``days`` in the largest unit that says it whole: 30 days, 12 hours, 90 seconds."""
    seconds = days * 86_400
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60), ("second", 1)):
        n = seconds / size
        if n >= 1 and abs(n - round(n)) < 1e-9:
            n = round(n)
            return f"{n} {unit}" + ("" if n == 1 else "s")
    return f"{days:g} days"
