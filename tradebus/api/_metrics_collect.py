"""The figures ``GET /metrics`` exposes, built at scrape time from a snapshot: this
node's writers and relays (live), every process of the data directory (through the
status file) and the HTTP server's requests."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import NamedTuple

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from writers import BATCH_BUCKETS, COMMIT_BUCKETS

from .._data_dir import NodeStatistics
from .._status import ProcessState, ProcessStatus, StatusFile
from ._metrics_http import DURATION_BUCKETS, HttpStats

__all__ = ["CLIENT_ROLE", "MetricsCollector", "Snapshot", "role_label"]

#: The ``role`` label of a process hosting no role (a client node).
CLIENT_ROLE = "client"
_STATES: tuple[ProcessState, ...] = ("running", "stopping", "stopped", "dead")


class Snapshot(NamedTuple):
    """What one scrape reports, taken on the node's event loop."""

    #: This node's counters (its writers, relays and bus).
    node: NodeStatistics
    #: This process's id in the status file ("" when it keeps no entry).
    own_id: str
    #: This process's roles, as its ``role`` label (``client`` when none).
    own_role: str
    #: The status file; None when it could not be read (see ``status_error``).
    status: StatusFile | None
    status_error: str | None
    #: The HTTP server's start (ns since the epoch) and the time of the scrape.
    started: int
    now: int
    #: The request log's lines: logged, dropped (no room on the bus), failed.
    request_log: tuple[int, int, int] = (0, 0, 0)


def role_label(roles: Iterable[str]) -> str:
    """The ``role`` label of a process hosting ``roles``."""
    return ",".join(roles) or CLIENT_ROLE


def _role(entry: ProcessStatus) -> str:
    return role_label(entry.roles)


def _histogram_buckets(bounds: Sequence[float], counts: Sequence[int]) -> list[tuple[str, float]]:
    """Per-bucket counts (the last one past every bound) as cumulative ``le`` buckets."""
    if not counts:
        counts = [0] * (len(bounds) + 1)
    cumulative, total = [], 0
    for bound, count in zip((*(repr(float(b)) for b in bounds), "+Inf"), counts, strict=True):
        total += count
        cumulative.append((bound, float(total)))
    return cumulative


