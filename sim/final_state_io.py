"""A final state written to disk and read back, with its strings shared as the world shared them.

A long run simulates in a process of its own and hands the final state (rows, paid orders,
listed charges, illegal transitions) to the checking process through a folder, so neither
process holds the simulated system and the checker's tables at once. Each part is a file of
plain value tuples in chunks (``sim.chunks``). Read back eagerly, a key, order or id that
the rows, orders and charges all name is one string again, not one copy per place. Read back
lazily, the charges are loaded and the rows and paid orders stay on disk until the checker
asks for them, which it does only after its per-key tables are gone.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from pathlib import Path
from sys import intern
from typing import Any

from core.domain import Payment, PaymentState
from core.history import AppliedTransition, FinalState, ListedCharge
from sim.chunks import ChunkWriter, read_rows

CHUNK_ROWS = 8192
_PARTS = ("payments", "orders", "charges", "transitions")
_META = "meta.pickle"

Share = Callable[[Any, Any], Any]


def write_final_state(final: FinalState, folder: str | Path) -> None:
    """Write ``final`` into ``folder`` (made if missing), a chunk of rows at a time."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    meta = {"charges_listed": final.charges_listed, "payments": len(final.payments)}
    (folder / _META).write_bytes(pickle.dumps(meta))
    _write(folder / "payments", (_payment_row(p) for p in final.payments))
    _write(folder / "orders", ((m, o, pid) for (m, o), pid in final.orders.items()))
    _write(folder / "charges", (_charge_row(c) for c in final.charges))
    transitions = ((t.payment_id, t.source.value, t.target.value, t.legal, t.at_ms)
                   for t in final.transitions)  # fmt: skip
    _write(folder / "transitions", transitions)


def read_final_state(folder: str | Path, *, lazy: bool = False) -> FinalState:
    """The final state ``write_final_state`` wrote. With ``lazy`` its rows are read from the
    folder each time they are iterated, and its paid orders when first looked at; the folder
    must then outlive the final state."""
    folder = Path(folder)
    meta_path = folder / _META
    if not meta_path.is_file() or any(not (folder / p).is_file() for p in _PARTS):
        raise ValueError(f"{folder}: not a final state folder (needs {_META} and {_PARTS})")
    meta = pickle.loads(meta_path.read_bytes())
    shared: dict[Any, Any] = {}
    one: Share = shared.setdefault
    payments: Collection[Payment]
    orders: Mapping[tuple[str, str], str]
    if lazy:
        payments = RowsOnDisk(folder / "payments", meta["payments"])
        orders = OrdersOnDisk(folder / "orders")
    else:
        payments = tuple(_payments(folder / "payments", one))
        orders = _orders(folder / "orders", one)
    charges = tuple(_charges(folder / "charges", one))
    shared.clear()
    transitions = tuple(
        AppliedTransition(pid, PaymentState(s), PaymentState(t), legal, at)
        for pid, s, t, legal, at in read_rows(folder / "transitions")
    )
    return FinalState(payments, orders, charges, transitions, bool(meta["charges_listed"]))


class RowsOnDisk(Collection[Payment]):
    """A final state's rows, read from their file each time they are iterated."""

    def __init__(self, path: Path, count: int) -> None:
        self._path, self._count = path, count

    def __iter__(self) -> Iterator[Payment]:
        shared: dict[Any, Any] = {}
        return _payments(self._path, shared.setdefault)

    def __len__(self) -> int:
        return self._count

    def __contains__(self, row: object) -> bool:
        return any(p == row for p in self)


class OrdersOnDisk(Mapping[tuple[str, str], str]):
    """A final state's paid orders, read from their file when first looked at, then kept."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._loaded: dict[tuple[str, str], str] | None = None

    def _orders(self) -> dict[tuple[str, str], str]:
        if self._loaded is None:
            shared: dict[Any, Any] = {}
            self._loaded = _orders(self._path, shared.setdefault)
        return self._loaded

    def __getitem__(self, key: tuple[str, str]) -> str:
        return self._orders()[key]

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._orders())

    def __len__(self) -> int:
        return len(self._orders())


def _payments(path: Path, one: Share) -> Iterator[Payment]:
    for pid, m, order, key, amount, cur, src, fp, pkey, state, at, ch, err in read_rows(path):
        yield Payment(
            one(pid, pid), intern(m), one(order, order), one(key, key), one(amount, amount),
            intern(cur), intern(src), fp, one(pkey, pkey), PaymentState(state), at,
            None if ch is None else one(ch, ch), err,
        )  # fmt: skip


def _orders(path: Path, one: Share) -> dict[tuple[str, str], str]:
    return {(intern(m), one(o, o)): one(pid, pid) for m, o, pid in read_rows(path)}


def _charges(path: Path, one: Share) -> Iterator[ListedCharge]:
    for cid, amount, cur, ok, m, key, order, pkey, src, at in read_rows(path):
        yield ListedCharge(
            one(cid, cid), one(amount, amount), intern(cur), ok, intern(m), one(key, key),
            one(order, order), one(pkey, pkey), intern(src), at,
        )  # fmt: skip


def _write(path: Path, rows: Iterable[tuple[Any, ...]]) -> None:
    with open(path, "wb") as f:
        writer = ChunkWriter(f, CHUNK_ROWS)
        for row in rows:
            writer.append(row)
        writer.flush()


def _payment_row(p: Payment) -> tuple[Any, ...]:
    return (p.id, p.merchant, p.order, p.idempotency_key, p.amount, p.currency, p.source,
            p.fingerprint, p.provider_key, p.state.value, p.created_ms, p.charge_id,
            p.error)  # fmt: skip


def _charge_row(c: ListedCharge) -> tuple[Any, ...]:
    return (c.id, c.amount, c.currency, c.succeeded, c.merchant, c.key, c.order, c.provider_key,
            c.source, c.created_ms)  # fmt: skip
