"""A writer's options are checked when it is made: a wrong one names itself."""

from __future__ import annotations

import math
import pickle
from pathlib import Path

import pytest

from eventbus import EventBus
from tradebus import TradebusError, open_node
from writers import MAIN, InvalidOption, WriterActor, WriterError

BAD = [
    ("max_batch", 2.5, "an int >= 1"),
    ("max_batch", True, "an int >= 1"),
    ("max_batch", 0, "an int >= 1"),
    ("max_buffer", 0, "an int >= 1"),
    ("max_buffer", 2.5, "an int >= 1"),
    ("max_delay", math.inf, "a finite number of seconds >= 0"),
    ("max_delay", -0.1, "a finite number of seconds >= 0"),
    ("drain_timeout", math.nan, "a finite number of seconds >= 0"),
    ("busy_timeout", -1, "a finite number of seconds >= 0"),
    ("busy_timeout", "5", "a finite number of seconds >= 0"),
    ("max_backoff", 0, "a finite number of seconds > 0"),
    ("switch_interval", 0, "a finite number of seconds > 0"),
    ("synchronous", "fast", "OFF, NORMAL, FULL or EXTRA"),
]


@pytest.mark.parametrize(("option", "value", "allowed"), BAD)
def test_a_writer_refuses_an_option_that_is_not_allowed(
    tmp_path: Path, option: str, value: object, allowed: str
) -> None:
    with pytest.raises(InvalidOption) as refused:
        WriterActor(EventBus(), MAIN, tmp_path / MAIN.filename, **{option: value})  # type: ignore[arg-type]
    assert (refused.value.option, refused.value.allowed) == (option, allowed)
    assert str(refused.value) == f"{option} must be {allowed}, got {value!r}"
    assert not (tmp_path / MAIN.filename).exists()  # nothing was made


@pytest.mark.parametrize(("option", "value", "allowed"), BAD)
def test_a_node_refuses_a_writer_option_when_it_is_opened(
    tmp_path: Path, option: str, value: object, allowed: str
) -> None:
    with pytest.raises(InvalidOption, match=f"^{option} must be"):
        open_node(tmp_path, **{option: value})  # type: ignore[arg-type]


def test_an_invalid_option_is_a_writer_error_a_value_error_and_crosses_processes() -> None:
    error = InvalidOption("max_batch", lambda: 1, "an int >= 1")
    assert isinstance(error, WriterError)
    assert isinstance(error, TradebusError)
    assert isinstance(error, ValueError)
    copy = pickle.loads(pickle.dumps(error))  # its value cannot be pickled: its repr is
    assert (type(copy), copy.option, copy.allowed) == (InvalidOption, "max_batch", "an int >= 1")
    assert "lambda" in str(copy.value)