class MetricsCollector(Collector):
    """One collector for every figure; :meth:`load` a snapshot before each scrape."""

    def __init__(self, http: HttpStats) -> None:
        self.http = http
        self.snapshot: Snapshot | None = None

    def load(self, snapshot: Snapshot | None) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterable[Metric]:
        snapshot = self.snapshot
        if snapshot is None:
            return
        yield from self._server(snapshot)
        yield from self._writers(snapshot.node)
        yield from self._relays(snapshot)
        yield from self._processes(snapshot)
        yield from self._http()

    def _server(self, snapshot: Snapshot) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "tradebus_api_start_time_seconds",
            "When the API server started (seconds since the Unix epoch).",
            value=snapshot.started / 1e9,
        )
        yield CounterMetricFamily(
            "tradebus_bus_published_events",
            "Events published on this process's bus since it started.",
            value=snapshot.node.bus.published,
        )
        lines = CounterMetricFamily(
            "tradebus_api_request_log_lines",
            "Request log lines (api_logs rows) by outcome: logged (published), dropped "
            "(the bus had no room: backpressure), failed (the bus refused them).",
            labels=["outcome"],
        )
        for outcome, count in zip(
            ("logged", "dropped", "failed"), snapshot.request_log, strict=True
        ):
            lines.add_metric([outcome], count)
        yield lines
        yield GaugeMetricFamily(
            "tradebus_status_file_readable",
            "1 if the data directory's status file (the other processes' figures) "
            "could be read at this scrape, else 0 (the server's log says why).",
            value=0 if snapshot.status is None else 1,
        )

    def _writers(self, node: NodeStatistics) -> Iterator[Metric]:
        """This process's writers, live (``database``: main, analysis, logs, ...)."""
        db = ["database"]
        events = CounterMetricFamily(
            "tradebus_writer_events", "Events committed by this process's writer.", labels=db
        )
        rows = CounterMetricFamily(
            "tradebus_writer_rows",
            "Rows written per table by this process's writer (inserted or updated).",
            labels=["database", "table"],
        )
        pruned = CounterMetricFamily(
            "tradebus_writer_pruned_rows",
            "Rows deleted per table by retention in this process.",
            labels=["database", "table"],
        )
        retries = CounterMetricFamily(
            "tradebus_writer_retries", "Transient failures the writer retried.", labels=db
        )
        dead = CounterMetricFamily(
            "tradebus_writer_dead_letters",
            "Events the writer refused as unstorable (kept in dead_letters).",
            labels=db,
        )
        pending = GaugeMetricFamily(
            "tradebus_writer_queue_depth_events",
            "Events waiting for the writer or being written.",
            labels=db,
        )
        wal = GaugeMetricFamily(
            "tradebus_writer_wal_frames", "Frames in the database's WAL file.", labels=db
        )
        failing = GaugeMetricFamily(
            "tradebus_writer_failing",
            "1 while the writer's last attempt failed (it retries), else 0.",
            labels=db,
        )
        commits = HistogramMetricFamily(
            "tradebus_writer_commit_duration_seconds",
            "How long the writer's transactions took.",
            labels=db,
        )
        batches = HistogramMetricFamily(
            "tradebus_writer_batch_size_events",
            "Events per transaction of the writer.",
            labels=db,
        )
        for name, stats in sorted(node.writers.items()):
            label = [name]
            events.add_metric(label, stats.events)
            for table, n in sorted(stats.rows.items()):
                rows.add_metric([name, table], n)
            for table, n in sorted(stats.pruned.items()):
                pruned.add_metric([name, table], n)
            retries.add_metric(label, stats.retries)
            dead.add_metric(label, stats.dead_letters)
            pending.add_metric(label, stats.pending)
            wal.add_metric(label, stats.wal_frames)
            failing.add_metric(label, 0 if stats.last_error is None else 1)
            commits.add_metric(
                label,
                _histogram_buckets(COMMIT_BUCKETS, stats.commit_buckets),
                stats.commit_seconds,
            )
            batches.add_metric(
                label, _histogram_buckets(BATCH_BUCKETS, stats.batch_buckets), stats.events
            )
        yield from (events, rows, pruned, retries, dead, pending, wal, failing, commits, batches)

    def _relays(self, snapshot: Snapshot) -> Iterator[Metric]:
        """Every relay of every live process: this one's live, the others' as their
        last heartbeat wrote them."""
        labels = ["process", "role", "relay", "source", "database"]
        lag = GaugeMetricFamily(
            "tradebus_relay_lag_events",
            "Events of the relay's source not committed in its database yet.",
            labels=labels,
        )
        lag_seconds = GaugeMetricFamily(
            "tradebus_relay_lag_seconds",
            "How long the oldest event not yet committed has waited (0 when none).",
            labels=labels,
        )
        delivered = CounterMetricFamily(
            "tradebus_relay_delivered_events",
            "Events the relay delivered since its process started.",
            labels=labels,
        )
        cursor = GaugeMetricFamily(
            "tradebus_relay_cursor",
            "The last outbox position the relay committed.",
            labels=labels,
        )
        for entry in _live(snapshot.status):
            if entry.id == snapshot.own_id:
                continue  # live below
            for key, relay in sorted(entry.relays.items()):
                values = [entry.id, _role(entry), key, relay.source, relay.database]
                lag.add_metric(values, relay.pending)
                lag_seconds.add_metric(values, relay.lag_seconds)
                delivered.add_metric(values, relay.delivered)
                cursor.add_metric(values, relay.cursor)
        for key, live in sorted(snapshot.node.relays.items()):
            values = [snapshot.own_id, snapshot.own_role, key, live.source, live.database]
            lag.add_metric(values, live.pending)
            lag_seconds.add_metric(values, live.lag_seconds)
            delivered.add_metric(values, live.delivered)
            cursor.add_metric(values, live.cursor)
        yield from (lag, lag_seconds, delivered, cursor)

    def _processes(self, snapshot: Snapshot) -> Iterator[Metric]:
        """Every process of the status file (live, stopped and dead ones)."""
        labels = ["process", "role"]
        up = GaugeMetricFamily(
            "tradebus_process_up",
            "1 while the process runs (state running), else 0.",
            labels=labels,
        )
        state = GaugeMetricFamily(
            "tradebus_process_state",
            "1 for the process's state (running, stopping, stopped, dead), 0 for the others.",
            labels=[*labels, "state"],
        )
        age = GaugeMetricFamily(
            "tradebus_process_heartbeat_age_seconds",
            "Seconds since the process's latest heartbeat, at this scrape.",
            labels=labels,
        )
        start = GaugeMetricFamily(
            "tradebus_process_start_time_seconds",
            "When the process's node started (seconds since the Unix epoch).",
            labels=labels,
        )
        events = CounterMetricFamily(
            "tradebus_process_events_written",
            "Events committed by all the process's writers (as of its latest heartbeat).",
            labels=labels,
        )
        rows = CounterMetricFamily(
            "tradebus_process_rows_written",
            "Rows written by all the process's writers (as of its latest heartbeat).",
            labels=labels,
        )
        wlabels = [*labels, "database"]
        w_events = CounterMetricFamily(
            "tradebus_process_writer_events",
            "Events committed by one writer of the process (as of its latest heartbeat).",
            labels=wlabels,
        )
        w_rows = CounterMetricFamily(
            "tradebus_process_writer_rows",
            "Rows written by one writer of the process (all tables).",
            labels=wlabels,
        )
        w_pending = GaugeMetricFamily(
            "tradebus_process_writer_queue_depth_events",
            "Events waiting for one writer of the process or being written.",
            labels=wlabels,
        )
        w_retries = CounterMetricFamily(
            "tradebus_process_writer_retries",
            "Transient failures one writer of the process retried.",
            labels=wlabels,
        )
        w_dead = CounterMetricFamily(
            "tradebus_process_writer_dead_letters",
            "Events one writer of the process refused as unstorable.",
            labels=wlabels,
        )
        w_retrying = GaugeMetricFamily(
            "tradebus_process_writer_retrying",
            "1 while the writer's last attempt failed and it backs off, else 0.",
            labels=wlabels,
        )
        entries = [] if snapshot.status is None else snapshot.status.processes.values()
        for entry in sorted(entries, key=lambda e: (e.started, e.id)):
            values = [entry.id, _role(entry)]
            up.add_metric(values, 1 if entry.state == "running" else 0)
            for name in _STATES:
                state.add_metric([*values, name], 1 if entry.state == name else 0)
            age.add_metric(values, max(0.0, (snapshot.now - entry.heartbeat) / 1e9))
            start.add_metric(values, entry.started / 1e9)
            events.add_metric(values, entry.events_written)
            rows.add_metric(values, entry.rows_written)
            for database, writer in sorted(entry.writers.items()):
                wvalues = [*values, database]
                w_events.add_metric(wvalues, writer.events)
                w_rows.add_metric(wvalues, writer.rows)
                w_pending.add_metric(wvalues, writer.pending)
                w_retries.add_metric(wvalues, writer.retries)
                w_dead.add_metric(wvalues, writer.dead_letters)
                w_retrying.add_metric(wvalues, 1 if writer.state == "retrying" else 0)
        yield from (up, state, age, start, events, rows)
        yield from (w_events, w_rows, w_pending, w_retries, w_dead, w_retrying)

    def _http(self) -> Iterator[Metric]:
        labels = ["method", "path", "status"]
        requests = CounterMetricFamily(
            "tradebus_http_requests",
            "HTTP requests answered, by method, route template and status.",
            labels=labels,
        )
        durations = HistogramMetricFamily(
            "tradebus_http_request_duration_seconds",
            "How long HTTP requests took, from arrival to the response's last byte.",
            labels=labels,
        )
        for key, series in sorted(self.http.series.items()):
            requests.add_metric(list(key), series.count)
            durations.add_metric(
                list(key), _histogram_buckets(DURATION_BUCKETS, series.buckets), series.seconds
            )
        yield requests
        yield durations
        yield GaugeMetricFamily(
            "tradebus_http_requests_in_progress",
            "HTTP requests being answered now (this scrape among them).",
            value=self.http.in_progress,
        )


def _live(status: StatusFile | None) -> list[ProcessStatus]:
    if status is None:
        return []
    return [p for p in status.processes.values() if p.state in ("running", "stopping")]
