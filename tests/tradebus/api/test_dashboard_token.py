"""The dashboard in a real browser (the system's chromium) against a server that wants
a token for reads: the page asks for it, refuses a wrong one, keeps the right one for
the session and the docs' calls; only the data needs it."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Browser, expect

from ._dashboard import OPEN_TICKETS, SCREENS, TOKEN, needs_chromium
from ._dashboard import open_page as _open
from ._dashboard import seed as _seed
from ._dashboard import try_symbols as _try_symbols
from ._server import serve

pytestmark = needs_chromium


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
