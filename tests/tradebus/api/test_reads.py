"""The read endpoints over data written beforehand: what each answers, and its pages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from tradebus import open_node

from ._read_data import EURUSD_TICKS, T0, S, bid, tick, write_data
from ._server import ServerProcess, serve

API = "/api/v1"


@pytest.fixture(scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ServerProcess]:
    data_dir = tmp_path_factory.mktemp("reads") / "data"
    await write_data(data_dir)
    # The api_server role without its app: the app's watch of the trades would log
    # monitoring and alerts of its own for the data's trades, at any moment.
    api_only = ("run", "--role", "api_server", "--http", "127.0.0.1:0")
    async with serve(data_dir, command=api_only) as served:
        yield served


@pytest.fixture
async def client(server: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with server.client() as http:
        yield http


async def _ok(client: httpx.AsyncClient, path: str, **params: Any) -> Any:
    response = await client.get(API + path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def _all_pages(client: httpx.AsyncClient, path: str, **params: Any) -> list[list[Any]]:
    pages: list[list[Any]] = []
    cursor = None
    while True:
        extra: dict[str, str] = {} if cursor is None else {"cursor": cursor}
        body = await _ok(client, path, **params, **extra)
        pages.append(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages


async def test_ticks_come_newest_first_with_both_times(client: httpx.AsyncClient) -> None:
    body = await _ok(client, "/ticks", symbol="EURUSD", limit=2)
    assert [t["ts"] for t in body["items"]] == [T0 + 249 * S, T0 + 248 * S]
    first = body["items"][0]
    assert first["time"] == "2026-01-01T00:04:09.000000000Z"
    assert (first["symbol"], first["bid"], first["ask"]) == ("EURUSD", bid(249), tick(249).ask)
    assert body["next_cursor"] is not None


async def test_ticks_oldest_first_in_a_time_range(client: httpx.AsyncClient) -> None:
    start, end = "2026-01-01T00:00:10Z", T0 + 13 * S
    body = await _ok(client, "/ticks", symbol="EURUSD", order="asc", start=start, end=end)
    assert [t["bid"] for t in body["items"]] == [bid(10), bid(11), bid(12)]
    assert body["next_cursor"] is None


async def test_tick_pages_together_are_every_tick_once(client: httpx.AsyncClient) -> None:
    pages = await _all_pages(client, "/ticks", symbol="EURUSD", limit=7)
    assert all(len(page) <= 7 for page in pages)
    stamps = [t["ts"] for page in pages for t in page]
    assert stamps == [T0 + i * S for i in reversed(range(EURUSD_TICKS))]


async def test_tick_pages_hold_while_ticks_are_added_between_them(
    server: ServerProcess, client: httpx.AsyncClient
) -> None:
    data_dir = Path(server.log.parent / "data")
    async with open_node(data_dir, roles=["chatgpt_bot"], monitor=None, candles=()) as bot:
        for i in range(30):
            await bot.bus.publish(tick(i, "XAUUSD"), wait=True)
        seen: list[int] = []
        cursor = None
        added = 30
        while True:
            extra: dict[str, str] = {} if cursor is None else {"cursor": cursor}
            body = await _ok(client, "/ticks", symbol="XAUUSD", limit=4, **extra)
            seen += [t["ts"] for t in body["items"]]
            cursor = body["next_cursor"]
            if cursor is None:
                break
            # newer ticks, and ticks of the same times as the ones read (a later seq)
            await bot.bus.publish(tick(added, "XAUUSD"), wait=True)
            await bot.bus.publish(tick(29, "XAUUSD"), wait=True)
            added += 1
    assert seen == [T0 + i * S for i in reversed(range(30))]


async def test_candles_pages_go_back_in_time_each_oldest_first(client: httpx.AsyncClient) -> None:
    pages = await _all_pages(client, "/candles", symbol="EURUSD", timeframe="M1", limit=2)
    assert [[c["opened_at"][11:16] for c in page] for page in pages] == [
        ["00:03", "00:04"],
        ["00:01", "00:02"],
        ["00:00"],
    ]
    bars = [c for page in reversed(pages) for c in page]
    assert [c["tick_count"] for c in bars] == [60, 60, 60, 60, 10]
    assert (bars[0]["open"], bars[0]["high"], bars[0]["close"]) == (bid(0), bid(59), bid(59))
    assert [c["complete"] for c in bars] == [True, True, True, True, False]
    assert bars[0]["first_tick_at"] == "2026-01-01T00:00:00.000000000Z"


async def test_candles_of_a_range(client: httpx.AsyncClient) -> None:
    body = await _ok(
        client,
        "/candles",
        symbol="EURUSD",
        timeframe="M1",
        start="2026-01-01T00:01:00Z",
        end="2026-01-01T00:03:00Z",
    )
    assert [c["ts_open"] for c in body["items"]] == [T0 + 60 * S, T0 + 120 * S]


async def test_symbols_with_their_latest_tick(client: httpx.AsyncClient) -> None:
    body = await _ok(client, "/symbols")
    latest = {s["symbol"]: s for s in body["items"]}
    assert latest["EURUSD"]["bid"] == bid(249)
    assert latest["EURUSD"]["ts"] == T0 + 249 * S
    assert latest["GBPUSD"]["ts"] == T0 + 2 * S
    pages = await _all_pages(client, "/symbols", limit=1)
    assert [page[0]["symbol"] for page in pages] == [s["symbol"] for s in body["items"]]


async def test_open_positions_carry_the_pnl_of_the_latest_tick(client: httpx.AsyncClient) -> None:
    body = await _ok(client, "/positions", state="open")
    by_ticket = {p["ticket"]: p for p in body["items"]}
    assert list(by_ticket) == [104, 101]
    buy, sell = by_ticket[101], by_ticket[104]
    assert buy["mark_price"] == bid(249)  # a BUY closes at the bid
    assert buy["unrealized_pnl"] == pytest.approx((bid(249) - 1.1) * 2.0)
    assert buy["mark_at"] == "2026-01-01T00:04:09.000000000Z"
    assert sell["mark_price"] == tick(2, "GBPUSD").ask  # a SELL closes at the ask
    assert sell["unrealized_pnl"] == pytest.approx((1.2 - tick(2, "GBPUSD").ask) * 3.0)
    assert buy["state"] == "open"
    assert buy["realized_pnl"] is None
    assert buy["outcome"] is None


async def test_closed_positions_carry_their_realized_pnl(client: httpx.AsyncClient) -> None:
    body = await _ok(client, "/positions", state="closed")
    got = [(p["ticket"], p["realized_pnl"], p["outcome"]) for p in body["items"]]
    assert got == [(105, 2.5, "win"), (103, 10.0, "win"), (102, -5.0, "loss")]
    assert all(p["unrealized_pnl"] is None and p["closed_at"] for p in body["items"])
    pages = await _all_pages(client, "/positions", limit=2)
    assert [p["ticket"] for page in pages for p in page] == [105, 104, 103, 102, 101]


async def test_one_position_and_a_missing_one(client: httpx.AsyncClient) -> None:
    one = await _ok(client, "/positions/102")
    assert (one["direction"], one["close_price"], one["outcome"]) == ("SELL", 1.105, "loss")
    missing = await client.get(f"{API}/positions/999")
    assert missing.status_code == 404
    assert missing.json() == {"status_code": 404, "detail": "no position with ticket 999"}


async def test_executions_newest_first_by_symbol(client: httpx.AsyncClient) -> None:
    body = await _ok(client, "/executions")
    assert [e["ticket"] for e in body["items"]] == [105, 104, 103, 102, 101]
    assert body["items"][0]["time"] == "2026-01-01T00:00:50.000000000Z"
    eur = await _all_pages(client, "/executions", symbol="EURUSD", limit=1)
    assert [page[0]["ticket"] for page in eur] == [105, 102, 101]
    early = await _ok(client, "/executions", end=T0 + 30 * S)
    assert [e["ticket"] for e in early["items"]] == [102, 101]


async def test_recommendations_with_their_outcome(client: httpx.AsyncClient) -> None:
    closed = (await _ok(client, "/recommendations", status="closed"))["items"]
    assert [(r["symbol"], r["ticket"], r["outcome"], r["realized_pnl"]) for r in closed] == [
        ("GBPUSD", 103, "win", 10.0)
    ]
    assert closed[0]["pnl_from"] == "recommendation"
    executed = (await _ok(client, "/recommendations", status="executed"))["items"]
    by_ticket = {r["ticket"]: r for r in executed}
    assert by_ticket[101]["outcome"] is None  # still open
    settled = by_ticket[105]  # closed through its position only
    assert (settled["outcome"], settled["realized_pnl"], settled["pnl_from"]) == (
        "win",
        2.5,
        "position",
    )
    pending = (await _ok(client, "/recommendations", status="pending", symbol="EURUSD"))["items"]
    assert [r["direction"] for r in pending] == ["SELL"]
    pages = await _all_pages(client, "/recommendations", limit=3)
    assert [len(page) for page in pages] == [3, 1]
    ids = [r["recommendation_id"] for page in pages for r in page]
    assert len(set(ids)) == 4


async def test_the_journal_of_a_trade(client: httpx.AsyncClient) -> None:
    body = await _ok(client, "/journal/103")
    summary = body["summary"]
    assert (summary["status"], summary["pnl"], summary["outcome"]) == ("closed", 10.0, "win")
    assert summary["opened_at"] == "2026-01-01T00:00:30.000000000Z"
    kinds = [e["kind"] for e in body["entries"]]
    assert {"recommendation", "execution", "close", "outcome"} <= set(kinds)
    stamps = [e["ts"] for e in body["entries"]]
    assert stamps == sorted(stamps)
    assert body["entries_total"] == len(body["entries"])
    first = await _ok(client, "/journal/103", limit=2)
    assert first["entries"] == body["entries"][:2]
    assert first["entries_total"] == body["entries_total"]
    missing = await client.get(f"{API}/journal/999")
    assert missing.status_code == 404
    assert missing.json()["detail"] == "no trade with ticket 999"


async def test_monitoring_newest_first_in_pages(client: httpx.AsyncClient) -> None:
    pages = await _all_pages(client, "/monitoring", ticket=101, limit=2)
    assert [len(page) for page in pages] == [2, 2, 1]
    assert [m["status"] for page in pages for m in page] == [f"step {i}" for i in range(4, -1, -1)]
    every = [m for page in pages for m in page]
    mark = every[1]  # (events logged in one millisecond share their ts)
    later = await _ok(client, "/monitoring", ticket=101, since=mark["time"])
    expected = [m["event_id"] for m in every if m["ts"] >= mark["ts"]]
    assert [m["event_id"] for m in later["items"]] == expected
    assert len(expected) < len(every) or every[-1]["ts"] == mark["ts"]


async def test_alerts_by_severity_and_type(client: httpx.AsyncClient) -> None:
    # (the server's own watch adds alerts of its own meanwhile: closed trades, ...)
    critical = (await _ok(client, "/alerts", severity="critical"))["items"]
    assert "feed lost" in [a["message"] for a in critical]
    assert {a["severity"] for a in critical} == {"critical"}
    risk = (await _ok(client, "/alerts", type="risk", severity="warning"))["items"]
    assert "drawdown 2%" in [a["message"] for a in risk]
    assert {(a["alert_type"], a["severity"]) for a in risk} == {("risk", "warning")}
    assert "feed lost" not in [a["message"] for a in risk]
    gbp = (await _ok(client, "/alerts", symbol="GBPUSD", ticket=103, type="profit"))["items"]
    assert "half way" in [a["message"] for a in gbp]


async def test_health_is_each_components_latest_report(client: httpx.AsyncClient) -> None:
    body = await _ok(client, "/health")
    latest = {h["component"]: h for h in body["items"]}
    assert latest["test.feed"]["status"] == "degraded"
    assert latest["test.feed"]["details"] == {"lag_ms": 900}
    assert latest["test.bot"]["status"] == "ok"
    names = [h["component"] for h in body["items"]]
    assert names == sorted(names)


async def test_processes_from_the_status_file(
    server: ServerProcess, client: httpx.AsyncClient
) -> None:
    with anyio.fail_after(30):  # its entry says where it serves once its next write is done
        while True:
            body = await _ok(client, "/processes", state="running")
            mine = [p for p in body["items"] if p["pid"] == server.process.pid]
            if mine and mine[0]["http"] is not None:
                break
            await anyio.sleep(0.05)
    assert len(mine) == 1
    assert mine[0]["http"] == server.url
    assert mine[0]["roles"] == ["api_server"]
    assert mine[0]["heartbeat_age"] >= 0
    assert mine[0]["heartbeat_at"].endswith("Z")
    assert "logs" in mine[0]["writers"]
    assert mine[0]["writers"]["logs"]["pruned"] == 0  # no retention policy
    assert all(p["state"] == "running" for p in body["items"])


async def test_iso_times_are_read_to_the_nanosecond(client: httpx.AsyncClient) -> None:
    start, end = "2026-01-01T00:00:09.999999999Z", "2026-01-01T01:00:10.000000001+01:00"
    body = await _ok(client, "/ticks", symbol="EURUSD", start=start, end=end)
    assert [t["time"] for t in body["items"]] == ["2026-01-01T00:00:10.000000000Z"]
