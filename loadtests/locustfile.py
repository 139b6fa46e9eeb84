"""The Locust entry point: ``locust -f loadtests/locustfile.py`` (``payharness load`` runs it).

The six user kinds are weighted from the run's settings; one shape class follows the
settings' shape (steady, step, spike). ``--ph-settings`` carries the settings as JSON from the
master to every worker, so workers on other hosts need only this file and the master's
address.
"""

from __future__ import annotations

import os
from typing import Any

from locust import LoadTestShape, events

from loadtests.settings import ENV, LoadSettings
from loadtests.shapes import plan
from loadtests.users import (
    USER_CLASSES,
    DoubleTapper,
    KeyReuser,
    NewKeyAfterFailure,
    Payer,
    Retrier,
    Snooper,
    close_history,
)

__all__ = [
    "DoubleTapper",
    "KeyReuser",
    "NewKeyAfterFailure",
    "Payer",
    "PaymentShape",
    "Retrier",
    "Snooper",
]


def _settings_from(raw: str) -> LoadSettings | None:
    raw = raw or os.environ.get(ENV, "")
    return LoadSettings.load(raw) if raw else None


def _apply(settings: LoadSettings) -> None:
    for kind, cls in USER_CLASSES.items():
        cls.weight = max(0, int(settings.weights.get(kind, 0)))
        cls.network_timeout = settings.timeout_s
        cls.fixed_count = 0
    # Locust refuses a weight of 0 everywhere; keep at least the payer.
    if all(cls.weight == 0 for cls in USER_CLASSES.values()):
        Payer.weight = 1


@events.init_command_line_parser.add_listener  # type: ignore[untyped-decorator]
def _options(parser: Any) -> None:
    parser.add_argument(
        "--ph-settings",
        default=os.environ.get(ENV, ""),
        help="payharness run settings (JSON or a path); sent to workers",
    )


@events.init.add_listener  # type: ignore[untyped-decorator]
def _init(environment: Any, **_: Any) -> None:
    opts = environment.parsed_options
    settings = _settings_from(getattr(opts, "ph_settings", "") if opts else "")
    if settings is not None:
        _apply(settings)


@events.quitting.add_listener  # type: ignore[untyped-decorator]
def _quit(environment: Any, **_: Any) -> None:
    close_history()


_boot = _settings_from("")
if _boot is not None:
    _apply(_boot)


class PaymentShape(LoadTestShape):
    """Follows ``settings.shape``; stops the run at ``settings.duration_s``."""

    def tick(self) -> tuple[int, float] | None:
        opts = self.runner.environment.parsed_options if self.runner else None
        settings = _settings_from(getattr(opts, "ph_settings", "") if opts else "")
        if settings is None:
            return None
        return plan(settings, float(self.get_run_time()))  # type: ignore[no-untyped-call]
