"""Shared helpers of the dashboard's tests: the system's chromium, what the seeded data
directory holds (and seeding it), a page opened with a watch on what it did, and the
docs' "Try it out"."""

from __future__ import annotations

import os
import random
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, Request, Response, expect

from schemas import AlertType, Severity, Tick
from tradebus import open_node

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

#: The mark of the browser tests' modules: they need the system's chromium.
needs_chromium = pytest.mark.skipif(
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


async def seed(data_dir: Path) -> None:
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


async def open_page(browser: Browser, url: str, size: tuple[int, int]) -> tuple[Page, Watch]:
    """A new page of ``size`` at ``url``, and the watch on what it does."""
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


async def try_symbols(page: Page) -> None:
    """In the docs: "Try it out" on ``GET /api/v1/symbols``, and its answer is a 200."""
    symbols = page.locator(".opblock-summary-path", has_text=re.compile(r"^/api/v1/symbols$"))
    await expect(symbols).to_be_visible()
    await symbols.click()
    await page.get_by_role("button", name="Try it out").click()
    await page.get_by_role("button", name="Execute").click()
    status = page.locator(".live-responses-table tbody .response-col_status").first
    await expect(status).to_have_text("200")
    await expect(page.locator(".live-responses-table")).to_contain_text("BTCUSDT")
