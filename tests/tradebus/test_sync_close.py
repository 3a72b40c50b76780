"""Closing the blocking API's integration: a call after close is refused (a second
close does nothing), calls racing a close are stored or refused, and a process that
exits without closing stores every acknowledged event."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tradebus import TradebusError, get_trade_integration

from ._sync_helpers import LOGS
from ._sync_helpers import event_ids as _event_ids
from ._sync_helpers import rows as _rows
from ._sync_helpers import run_script as _run


def test_a_call_after_close_is_refused_and_a_second_close_does_nothing(tmp_path: Path) -> None:
    with get_trade_integration("api_server", data_dir=tmp_path) as api:
        api.log_trade_alert(alert_type="system", severity="info", message="before")
    assert api.closed
    with pytest.raises(TradebusError, match=r"log_trade_alert\(\).*is closed.*get_trade_integr"):
        api.log_trade_alert(alert_type="system", severity="info", message="after")
    api.close()
    api.close()
    assert _rows(tmp_path / LOGS, "SELECT message FROM trade_alerts") == [("before",)]


def test_calls_racing_a_close_either_return_stored_or_are_refused(tmp_path: Path) -> None:
    api = get_trade_integration("api_server", data_dir=tmp_path)
    returned: list[str] = []
    refused: list[TradebusError] = []
    logging_started = threading.Event()

    def work(n: int) -> None:
        for i in range(50):
            try:
                returned.append(
                    api.log_trade_alert(alert_type="system", severity="info", message=f"{n}/{i}")
                )
            except TradebusError as exc:
                refused.append(exc)
                return
            logging_started.set()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    assert logging_started.wait(30)
    api.close()  # waits for the calls under way; later ones are refused
    for thread in threads:
        thread.join()
    assert all("is closed" in str(exc) for exc in refused)
    assert sorted(_event_ids(tmp_path / LOGS, "trade_alerts")) == sorted(returned)


def test_a_process_that_exits_without_closing_stores_every_acknowledged_event(
    tmp_path: Path,
) -> None:
    # The main thread ends at once; a worker thread is still logging: the interpreter
    # waits for it, then closes the integration at exit.
    result = _run(
        f"""
        import threading
        from tradebus import get_trade_integration

        api = get_trade_integration("api_server", data_dir={str(tmp_path)!r})

        def work():
            for i in range(50):
                api.log_trade_alert(alert_type="system", severity="info", message=str(i))
            print("done", flush=True)

        threading.Thread(target=work).start()
        """,
        cwd=tmp_path,
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, "done\n", "")
    messages = _rows(tmp_path / LOGS, "SELECT message FROM trade_alerts")
    assert sorted(int(str(m)) for (m,) in messages) == list(range(50))
    with get_trade_integration("api_server", data_dir=tmp_path) as api:
        assert api.mode == "host"  # the exited process's lock is free
