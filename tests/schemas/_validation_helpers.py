"""What the validation tests share: the non-finite floats and a valid tick."""

from __future__ import annotations

import math

from schemas import Tick

NAN = math.nan
INF = math.inf


def a_valid_tick() -> Tick:
    return Tick(symbol="BTCUSDT", bid=1.0, ask=2.0)
