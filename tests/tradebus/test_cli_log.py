"""The CLI's log output: an error the command prints is not logged a second time."""

from __future__ import annotations

import logging

import pytest

from eventbus import BusClosed, NotStored
from tradebus._cli_log import CliLog
from writers import WriterError


def test_an_error_the_command_prints_is_not_logged_again(
    capsys: pytest.CaptureFixture[str],
) -> None:
    error = OSError("disk full on /data/x.db")
    other = OSError("another failure")
    log = logging.getLogger("tradebus.test")
    with CliLog() as cli_log:
        log.error("writer main failed: %s; shutting the node down", error)
        log.error("writer logs failed: %s; shutting the node down", other)
        log.warning("the WAL holds %d frames", 5)
        assert capsys.readouterr().err == "tradebus: warning: the WAL holds 5 frames\n"
        cli_log.finish(error)
    assert capsys.readouterr().err == (
        "tradebus: error: writer logs failed: another failure; shutting the node down\n"
    )


def test_a_bus_error_that_repeats_its_writer_s_error_says_it_once(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The root catches the bus's errors too: one that repeats the writer's error it was
    # raised from ends the command, and the writer's announcement is not printed again.
    cause = WriterError("/data/main.db vanished while its writer ran")
    error = BusClosed(f"cannot publish 'trade.x': a writer of this node failed ({cause})")
    error.__cause__ = cause
    log = logging.getLogger("tradebus.test")
    with CliLog() as cli_log:
        log.error("writer %s failed: %s; shutting the node down", "main", cause)
        cli_log.finish(error)
    assert capsys.readouterr().err == ""


def test_a_cause_the_printed_error_does_not_repeat_is_still_logged(
    capsys: pytest.CaptureFixture[str],
) -> None:
    cause = WriterError("/data/main.db vanished while its writer ran")
    error = NotStored(
        event_type="Tick", topic="market.tick.X", seq=1, reason="gone", subscription="main"
    )
    error.__cause__ = cause
    with CliLog() as cli_log:
        logging.getLogger("tradebus.test").error("writer main failed: %s", cause)
        cli_log.finish(error)
    assert capsys.readouterr().err == (
        "tradebus: error: writer main failed: /data/main.db vanished while its writer ran\n"
    )
