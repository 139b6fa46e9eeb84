"""The first request of every key, kept on disk until the settle phase reads them back.

The settle phase retries every key once with its first payload. A million-request run has
half a million keys, and holding their requests costs about 150 bytes a payment for the
whole run (the request and an index entry), though they are read only once, in order, at
the end. So they are appended to a temporary file in batches and read back from it.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import fields
from types import MappingProxyType

from core.domain import NO_METADATA, PaymentRequest, fingerprint
from sim.chunks import ChunkWriter, read_chunks

Row = tuple[str, str, int, str, str, str, tuple[tuple[str, str], ...], str]
"""A request as plain values: merchant, order, amount, currency, source, key, metadata, and
its fingerprint (so the settle phase does not compute it again)."""


def _row(request: PaymentRequest) -> Row:
    r = request
    meta = tuple(sorted(r.metadata.items())) if r.metadata else ()  # most have none
    fp = fingerprint(r)
    return (r.merchant, r.order, r.amount, r.currency, r.source, r.idempotency_key, meta, fp)


_FIELDS = (
    "merchant", "order", "amount", "currency", "source", "idempotency_key", "metadata",
    "_fp_full", "_fp_no_amount",
)  # fmt: skip
if tuple(f.name for f in fields(PaymentRequest)) != _FIELDS:  # pragma: no cover
    raise ImportError(f"sim.spill restores PaymentRequest as {_FIELDS}; its fields changed")


_SETTERS = tuple(getattr(PaymentRequest, name).__set__ for name in _FIELDS)
"""Each field's slot setter: what ``object.__setattr__`` calls after looking the name up."""


def unchecked_request(
    merchant: str,
    order: str,
    amount: int,
    currency: str,
    source: str,
    key: str,
    metadata: Mapping[str, str] = NO_METADATA,
    fp: str | None = None,
) -> PaymentRequest:
    """``PaymentRequest(...)`` field by field, without its checks: for values known to pass
    them (a request read back, or the simulator's generated requests once the first passed;
    a fifth of a simulated request's own time went to checking them again). ``metadata``
    must be ``NO_METADATA`` or read-only already; ``fp`` is ``fingerprint``'s memo. The
    slots are set through their setters (one call each, no name lookup)."""
    request = object.__new__(PaymentRequest)
    s_merchant, s_order, s_amount, s_currency, s_source, s_key, s_meta, s_fp, s_fp2 = _SETTERS
    s_merchant(request, merchant)
    s_order(request, order)
    s_amount(request, amount)
    s_currency(request, currency)
    s_source(request, source)
    s_key(request, key)
    s_meta(request, metadata)
    s_fp(request, fp)
    s_fp2(request, None)
    return request


def _request(row: Row) -> PaymentRequest:
    """The request the row was made of (its values passed the checks when it was first
    made), ``fingerprint``'s memo with it."""
    merchant, order, amount, currency, source, key, meta, fp = row
    metadata = MappingProxyType(dict(meta)) if meta else NO_METADATA
    return unchecked_request(merchant, order, amount, currency, source, key, metadata, fp)


class SpilledRequests:
    """Requests appended during a run and read back in the order they came, from a temporary
    file that goes when this object does."""

    def __init__(self, batch: int = 4096) -> None:
        # Closed by close() or when this object goes (a TemporaryFile deletes itself).
        self._file = tempfile.TemporaryFile(prefix="payharness-first-requests-")  # noqa: SIM115
        self._writer = ChunkWriter(self._file, batch)

    def append(self, request: PaymentRequest) -> None:
        self._writer.append(_row(request))

    def __len__(self) -> int:
        return self._writer.rows

    def __iter__(self) -> Iterator[PaymentRequest]:
        """Every request appended so far, oldest first. Appending while iterating is allowed;
        the iteration ends at what had been appended when it started."""
        self._writer.flush()
        for rows in read_chunks(self._file.fileno(), 0, self._writer.written):
            for row in rows:
                yield _request(row)

    def close(self) -> None:
        self._file.close()
