"""The read endpoints against their own OpenAPI document: requests generated from it
(valid ones, and invalid ones) never get a 5xx, and every answer conforms to it.

A real server over real data: many generated requests name a symbol or a ticket the
data holds, so that pages of rows (not only empty lists) are checked.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Final

import anyio.to_thread
import hypothesis
import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from ._read_data import write_data
from ._server import ServerProcess, serve

#: The read endpoints (their paths as the document names them).
READS: Final = (
    "/api/v1/ticks",
    "/api/v1/candles",
    "/api/v1/symbols",
    "/api/v1/positions",
    "/api/v1/positions/{ticket}",
    "/api/v1/executions",
    "/api/v1/recommendations",
    "/api/v1/journal/{ticket}",
    "/api/v1/monitoring",
    "/api/v1/alerts",
    "/api/v1/health",
    "/api/v1/processes",
)
EXAMPLES: Final = 25


@pytest.fixture(scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ServerProcess]:
    data_dir = tmp_path_factory.mktemp("fuzz") / "data"
    await write_data(data_dir)
    async with serve(data_dir) as served:
        yield served


def _with_data(case: Any, symbol: str, ticket: int) -> Any:
    """``case``, asking for a symbol and a ticket the data holds."""
    if case.query and "symbol" in case.query:
        case.query = {**case.query, "symbol": symbol}
    if case.path_parameters and "ticket" in case.path_parameters:
        case.path_parameters = {**case.path_parameters, "ticket": ticket}
    return case


def _fuzz(url: str, mode: schemathesis.GenerationMode) -> list[str]:
    """Run every read operation's generated cases against ``url``; the operations run."""
    schema = schemathesis.openapi.from_url(f"{url}/api/v1/openapi.json")
    checks = [not_a_server_error, response_schema_conformance, content_type_conformance]
    if mode == schemathesis.GenerationMode.POSITIVE:
        checks.append(status_code_conformance)
    ran = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise AssertionError(f"the OpenAPI document is not valid: {result.err()}")
        operation = result.ok()
        if operation.method.upper() != "GET" or operation.path not in READS:
            continue
        generated = operation.as_strategy(generation_mode=mode)
        real = st.builds(
            _with_data,
            generated,
            st.sampled_from(["EURUSD", "GBPUSD"]),
            st.sampled_from([101, 102, 103, 104, 105]),
        )
        strategy = st.one_of(generated, real) if mode.name == "POSITIVE" else generated

        @hypothesis.settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(hypothesis.HealthCheck),
            phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
        )
        @hypothesis.given(case=strategy)
        def check(case: Any) -> None:
            response = case.call(base_url=url, timeout=30)
            case.validate_response(response, checks=checks)

        check()
        ran.append(operation.path)
    return ran


async def test_generated_valid_requests_get_answers_that_conform(server: ServerProcess) -> None:
    ran = await anyio.to_thread.run_sync(_fuzz, server.url, schemathesis.GenerationMode.POSITIVE)
    assert sorted(ran) == sorted(READS)


async def test_generated_invalid_requests_never_get_a_server_error(
    server: ServerProcess,
) -> None:
    ran = await anyio.to_thread.run_sync(_fuzz, server.url, schemathesis.GenerationMode.NEGATIVE)
    assert sorted(ran) == sorted(READS)
    assert "internal error" not in server.output()
