"""The dashboard at ``/`` and the API docs at ``/api/v1/docs``, in a real browser
(the system's chromium, headless, driven by playwright) against a real ``tradebus
serve`` over a data directory holding three hours of ticks, open and closed positions,
alerts, monitoring events and health beats."""

from __future__ import annotations

import os
import random
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import anyio
import pytest
from playwright.async_api import (
    Browser,
    ConsoleMessage,
    Page,
    Request,
    Response,
    async_playwright,
    expect,
)

from schemas import AlertType, Severity, Tick
from tradebus import open_node

from ._server import ServerProcess, serve

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: The laptop screens the page is made for.
SCREENS = {"1366x768": (1366, 768), "1920x1080": (1920, 1080)}
TOKEN = "dashboard-test-token"

pytestmark = pytest.mark.skipif(
    not os.access(CHROMIUM, os.X_OK),
    reason=f"the browser tests need chromium at {CHROMIUM} (Debian: apt-get install chromium)",
)

#: What the data directory holds (the tests look for these on the page).
OPEN_TICKETS = (5001, 5002, 5003)
CLOSED_TICKET = 5004
SYMBOLS = {"BTCUSDT": 64_000.0, "EURUSD": 1.0850}
ALERTS: tuple[tuple[AlertType, Severity, str], ...] = (
    ("risk", "critical", "Drawdown limit reached on BTCUSDT"),
    ("profit", "info", "EURUSD short up 35 pips"),
    ("system", "warning", "Tick feed latency above 500 ms"),
)


async def _seed(data_dir: Path) -> None:
    """Three hours of ticks (one every 5 s per symbol, ending now), four trades (one
    closed), monitoring events, alerts and health beats; committed before it returns."""
    rng = random.Random(15)
    now = time.time_ns()
    step = 5_000_000_000
    count = 3 * 3600 // 5
    last: dict[str, float] = {}
    async with open_node(data_dir) as node:
        for symbol, start in SYMBOLS.items():
            price, spread = start, start * 0.00004
            ticks = []
            for i in range(count):
                price *= 1 + rng.gauss(0, 0.0006)
                ticks.append(
                    Tick(
                        symbol=symbol,
                        bid=round(price, 5),
                        ask=round(price + spread, 5),
                        volume=round(rng.uniform(0.1, 3.0), 3),
                        ts=now - (count - i) * step,
                    )
                )
            for chunk in range(0, len(ticks), 500):
                await node.bus.publish_many(ticks[chunk : chunk + 500])
            last[symbol] = price
        await node.bus.flush()
        bot = node.integration("chatgpt_bot")
        btc, eur = last["BTCUSDT"], last["EURUSD"]
        trades: list[tuple[int, str, Any, float, float]] = [
            (5001, "BTCUSDT", "BUY", btc * 0.985, 0.05),
            (5002, "EURUSD", "SELL", eur * 0.996, 100_000.0),
            (5003, "BTCUSDT", "SELL", btc * 0.99, 0.02),
            (CLOSED_TICKET, "EURUSD", "BUY", eur * 0.999, 50_000.0),
        ]
        for ticket, symbol, direction, entry, volume in trades:
            sign = 1 if direction == "BUY" else -1
            await bot.log_trade_execution(
                ticket=ticket,
                symbol=symbol,
                direction=direction,
                entry_price=round(entry, 5),
                volume=volume,
                stop_loss=round(entry * (1 - sign * 0.2), 5),
                take_profit=round(entry * (1 + sign * 0.2), 5),
            )
        await bot.close_position(
            ticket=CLOSED_TICKET, symbol="EURUSD", close_price=round(eur, 5), realized_pnl=54.25
        )
        api = node.integration("api_server")
        await api.log_trade_monitoring(
            ticket=5001,
            symbol="BTCUSDT",
            monitoring_type="break_even_moved",
            status="applied",
            details="Stop moved to entry after +1R",
        )
        await api.log_trade_monitoring(
            ticket=5002,
            symbol="EURUSD",
            monitoring_type="trailing_stop",
            status="updated",
            details="Trailing stop tightened by 10 pips",
        )
        for alert_type, severity, message in ALERTS:
            await api.log_trade_alert(
                alert_type=alert_type, severity=severity, message=message, symbol=None
            )
        await api.log_system_health(
            component="tick_feed", status="ok", details={"ticks_per_s": 812, "lag_ms": 4}
        )
        await api.log_system_health(
            component="strategy", status="degraded", details={"reason": "slow indicators"}
        )
        await node.bus.flush()


