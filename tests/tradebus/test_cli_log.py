"""The CLI's log output: an error the command prints is not logged a second time."""

from __future__ import annotations

import logging

import pytest

from tradebus._cli_log import CliLog


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
