"""The retention policy (Retention): a bad value refused naming the field and the
value; the bounds it sets only for the tables of the groups it names (none by default);
the trade history only with its own group, the writer's own tables never."""

from __future__ import annotations

import math
import time

import msgspec
import pytest

from writers import ANALYSIS, LOGS, MAIN, RETENTION_GROUPS, InvalidOption, Retention
from writers._retention import NS_PER_DAY

#: Any time: the bounds the policies set are counted back from it.
NOW = time.time_ns()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("ticks", 0),
        ("ticks", -1),
        ("logs", math.nan),
        ("candles", math.inf),
        ("analysis", "30"),
        ("ticks", True),
        ("ticks", 40_000),
        ("chunk", 0),
        ("chunk", 2.5),
        ("chunk", 1_000_000),
        ("every", 0),
        ("share", 0),
        ("share", 1.5),
    ],
)
async def test_a_policy_refuses_a_bad_value_naming_the_field_and_the_value(
    field: str, value: object
) -> None:
    with pytest.raises(InvalidOption) as caught:
        Retention(**{field: value})  # type: ignore[arg-type]
    assert caught.value.option == field
    assert str(caught.value).startswith(f"{field} must be ")
    assert repr(value) in str(caught.value)


async def test_the_default_policy_keeps_everything() -> None:
    policy = Retention()
    assert not policy.enabled
    assert policy.bounds(MAIN.tables, NOW) == {}
    assert policy.describe() == "keep everything (no group named)"


async def test_a_policy_bounds_only_the_tables_of_the_groups_it_names() -> None:
    policy = Retention(ticks=30, logs=90)
    assert policy.bounds(MAIN.tables, NOW) == {"unified_ticks": NOW - 30 * NS_PER_DAY}
    assert policy.bounds(ANALYSIS.tables, NOW) == {}
    assert set(policy.bounds(LOGS.tables, NOW)) == {
        "trade_monitoring",
        "trade_alerts",
        "api_logs",
        "system_health",
    }
    assert policy.describe() == "keep ticks 30 days, logs 90 days; everything else forever"


async def test_trade_history_goes_only_with_its_own_group_and_writer_tables_never() -> None:
    history = {
        "trade_executions",
        "trade_positions",
        "position_updates",
        "trade_recommendations",
        "recommendation_updates",
    }
    every_group = msgspec.structs.replace(Retention(), **dict.fromkeys(RETENTION_GROUPS, 1.0))
    tables = (*MAIN.tables, *ANALYSIS.tables, *LOGS.tables, "outbox", "relay_cursors")
    prunable = set(every_group.bounds(tables, NOW))
    assert history <= prunable
    assert prunable.isdisjoint({"dead_letters", "outbox", "relay_cursors", "writer_state"})
    others = Retention(ticks=1, candles=1, logs=1, analysis=1)
    assert set(others.bounds(tables, NOW)).isdisjoint(history)
