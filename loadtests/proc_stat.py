"""CPU seconds read from ``/proc``: of one process, of the whole machine, and the pids of a
program by name. One reader for the load run's CPU shares (``loadtests.cpu_meter``) and the
benches' per-component CPU (``loadtests.bench.meters``, ``loadtests.bench.phases``)."""

from __future__ import annotations

import os
from pathlib import Path


def process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of one process; None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_s() -> float:
    """CPU seconds the whole machine has been busy since boot (every core, every process:
    user, nice, system, irq, softirq, steal), from the first line of ``/proc/stat``."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def pids_named(comm: str, database: str | None = None) -> list[int]:
    """Every process whose name is ``comm``; with ``database`` only the Postgres backends of
    that database (their title is ``postgres: [cluster: ]user database host(port) state``)."""
    out = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if (proc / "comm").read_text().strip() != comm:
                    continue
                if database is not None:
                    title = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                    if f" {database} " not in title:
                        continue
                out.append(int(proc.name))
            except (OSError, UnicodeDecodeError):
                continue
    return out
