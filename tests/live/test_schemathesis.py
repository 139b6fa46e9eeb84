"""schemathesis against a live server's own OpenAPI document: generated valid and invalid
requests for every operation, authenticated with one merchant's API key (a generated body
naming another merchant is a 403; ``schemathesis run``'s ``ignored_auth`` check also sends
requests without the key and expects 401). No response may be a 5xx, and a request answered
4xx (invalid, or a key reused with another payload) must not create a charge at the mock."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from live.stripe_provider import StripeProvider
from tests.live.conftest import LiveRun
from tests.live.helpers import KEYRING, unique
from tests.live.stack import REPO

pytestmark = [
    pytest.mark.live,
    # stripe-python's HTTPX client posts form bodies with data=bytes; httpx deprecates that.
    pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning"),
]

EXAMPLES = {"POST /payments": 40}
DEFAULT_EXAMPLES = 10
NEGATABLE = {"POST /payments"}
"""Operations with a body or constrained header to violate; the others (no parameters, or a
free-form path string) have no invalid inputs to generate."""


def charge_count(run: LiveRun) -> int:
    async def go() -> int:
        provider = StripeProvider(run.config.stripe_api_base, run.config.stripe_api_key)
        return len(await provider.list_raw())

    return asyncio.run(go())


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_openapi_document_holds_against_a_live_server(
    live: LiveRun, three_servers: list[str], mode: GenerationMode
) -> None:
    base_url = three_servers[0]
    spec = httpx.get(f"{base_url}/openapi.json", timeout=10).json()
    assert "/payments" in spec["paths"] and "/readyz" in spec["paths"]
    assert "merchantKey" in spec["components"]["securitySchemes"]
    schema = schemathesis.openapi.from_dict(spec)
    auth = KEYRING.auth(unique("m-schema-"))
    problems: list[str] = []
    calls = 0
    payment_statuses: set[int] = set()

    for result in schema.get_all_operations():
        operation = result.ok()
        if mode is GenerationMode.NEGATIVE and operation.label not in NEGATABLE:
            continue
        examples = EXAMPLES.get(operation.label, DEFAULT_EXAMPLES)

        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(generation_mode=mode))
        def run(case: schemathesis.Case) -> None:
            nonlocal calls
            label = case.operation.label
            before = charge_count(live) if label == "POST /payments" else 0
            response = case.call(base_url=base_url, headers=auth, timeout=30)
            calls += 1
            status = response.status_code
            if label == "POST /payments":
                payment_statuses.add(status)
            if status >= 500:
                problems.append(f"{label}: {status} {response.text[:300]} for {case.body!r}")
            if label == "POST /payments" and 400 <= status < 500:
                after = charge_count(live)
                if after != before:
                    problems.append(f"{label}: {status} but {after - before} charge(s) made")

        run()

    assert calls > 0
    if mode is GenerationMode.NEGATIVE:
        assert 400 in payment_statuses, payment_statuses
    else:
        assert payment_statuses & {201, 202, 402}, payment_statuses
    print(f"{mode.value}: {calls} calls; POST /payments statuses {sorted(payment_statuses)}")
    assert not problems, "\n".join(problems[:20])


SCHEMATHESIS_CLI_EXAMPLES = 30


def test_schemathesis_run_with_every_check_reports_nothing(
    three_servers: list[str], tmp_path: Path
) -> None:
    """``schemathesis run --checks all`` (utf-8 codec, NUL allowed) against the server's own
    document: the service and its OpenAPI agree (statuses, headers such as ``Allow``, which
    requests are accepted and which refused)."""
    exe = shutil.which("schemathesis")
    if exe is None:
        pytest.skip("the schemathesis CLI is not installed")
    done = subprocess.run(
        [
            exe,
            "--config-file",
            str(REPO / "schemathesis.toml"),
            "run",
            f"{three_servers[0]}/openapi.json",
            "--header",
            f"Authorization: {KEYRING.auth(unique('m-schema-cli-'))['Authorization']}",
            "--checks",
            "all",
            "--generation-codec",
            "utf-8",
            "--generation-allow-x00",
            "true",
            "--max-examples",
            str(SCHEMATHESIS_CLI_EXAMPLES),
            "--seed",
            "18",
            "--workers",
            "1",
            "--generation-database",
            "none",
            "--no-color",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    print(done.stdout[-3000:])
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