@pytest.fixture(scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ServerProcess]:
    data_dir = tmp_path_factory.mktemp("dashboard") / "data"
    await _seed(data_dir)
    async with serve(data_dir) as running:
        yield running


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
def artifacts(tmp_path: Path) -> Path:
    """Where the screenshots go: ``$TRADEBUS_ARTIFACTS/dashboard`` if set (CI keeps
    them), else the test's temporary directory."""
    root = os.environ.get("TRADEBUS_ARTIFACTS")
    folder = Path(root) / "dashboard" if root else tmp_path / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@dataclass
class Watch:
    """What a page did: its console errors, uncaught exceptions, failed requests,
    error answers, and every URL it asked for."""

    errors: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    answers: list[tuple[int, str]] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)

    def problems(
        self, allowed_status: tuple[int, ...] = (), *, navigated: bool = False
    ) -> list[str]:
        """What went wrong on the page; ``navigated``: the test left the page, which
        aborts the requests it had in flight (net::ERR_ABORTED), not a failure."""
        bad = [f"{status} {url}" for status, url in self.answers if status >= 400]
        bad = [b for b in bad if int(b.split()[0]) not in allowed_status]
        failed = [f for f in self.failed if not (navigated and "net::ERR_ABORTED" in f)]
        return [*self.errors, *failed, *bad]


async def _open(browser: Browser, url: str, size: tuple[int, int]) -> tuple[Page, Watch]:
    page = await browser.new_page(viewport={"width": size[0], "height": size[1]})
    watch = Watch()

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            watch.errors.append(f"console: {message.text}")

    def on_failed(request: Request) -> None:
        watch.failed.append(f"failed: {request.url} ({request.failure})")

    def on_response(response: Response) -> None:
        watch.answers.append((response.status, response.url))

    page.on("console", on_console)
    page.on("pageerror", lambda error: watch.errors.append(f"uncaught: {error}"))
    page.on("requestfailed", on_failed)
    page.on("response", on_response)
    page.on("request", lambda request: watch.urls.append(request.url))
    await page.goto(url)
    return page, watch


def _same_origin(watch: Watch, base: str) -> list[str]:
    origin = urlsplit(base)
    return [
        url for url in watch.urls if urlsplit(url)[:2] != origin[:2] and not url.startswith("data:")
    ]


async def _get(server: ServerProcess, path: str, **params: Any) -> Any:
    async with server.client(TOKEN) as client:
        response = await client.get(path, params=params)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.mark.parametrize("screen", sorted(SCREENS))
