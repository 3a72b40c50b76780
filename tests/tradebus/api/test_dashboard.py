"""The dashboard at ``/`` and the API docs at ``/api/v1/docs``, in a real browser
(the system's chromium, headless, driven by playwright) against a real ``tradebus
serve`` over a data directory holding three hours of ticks, open and closed positions,
alerts, monitoring events and health beats: what the pages show, their refresh, an
unreachable API, an empty data directory."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, expect

from ._dashboard import (
    ALERTS,
    CLOSED_TICKET,
    OPEN_TICKETS,
    SCREENS,
    SYMBOLS,
    TOKEN,
    Watch,
    needs_chromium,
)
from ._dashboard import open_page as _open
from ._dashboard import try_symbols as _try_symbols
from ._server import ServerProcess, serve

pytestmark = needs_chromium


def _same_origin(watch: Watch, base: str) -> list[str]:
    origin = urlsplit(base)
    return [
        url for url in watch.urls if urlsplit(url)[:2] != origin[:2] and not url.startswith("data:")
    ]


async def _get(dashboard_server: ServerProcess, path: str, **params: Any) -> Any:
    async with dashboard_server.client(TOKEN) as client:
        response = await client.get(path, params=params)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.mark.parametrize("screen", sorted(SCREENS))
async def test_the_dashboard_shows_positions_alerts_processes_and_a_candle_chart(
    dashboard_server: ServerProcess, browser: Browser, artifacts: Path, screen: str
) -> None:
    page, watch = await _open(browser, dashboard_server.url + "/", SCREENS[screen])
    try:
        # the open positions, with the P&L the API computed, signed and coloured
        positions = (await _get(dashboard_server, "/api/v1/positions", state="open"))["items"]
        assert sorted(p["ticket"] for p in positions) == sorted(OPEN_TICKETS)
        rows = page.locator("#positions tbody tr")
        await expect(rows).to_have_count(len(OPEN_TICKETS))
        for position in positions:
            row = page.locator(f'#positions tbody tr[data-ticket="{position["ticket"]}"]')
            await expect(row).to_contain_text(position["symbol"])
            await expect(row).to_contain_text(position["direction"])
            pnl = position["unrealized_pnl"]
            assert pnl is not None
            assert pnl != 0
            cell = row.locator("td.pnl")
            await expect(cell).to_have_class(re.compile(r"\bpos\b" if pnl > 0 else r"\bneg\b"))
            await expect(cell).to_have_text(re.compile(r"^\+" if pnl > 0 else "^\u2212"))
        await expect(page.locator(f'#positions tr[data-ticket="{CLOSED_TICKET}"]')).to_have_count(0)
        await expect(page.locator("#positions-count")).to_have_text(str(len(OPEN_TICKETS)))

        # the alerts and the monitoring events, newest first
        for _, _, message in ALERTS:
            await expect(page.locator("#alerts")).to_contain_text(message)
        shown = await page.locator("#alerts li").all_text_contents()
        order = [next(i for i, text in enumerate(shown) if m in text) for _, _, m in ALERTS]
        assert order == sorted(order, reverse=True)  # the last logged is shown first
        await expect(page.locator("#monitoring")).to_contain_text("trailing stop")
        await expect(page.locator("#monitoring")).to_contain_text("Stop moved to entry after +1R")

        # the processes (the server's own, running) and the components' health
        await expect(
            page.locator('#processes li[data-process="api_server"]').first
        ).to_contain_text("running")
        await expect(page.locator('#health li[data-component="tick_feed"]')).to_contain_text("ok")
        await expect(page.locator('#health li[data-component="strategy"]')).to_contain_text(
            "degraded"
        )

        # the chart: the first symbol's M1 candles, as many as the API has for that range
        symbols = [s["symbol"] for s in (await _get(dashboard_server, "/api/v1/symbols"))["items"]]
        assert sorted(symbols) == sorted(SYMBOLS)
        await expect(page.locator("#symbol")).to_have_value(symbols[0])
        chart = page.locator("#chart")
        await expect(chart).to_have_attribute("data-state", "drawn")
        drawn = int(await chart.get_attribute("data-candles") or 0)
        await expect(chart.locator("g.candle")).to_have_count(drawn)
        candles = await _get(
            dashboard_server, "/api/v1/candles", symbol=symbols[0], timeframe="M1", limit=drawn
        )
        assert drawn >= 30
        assert len(candles["items"]) == drawn
        last = candles["items"][-1]
        await expect(page.locator("#chart-legend")).to_contain_text(
            f"{last['close']:,.2f}"[:6]  # the last bar's close, formatted
        )

        # another symbol and timeframe on request
        await page.locator("#symbol").select_option(symbols[1])
        await page.locator('#timeframes button[data-timeframe="M5"]').click()
        await expect(page.locator("#chart-legend")).to_contain_text(f"{symbols[1]} \u00b7 M5")
        await expect(chart).to_have_attribute("data-state", "drawn")
        m5 = await _get(
            dashboard_server, "/api/v1/candles", symbol=symbols[1], timeframe="M5", limit=300
        )
        await expect(chart.locator("g.candle")).to_have_count(len(m5["items"]))

        await expect(page.locator("#conn")).to_have_attribute("data-state", "live")
        await expect(page.locator("#banner")).to_be_hidden()
        await page.locator("#symbol").select_option(symbols[0])
        await page.locator('#timeframes button[data-timeframe="M1"]').click()
        await expect(page.locator("#chart-legend")).to_contain_text(f"{symbols[0]} \u00b7 M1")
        await page.screenshot(path=artifacts / f"dashboard-{screen}.png")
        assert watch.problems() == []
        assert _same_origin(watch, dashboard_server.url) == []
    finally:
        await page.close()


async def test_the_dashboard_refreshes_by_itself(
    dashboard_server: ServerProcess, browser: Browser
) -> None:
    page, watch = await _open(browser, dashboard_server.url + "/", SCREENS["1366x768"])
    try:
        await expect(page.locator("#conn")).to_have_attribute("data-state", "live")
        first = await page.locator("#updated").text_content()
        await expect(page.locator("#updated")).not_to_have_text(first or "", timeout=15_000)
        assert watch.problems() == []
    finally:
        await page.close()


async def test_an_unreachable_api_is_shown_in_a_banner_and_the_page_recovers(
    dashboard_server: ServerProcess, browser: Browser
) -> None:
    page, watch = await _open(browser, dashboard_server.url + "/", SCREENS["1366x768"])
    try:
        await expect(page.locator("#conn")).to_have_attribute("data-state", "live")
        await page.route("**/api/v1/**", lambda route: route.abort("connectionrefused"))
        banner = page.locator("#banner")
        await expect(banner).to_be_visible(timeout=15_000)
        await expect(banner).to_contain_text("cannot be reached")
        await expect(page.locator("#conn")).to_have_attribute("data-state", "error")
        # what was shown stays shown
        await expect(page.locator("#positions tbody tr")).to_have_count(len(OPEN_TICKETS))
        await page.unroute("**/api/v1/**")
        await expect(banner).to_be_hidden(timeout=15_000)
        await expect(page.locator("#conn")).to_have_attribute("data-state", "live")
        assert all("/api/v1/" in failure for failure in watch.failed)
        assert [e for e in watch.errors if "ERR_CONNECTION_REFUSED" not in e] == []
    finally:
        await page.close()


async def test_the_api_docs_render_from_the_server_alone_and_try_a_call(
    dashboard_server: ServerProcess, browser: Browser, artifacts: Path
) -> None:
    page, watch = await _open(browser, dashboard_server.url + "/api/v1/docs", SCREENS["1366x768"])
    try:
        await expect(page.locator(".opblock")).not_to_have_count(0)
        await expect(page.locator("#docs-token-state")).to_have_text("no token")
        await _try_symbols(page)
        await page.screenshot(path=artifacts / "api-docs.png")
        assert watch.problems() == []
        assert _same_origin(watch, dashboard_server.url) == []
    finally:
        await page.close()


async def test_an_empty_data_directory_says_what_is_missing(
    tmp_path: Path, browser: Browser
) -> None:
    async with serve(tmp_path / "data") as empty:
        page, watch = await _open(browser, empty.url + "/", SCREENS["1366x768"])
        try:
            await expect(page.locator("#positions-empty")).to_have_text("No open positions")
            await expect(page.locator("#positions")).to_be_hidden()
            await expect(page.locator("#alerts")).to_have_text("No alerts")
            await expect(page.locator("#chart")).to_contain_text("No symbols with ticks yet")
            await expect(page.locator("#symbol")).to_be_disabled()
            await expect(page.locator("#symbol")).to_contain_text("no symbols")
            # the server itself is a process of the data directory
            await expect(page.locator('#processes li[data-process="api_server"]')).to_contain_text(
                "running"
            )
            await expect(page.locator("#conn")).to_have_attribute("data-state", "live")
            assert watch.problems() == []
        finally:
            await page.close()
