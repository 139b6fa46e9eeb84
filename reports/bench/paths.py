"""What each path costs per request (new, replay, conflict), by component, against the floor
the design allows: CPU milliseconds of every process group, the servers' round trips beside
the core flow's, and the replay path's CPU relative to a bare charge's (``replay/bare CPU R``).

R counts the gateway's side: the servers, the mock, Redis and Postgres, not the load
generator (the client, which costs the same per request on every path)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

GROUPS = ("servers", "mock", "redis", "postgres", "generator")
GATEWAY = ("servers", "mock", "redis", "postgres")
REPLAY_TARGET = 0.25


def gateway_ms(cost: Mapping[str, Any]) -> float:
    return float(sum(cost["cpu_ms"].get(k, 0.0) for k in GATEWAY))


def replay_ratio(costs: list[dict[str, Any]], variant: str = "hardened") -> float | None:
    """``variant``'s replay CPU per request over a bare charge's (gateway processes)."""
    by = {(c["endpoint"], c["path"]): c for c in costs}
    replay, bare = by.get((variant, "replay")), by.get(("bare", "new"))
    if replay is None or bare is None or gateway_ms(bare) <= 0:
        return None
    return gateway_ms(replay) / gateway_ms(bare)


FLOOR_LAYERS = (
    ("empty", "empty route"),
    ("auth", "+ auth"),
    ("observed", "+ metrics/log"),
    ("redis", "auth + Redis GET"),
)
"""The HTTP floor's phases (``loadtests.floor``) as the floor line names them."""


def floor_ratio(costs: list[dict[str, Any]]) -> float | None:
    """The floor R the design could reach with this HTTP stack: the empty route, the key
    check and one Redis GET (the floor's ``redis`` phase) over a bare charge (gateway CPU)."""
    by = {(c["endpoint"], c["path"]): c for c in costs}
    floor, bare = by.get(("floor", "redis")), by.get(("bare", "new"))
    if floor is None or bare is None or gateway_ms(bare) <= 0:
        return None
    return gateway_ms(floor) / gateway_ms(bare)


def floor_line(costs: list[dict[str, Any]]) -> str | None:
    """``HTTP floor: empty route X ms, + auth Y ms, ...; floor R Z`` (gateway CPU per
    request), or None when the run has no floor phases."""
    by = {c["path"]: c for c in costs if c["endpoint"] == "floor"}
    if not by:
        return None
    parts = [f"{name} {gateway_ms(by[p]):.2f} ms" for p, name in FLOOR_LAYERS if p in by]
    r = floor_ratio(costs)
    return f"HTTP floor: {', '.join(parts)}; floor R {'n/a' if r is None else f'{r:.2f}'}"


def render_paths(
    costs: list[dict[str, Any]], floors: Mapping[str, Mapping[str, Mapping[str, int]]]
) -> str:
    """The per-path table and the ``replay/bare CPU R`` line."""
    by = {(c["endpoint"], c["path"]): c for c in costs}
    bare = by.get(("bare", "new"))
    lines = [
        "CPU ms per request by process, round trips per request (measured / floor: the core "
        "flow's), CPU of the gateway (servers, mock, Redis, Postgres) relative to a bare charge:",
        "",
        "| endpoint | path | requests | statuses | "
        + " | ".join(GROUPS)
        + " | gateway | x bare | Redis rt | Postgres rt |",
        "| --- | --- | --- | --- | "
        + " | ".join("---" for _ in GROUPS)
        + " | --- | --- | --- | --- |",
    ]
    for c in costs:
        cpu = c["cpu_ms"]
        floor = floors.get(c["endpoint"], {}).get(c["path"], {})
        rt = c["round_trips"]
        rel = gateway_ms(c) / gateway_ms(bare) if bare and gateway_ms(bare) > 0 else float("nan")
        statuses = " ".join(f"{k}:{v}" for k, v in sorted(c["statuses"].items()))

        def trips(backend: str, rt: Mapping[str, float] = rt, floor: Any = floor) -> str:
            if backend not in rt:
                return "-"
            return f"{rt[backend]:.2f} / {floor.get(backend, '?')}"

        lines.append(
            f"| {c['endpoint']} | {c['path']} | {c['requests']} | {statuses} | "
            + " | ".join(f"{cpu.get(g, 0.0):.2f}" for g in GROUPS)
            + f" | {gateway_ms(c):.2f} | {rel:.2f} | {trips('redis')} | {trips('postgres')} |"
        )
    r = replay_ratio(costs)
    verdict = (
        ""
        if r is None
        else (" (target <= 0.25: " + ("met" if r <= REPLAY_TARGET else "NOT met") + ")")
    )
    floor_text = floor_line(costs)
    lines += ["", *([floor_text] if floor_text else [])]
    lines += [f"replay/bare CPU {'n/a' if r is None else f'{r:.2f}'}{verdict}"]
    return "\n".join(lines) + "\n"
