"""Shared test configuration.

Live tests (marker ``live``) skip with a stated reason when a service cannot be reached,
except when ``PAYHARNESS_REQUIRE_LIVE=1`` (CI): then each such skip is reported as a failure,
so no live test can silently not run.
"""

from __future__ import annotations

import os

import pytest

REQUIRE_LIVE = os.environ.get("PAYHARNESS_REQUIRE_LIVE") == "1"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    if REQUIRE_LIVE and report.skipped and item.get_closest_marker("live") is not None:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"PAYHARNESS_REQUIRE_LIVE=1 but this live test skipped: {reason}"
