"""A long run's final state crosses from the simulation process to the checker through a file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from core.checker import check
from core.history import FinalState
from core.variants import variant_named
from sim import final_state_io
from sim.engine import SimWorld
from sim.final_state_io import (
    OrdersOnDisk,
    RowsOnDisk,
    read_final_state,
    write_final_state,
)
from sim.isolated import simulate_apart
from sim.metrics import Metrics
from tests.sim.conftest import scenario


def _final_of(name: str, variant: str) -> FinalState:
    sim = SimWorld(scenario(name), variant_named(variant), scenario(name).seed)
    sim.run()
    return sim.world.final_state()


@pytest.mark.parametrize("variant", ["seed", "hardened"])
def test_a_final_state_reads_back_equal(tmp_path: Path, variant: str) -> None:
    final = _final_of("bad_day", variant)
    assert final.payments and final.charges and final.orders
    write_final_state(final, tmp_path / "final")
    back = read_final_state(tmp_path / "final")
    assert back == final
    assert list(back.orders) == list(final.orders)  # the same order, not only the same items


def test_a_lazy_final_state_reads_its_rows_and_orders_from_disk(tmp_path: Path) -> None:
    final = _final_of("bad_day", "seed")
    write_final_state(final, tmp_path / "final")
    lazy = read_final_state(tmp_path / "final", lazy=True)
    assert isinstance(lazy.payments, RowsOnDisk) and isinstance(lazy.orders, OrdersOnDisk)
    assert len(lazy.payments) == len(final.payments)
    assert tuple(lazy.payments) == tuple(final.payments)
    assert tuple(lazy.payments) == tuple(final.payments)  # iterable again
    assert final.payments[0] in lazy.payments
    assert dict(lazy.orders) == dict(final.orders) and list(lazy.orders) == list(final.orders)
    mo, pid = next(iter(final.orders.items()))
    assert lazy.orders.get(mo) == pid and lazy.orders.get(("nobody", "o")) is None
    assert lazy.charges == final.charges and lazy.transitions == final.transitions
    # The checker judges the lazy state as it judges the one in memory.
    history = SimWorld(scenario("bad_day"), variant_named("seed"), scenario("bad_day").seed)
    history.run()
    events = history.history.events
    in_memory, from_disk = check(events, history.world.final_state()), check(events, lazy)
    assert not in_memory.ok
    assert [v.render() for v in from_disk.violations] == [v.render() for v in in_memory.violations]
    assert from_disk.counts == in_memory.counts


def test_a_final_state_of_many_chunks_reads_back_equal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(final_state_io, "CHUNK_ROWS", 100)
    final = _final_of("steady_state", "hardened")
    assert len(final.payments) > 5 * final_state_io.CHUNK_ROWS
    write_final_state(final, tmp_path / "final")
    assert read_final_state(tmp_path / "final") == final


def test_strings_named_in_several_places_are_one_object_again(tmp_path: Path) -> None:
    final = _final_of("bad_day", "hardened")
    write_final_state(final, tmp_path / "final")
    back = read_final_state(tmp_path / "final")
    rows = {p.id: p for p in back.payments}
    charge = next(c for c in back.charges if c.merchant)
    row = next(p for p in back.payments if p.charge_id == charge.id)
    assert row.idempotency_key is charge.key and row.order is charge.order
    assert row.charge_id is charge.id and row.provider_key is charge.provider_key
    (merchant, order), pid = next(iter(back.orders.items()))
    assert rows[pid].id is pid and rows[pid].order is order and rows[pid].merchant is merchant


def test_a_folder_that_is_not_a_final_state_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a final state folder"):
        read_final_state(tmp_path)


def test_the_simulation_process_reports_progress_and_its_memory(tmp_path: Path) -> None:
    seen: list[Metrics] = []
    done = simulate_apart(
        scenario("lost_reply"), "hardened", 1,
        history_path=tmp_path / "h.parquet", final_path=tmp_path / "final", progress=seen.append,
    )  # fmt: skip
    assert seen and seen[-1].payments > 0
    assert done.metrics.payments >= seen[-1].payments and done.events > 0
    assert done.peak_rss_mb > 10
    assert read_final_state(tmp_path / "final").payments


def test_a_failure_in_the_simulation_process_is_raised_with_its_traceback(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match=r"(?s)simulation process failed.*no_such_variant"):
        simulate_apart(
            scenario("lost_reply"), "no_such_variant", 1,
            history_path=tmp_path / "h.parquet", final_path=tmp_path / "final",
        )  # fmt: skip


def test_the_simulation_process_does_not_load_pyarrow() -> None:
    """Its first array alone maps about 50 MB; the simulation writes chunks, not Parquet."""
    code = "import sys, sim.isolated; sys.exit('pyarrow' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
