"""Stop signals of the CLI's long commands: recorded, never raised mid-shutdown."""

from __future__ import annotations

import os
import signal

import pytest

from tradebus._signals import StopSignals


def test_signals_are_recorded_not_raised_and_the_old_handlers_come_back(
    capfd: pytest.CaptureFixture[str],
) -> None:
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    with StopSignals() as stop:
        assert stop.first is None
        os.kill(os.getpid(), signal.SIGINT)  # delivered before kill() returns: same thread
        signal.raise_signal(signal.SIGTERM)
        signal.raise_signal(signal.SIGINT)
        assert stop.received == [signal.SIGINT, signal.SIGTERM, signal.SIGINT]
        assert stop.first == signal.SIGINT
    assert {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)} == before
    # Only the later ones are acknowledged: the first is the command's to report.
    assert capfd.readouterr().err.count("tradebus: already stopping") == 2