async def test_the_dashboard_shows_positions_alerts_processes_and_a_candle_chart(
    server: ServerProcess, browser: Browser, artifacts: Path, screen: str
) -> None:
    page, watch = await _open(browser, server.url + "/", SCREENS[screen])
    try:
        # the open positions, with the P&L the API computed, signed and coloured
        positions = (await _get(server, "/api/v1/positions", state="open"))["items"]
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
        symbols = [s["symbol"] for s in (await _get(server, "/api/v1/symbols"))["items"]]
        assert sorted(symbols) == sorted(SYMBOLS)
        await expect(page.locator("#symbol")).to_have_value(symbols[0])
        chart = page.locator("#chart")
        await expect(chart).to_have_attribute("data-state", "drawn")
        drawn = int(await chart.get_attribute("data-candles") or 0)
        await expect(chart.locator("g.candle")).to_have_count(drawn)
        candles = await _get(
            server, "/api/v1/candles", symbol=symbols[0], timeframe="M1", limit=drawn
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
        m5 = await _get(server, "/api/v1/candles", symbol=symbols[1], timeframe="M5", limit=300)
        await expect(chart.locator("g.candle")).to_have_count(len(m5["items"]))

        await expect(page.locator("#conn")).to_have_attribute("data-state", "live")
        await expect(page.locator("#banner")).to_be_hidden()
        await page.locator("#symbol").select_option(symbols[0])
        await page.locator('#timeframes button[data-timeframe="M1"]').click()
        await expect(page.locator("#chart-legend")).to_contain_text(f"{symbols[0]} \u00b7 M1")
        await page.screenshot(path=artifacts / f"dashboard-{screen}.png")
        assert watch.problems() == []
        assert _same_origin(watch, server.url) == []
    finally:
        await page.close()


async def test_the_dashboard_refreshes_by_itself(server: ServerProcess, browser: Browser) -> None:
    page, watch = await _open(browser, server.url + "/", SCREENS["1366x768"])
    try:
        await expect(page.locator("#conn")).to_have_attribute("data-state", "live")
        first = await page.locator("#updated").text_content()
        await expect(page.locator("#updated")).not_to_have_text(first or "", timeout=15_000)
        assert watch.problems() == []
    finally:
        await page.close()


async def test_an_unreachable_api_is_shown_in_a_banner_and_the_page_recovers(
    server: ServerProcess, browser: Browser
) -> None:
    page, watch = await _open(browser, server.url + "/", SCREENS["1366x768"])
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


async def test_a_server_that_wants_a_token_for_reads_gets_it_from_the_page(
    tmp_path: Path, browser: Browser, artifacts: Path
) -> None:
    data_dir = tmp_path / "data"
    await _seed(data_dir)
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    async with serve(data_dir, "--api-token-file", str(token_file), "--api-auth-reads") as guarded:
        page, watch = await _open(browser, guarded.url + "/", SCREENS["1366x768"])
        try:
            banner = page.locator("#banner")
            await expect(banner).to_be_visible()
            await expect(banner).to_contain_text("401")
            await expect(page.locator("#conn")).to_have_attribute("data-state", "auth")
            await expect(page.locator("#positions-empty")).to_contain_text(
                "waiting for the API's token"
            )
            await page.screenshot(path=artifacts / "dashboard-token-needed.png")

            await page.locator("#token-input").fill("not-the-token")
            await page.locator("#token-form button[type=submit]").click()
            await expect(banner).to_contain_text("refused the token")

            await page.locator("#token-input").fill(TOKEN)
            await page.locator("#token-form button[type=submit]").click()
            await expect(banner).to_be_hidden()
            await expect(page.locator("#positions tbody tr")).to_have_count(len(OPEN_TICKETS))
            await expect(page.locator("#conn")).to_have_attribute("data-state", "live")
            stored = await page.evaluate("sessionStorage.getItem('tradebus.token')")
            assert stored == TOKEN
            # the docs' "Try it out" in the same tab sends it too
            await page.goto(guarded.url + "/api/v1/docs")
            await expect(page.locator("#docs-token-state")).to_have_text("a token is set")
            await _try_symbols(page)
            # only the data was refused: the page and its files need no token
            refused = [url for status, url in watch.answers if status == 401]
            assert refused
            assert all("/api/v1/" in url for url in refused)
            problems = watch.problems(allowed_status=(401,), navigated=True)
            assert problems == [e for e in watch.errors if "401" in e]
        finally:
            await page.close()


async def _try_symbols(page: Page) -> None:
    """In the docs: "Try it out" on ``GET /api/v1/symbols``, and its answer is a 200."""
    symbols = page.locator(".opblock-summary-path", has_text=re.compile(r"^/api/v1/symbols$"))
    await expect(symbols).to_be_visible()
    await symbols.click()
    await page.get_by_role("button", name="Try it out").click()
    await page.get_by_role("button", name="Execute").click()
    status = page.locator(".live-responses-table tbody .response-col_status").first
    await expect(status).to_have_text("200")
    await expect(page.locator(".live-responses-table")).to_contain_text("BTCUSDT")


async def test_the_api_docs_render_from_the_server_alone_and_try_a_call(
    server: ServerProcess, browser: Browser, artifacts: Path
) -> None:
    page, watch = await _open(browser, server.url + "/api/v1/docs", SCREENS["1366x768"])
    try:
        await expect(page.locator(".opblock")).not_to_have_count(0)
        await expect(page.locator("#docs-token-state")).to_have_text("no token")
        await _try_symbols(page)
        await page.screenshot(path=artifacts / "api-docs.png")
        assert watch.problems() == []
        assert _same_origin(watch, server.url) == []
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


async def _raw_get(url: str, target: str) -> int:
    """The status of ``GET target`` sent as is (no client normalises its dots away)."""
    parts = urlsplit(url)
    assert parts.hostname is not None
    assert parts.port is not None
    async with await anyio.connect_tcp(parts.hostname, parts.port) as stream:
        request = f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nConnection: close\r\n\r\n"
        await stream.send(request.encode())
        received = b""
        with anyio.fail_after(30):
            while b"\r\n" not in received:
                received += await stream.receive()
    return int(received.split(b" ", 2)[1])


async def test_the_page_and_its_files_are_served_with_their_types_and_entity_tags(
    server: ServerProcess,
) -> None:
    expected = {
        "/": "text/html; charset=utf-8",
        "/static/app.js": "text/javascript; charset=utf-8",
        "/static/chart.js": "text/javascript; charset=utf-8",
        "/static/app.css": "text/css; charset=utf-8",
        "/static/favicon.svg": "image/svg+xml",
        "/static/vendor/swagger-ui/swagger-ui-bundle.js": "text/javascript; charset=utf-8",
        "/static/vendor/swagger-ui/swagger-ui.css": "text/css; charset=utf-8",
    }
    async with server.client() as client:
        for path, media_type in expected.items():
            response = await client.get(path)
            assert response.status_code == 200, path
            assert response.headers["content-type"] == media_type, path
            assert response.headers["cache-control"] == "no-cache", path
            assert response.headers["x-content-type-options"] == "nosniff", path
            etag = response.headers["etag"]
            again = await client.get(path, headers={"If-None-Match": etag})
            assert again.status_code == 304, path
            assert again.content == b""
        page = await client.get("/")
        assert '<script type="module" src="static/app.js">' in page.text
        assert "default-src 'self'" in page.headers["content-security-policy"]
        changed = await client.get("/static/app.js", headers={"If-None-Match": '"other"'})
        assert changed.status_code == 200
        assert changed.content.startswith(b"// The dashboard")
        docs = await client.get("/api/v1/docs")
        assert docs.status_code == 200
        assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in docs.text
        assert "cdn" not in docs.text.lower()


@pytest.mark.parametrize(
    "target",
    [
        "/static/../_app.py",
        "/static/../../tradebus/api/_app.py",
        "/static/%2e%2e/_app.py",
        "/static/..%2f_app.py",
        "/static/%2e%2e%2f%2e%2e%2fpyproject.toml",
        "/static//etc/passwd",
        "/static/",
        "/static/vendor",
        "/static/vendor/swagger-ui/",
        "/static/vendor/swagger-ui/LICENSE",
        "/static/app.js%00.py",
        "/static/APP.JS",
        "/static/.hidden",
        "/static/docs/../../_app.py",
    ],
)
async def test_no_request_reaches_a_file_outside_the_static_files_nor_lists_them(
    server: ServerProcess, target: str
) -> None:
    assert await _raw_get(server.url, target) == 404
