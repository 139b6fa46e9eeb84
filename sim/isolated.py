"""A long run's simulation in a process of its own, handing the checker files, not memory.

A million-request run holds the simulated system (rows, charges, keys, cached answers) until
its end, and the checker then builds per-key tables from the history. In one process the
check stacks on top of what the simulation left: Python frees objects into pools that only
objects of the same size reuse, so the process's memory stays at the simulation's high-water
mark and the checker's tables come on top. Here the simulation streams its history to a
chunk file, writes the final state to a folder and exits; a second process turns the history
into Parquet and exits; the calling process then checks from the files. The run's peak is
the largest of the processes' peaks, never their sum. The children are spawned, not forked,
so they start small and share nothing with the caller, and the simulation never loads
pyarrow (its first array alone maps about 50 MB).
"""

from __future__ import annotations

import multiprocessing
import resource
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from core.history import Event, History
from sim.chunks import ChunkWriter, read_rows
from sim.engine import simulate
from sim.final_state_io import write_final_state
from sim.metrics import Metrics
from sim.scenario import Scenario

EVENTS_PER_CHUNK = 16_384
EVENTS_FILE = "events.chunks"


@dataclass(slots=True)
class Simulated:
    """What the simulation process sends back besides its two files."""

    metrics: Metrics
    events: int
    sim_wall_s: float
    peak_rss_mb: float
    """The simulation process's own peak resident set size."""
    cpu_s: float
    """The simulation process's CPU seconds (user and system)."""
    parquet_cpu_s: float = 0.0
    """The CPU seconds of the process that wrote the Parquet history."""
    parquet_peak_rss_mb: float = 0.0
    """That process's peak resident set size."""


def simulate_apart(
    scenario: Scenario,
    variant_name: str,
    seed: int,
    *,
    history_path: Path,
    final_path: Path,
    record_effects: bool = True,
    world_factory: Any = None,
    progress: Callable[[Metrics], None] | None = None,
) -> Simulated:
    """Simulate in a spawned process, then turn its history into Parquet at ``history_path``
    in another. Leaves in the ``final_path`` folder the final state and the history as chunks
    (``EVENTS_FILE``, what ``EventsOnDisk`` reads). ``progress`` is called here meanwhile,
    with a ``Metrics`` carrying only ``payments`` and ``attempts``; ``world_factory`` must be
    picklable (a module-level function), since it crosses to the simulation process."""
    Path(final_path).mkdir(parents=True, exist_ok=True)
    events_path = Path(final_path) / EVENTS_FILE
    simulated = _spawn(
        scenario, variant_name, seed, events_path, final_path, record_effects,
        world_factory, progress,
    )  # fmt: skip
    # Parquet in a process of its own as well: pyarrow maps about 100 MB once it has read or
    # written a file, which neither the simulation nor the check should carry.
    ctx = multiprocessing.get_context("spawn")
    ours, theirs = ctx.Pipe(duplex=False)
    converter = ctx.Process(
        target=_to_parquet, args=(theirs, str(events_path), str(history_path)),
        name="payharness-history-to-parquet", daemon=True,
    )  # fmt: skip
    before = children_cpu_s()
    converter.start()
    theirs.close()
    with ours:
        try:
            peak: float | None = ours.recv()  # its peak RSS, sent as it ends
        except EOFError:  # it ended without sending: failed
            peak = None
        converter.join()
    simulated.parquet_cpu_s = children_cpu_s() - before
    if converter.exitcode != 0 or peak is None:
        raise RuntimeError(
            f"writing the history to {history_path} failed (exit code {converter.exitcode}; "
            "its error is above)"
        )
    simulated.parquet_peak_rss_mb = peak
    return simulated


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def children_cpu_s() -> float:
    """CPU seconds of this process's children that have ended and been waited for."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class EventsOnDisk:
    """A history written as chunks by the simulation process, read back event by event; can
    be iterated any number of times (the checker reads it twice)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def __iter__(self) -> Iterator[Event]:
        for row in read_rows(self.path):
            yield Event(*row)


def _to_parquet(conn: Connection, events_path: str, history_path: str) -> None:
    from sim.history_io import ParquetSink  # pyarrow: the converting process only

    with conn:
        sink = ParquetSink(history_path)
        sink.extend(read_rows(events_path))
        sink.close()
        conn.send(peak_rss_mb())


def _spawn(
    scenario: Scenario,
    variant_name: str,
    seed: int,
    events_path: Path,
    final_path: Path,
    record_effects: bool,
    world_factory: Any,
    progress: Callable[[Metrics], None] | None,
) -> Simulated:
    ctx = multiprocessing.get_context("spawn")
    ours, theirs = ctx.Pipe(duplex=False)
    child = ctx.Process(
        target=_simulate,
        args=(theirs, scenario, variant_name, seed, str(events_path), str(final_path),
              record_effects, world_factory, progress is not None),
        name="payharness-simulation",
        daemon=True,
    )  # fmt: skip
    child.start()
    theirs.close()
    try:
        while True:
            try:
                kind, payload = ours.recv()
            except EOFError:
                child.join()
                raise RuntimeError(
                    f"the simulation process ended without an answer (exit code "
                    f"{child.exitcode}; a negative code is the signal that killed it)"
                ) from None
            if kind == "progress" and progress is not None:
                progress(Metrics(payments=payload[0], attempts=payload[1]))
            elif kind == "error":
                raise RuntimeError(f"the simulation process failed:\n{payload}")
            elif kind == "done":
                child.join()
                result: Simulated = payload
                return result
    finally:
        ours.close()
        if child.is_alive():
            child.terminate()
            child.join()


def _simulate(
    conn: Connection,
    scenario: Scenario,
    variant_name: str,
    seed: int,
    events_path: str,
    final_path: str,
    record_effects: bool,
    world_factory: Any,
    report: bool,
) -> None:
    try:
        with open(events_path, "wb") as events:
            chunks = ChunkWriter(events, EVENTS_PER_CHUNK)
            history = History(keep=False, row_listeners=[chunks.append])

            def progress(m: Metrics) -> None:
                conn.send(("progress", (m.payments, m.attempts)))

            sim, wall = simulate(
                scenario, variant_name, seed, history=history, record_effects=record_effects,
                world_factory=world_factory, progress=progress if report else None,
            )  # fmt: skip
            chunks.flush()
        write_final_state(sim.world.take_final_state(), final_path)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        cpu = usage.ru_utime + usage.ru_stime
        conn.send(("done", Simulated(sim.metrics, chunks.rows, wall, peak_rss_mb(), cpu)))
    except BaseException:
        conn.send(("error", traceback.format_exc()))
    finally:
        conn.close()
