"""Provider contracts: what a payment provider promises about idempotent requests, as data.

The flows speak to "the provider" through ``ProviderCharge``, ``ProviderRetrieve`` and
``ProviderChargesForPayment``; none of them assumes Stripe. What differs between providers is
a ``ProviderContract`` value, chosen per run (``World(contract=…)``, ``payharness run
--provider``, the gate's ``provider`` class attribute). The flows read only the two fields a
design must plan around (the key window and the lookup lag); the models
(``core.models.stripe_model``, ``core.models.paypal_model``) implement all of them, each
citing its source. The checker's properties do not depend on the provider.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from types import MappingProxyType
from typing import Literal

from core.variants import HOUR_MS, PROVIDER_KEY_WINDOW_MS

Replay = Literal["first_answer", "latest_status"]
Mismatch = Literal["refused", "not_compared"]
InFlight = Literal["conflict", "fail", "wait"]


@dataclass(frozen=True, slots=True)
class ProviderContract:
    """One provider's idempotency promises. Field docs say what each value means."""

    name: str
    summary: str

    replay: Replay
    """What a repeated key answers: ``first_answer`` (Stripe: the saved status code and body
    of the first request, 500s included) or ``latest_status`` (PayPal: the resource's status
    now, e.g. a capture refunded since)."""

    mismatch: Mismatch
    """A key repeated with other parameters: ``refused`` (Stripe's ``idempotency_error``) or
    ``not_compared`` (PayPal does not promise to compare: the earlier request's latest status
    comes back, whatever the payload)."""

    in_flight: InFlight
    """A second request while the first with the same key executes: ``conflict`` (Stripe's
    409 ``idempotency_key_in_use``), ``fail`` (PayPal "might fail the second": modelled as an
    error the adapter cannot tell from a failed call, i.e. outcome unknown) or ``wait`` (the
    other reading: it waits for the first and answers its latest status)."""

    key_window_ms: int
    """How long the provider remembers a key; after it, the same key charges anew."""

    server_error_saved: bool
    """Whether a 500 without a resource is kept as the key's answer (Stripe replays it) or a
    repeat is processed anew (PayPal: there is no resource whose status to return)."""

    lookup_lag_ms: int
    """How long a new charge may be missing from the provider's list/search (the reconciler's
    lookup by metadata): 0 for Stripe's list, up to 3 h for PayPal's transaction search."""

    lookup_by_key: bool
    """Whether a repeat of the key is a read of the current state (PayPal's latest status)
    rather than a frozen copy of the first answer (Stripe)."""

    @property
    def doc(self) -> dict[str, str]:
        return {f.name: str(getattr(self, f.name)) for f in fields(self)}


STRIPE = ProviderContract(
    name="stripe",
    summary="Stripe charges (POST /v1/charges, Idempotency-Key): first answer replayed 24 h.",
    replay="first_answer",
    mismatch="refused",
    in_flight="conflict",
    key_window_ms=PROVIDER_KEY_WINDOW_MS,
    server_error_saved=True,
    lookup_lag_ms=0,
    lookup_by_key=False,
)

PAYPAL_KEY_WINDOW_MS = 6 * HOUR_MS
"""Orders v2 ``PayPal-Request-Id``: "The server stores keys for 6 hours. The API callers can
request the times to up to 72 hours by speaking to their Account Manager." (Create order
reference, header parameters.)"""
PAYPAL_SEARCH_LAG_MS = 3 * HOUR_MS
"""Transaction Search: "It takes a maximum of three hours for executed transactions to
appear in the list transactions call." (Transaction Search API reference.)"""

PAYPAL = ProviderContract(
    name="paypal",
    summary="PayPal Orders v2 one-step create+capture (PayPal-Request-Id): latest status, "
    "payload not compared, second simultaneous request fails, 6 h keys.",
    replay="latest_status",
    mismatch="not_compared",
    in_flight="fail",
    key_window_ms=PAYPAL_KEY_WINDOW_MS,
    server_error_saved=False,
    lookup_lag_ms=PAYPAL_SEARCH_LAG_MS,
    lookup_by_key=True,
)

PAYPAL_WAIT = ProviderContract(
    name="paypal-wait",
    summary="PayPal as above, reading 'might fail the second' as: the second waits for the "
    "first and answers its latest status.",
    replay=PAYPAL.replay,
    mismatch=PAYPAL.mismatch,
    in_flight="wait",
    key_window_ms=PAYPAL.key_window_ms,
    server_error_saved=PAYPAL.server_error_saved,
    lookup_lag_ms=PAYPAL.lookup_lag_ms,
    lookup_by_key=PAYPAL.lookup_by_key,
)

PROVIDERS: MappingProxyType[str, ProviderContract] = MappingProxyType(
    {p.name: p for p in (STRIPE, PAYPAL, PAYPAL_WAIT)}
)
MAIN_PROVIDERS = ("stripe", "paypal")
"""What ``payharness run`` runs by default; ``paypal-wait`` is the other reading of PayPal's
open choice, run by the tests and on request."""


def provider_named(name: str) -> ProviderContract:
    try:
        return PROVIDERS[name]
    except KeyError:
        known = ", ".join(sorted(PROVIDERS))
        raise ValueError(f"unknown provider {name!r}; known providers: {known}") from None
