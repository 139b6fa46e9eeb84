"""Scenario files: TOML in ``scenarios/``, loaded into frozen dataclasses and validated.

Every section and key is declared once below with its type, range and default; a bad file
gets a ``ScenarioError`` naming the file, the key and what is allowed. Every default figure
says where it comes from: *docs* (a provider's documentation), *SDK* (a client library's
source), or *assumption* (stated, to be replaced by a live measurement from
``payharness bench live`` when one exists).
"""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from core.checker import PROPERTIES
from core.variants import VARIANTS, Variant

SCENARIO_DIR = Path(__file__).resolve().parent.parent / "scenarios"


class ScenarioError(ValueError):
    """A scenario file is unreadable or invalid; the message names file, key and what is
    allowed."""

    def __init__(self, file: str, key: str, problem: str) -> None:
        super().__init__(f"{file}: {key}: {problem}")
        self.file = file
        self.key = key
        self.problem = problem


# --- the declared schema -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Spec:
    """One allowed key: its type, default, bounds or choices, and the source of the default."""

    kind: type | tuple[type, ...]
    default: Any
    lo: float | None = None
    hi: float | None = None
    choices: tuple[str, ...] | None = None
    source: str = ""

    def describe(self) -> str:
        if self.choices:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        name = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
        kinds = self.kind if isinstance(self.kind, tuple) else (self.kind,)
        text = " or ".join(name.get(k, k.__name__) for k in kinds)
        if self.lo is not None and self.hi is not None:
            text += f" from {self.lo:g} to {self.hi:g}"
        elif self.lo is not None:
            text += f" >= {self.lo:g}"
        return text


NUM = (int, float)

LOAD: dict[str, Spec] = {
    "arrivals": Spec(str, "poisson", choices=("poisson", "burst", "ramp")),
    "rate": Spec(NUM, 20.0, 0.001, 100_000, source="assumption: 20 new payments/s"),
    "rate_end": Spec(NUM, None, 0.001, 100_000, source="ramp only: rate at the end"),
    "duration_s": Spec(NUM, 30.0, 0.001, 10_000_000),
    "max_payments": Spec(int, None, 1, 100_000_000, source="stop arrivals after this many"),
}
BURST: dict[str, Spec] = {
    "at_s": Spec(NUM, 0.0, 0),
    "duration_s": Spec(NUM, 1.0, 0.001),
    "rate": Spec(NUM, 100.0, 0.001, 1_000_000),
}
WORKLOAD: dict[str, Spec] = {
    "merchants": Spec(int, 3, 1, 10_000, source="assumption"),
    "decline_rate": Spec(
        NUM, 0.03, 0, 1, source="assumption: a few % of card payments are declined"
    ),
    "amount_min": Spec(int, 500, 1, 99_999_999),
    "amount_max": Spec(int, 20_000, 1, 99_999_999),
    "currency": Spec(str, "usd"),
    "key_collision_rate": Spec(
        NUM,
        0.0,
        0,
        1,
        source="share of payments whose client key equals another merchant's "
        "(a client library using order numbers as keys)",
    ),
    "key_reuse_rate": Spec(
        NUM, 0.0, 0, 1, source="share of payments whose key is reused for another amount"
    ),
    "separator_keys": Spec(
        bool,
        False,
        source="payments come in twins (merchant m, key 's:N') and (merchant 'm:s', key 'N'): "
        "the same 'merchant:key' string for two pairs",
    ),
}
CLIENT: dict[str, Spec] = {
    "timeout_ms": Spec(
        int, 10_000, 1, 10_000_000, source="OkHttp's default read timeout, 10 s (SDK)"
    ),
    "max_attempts": Spec(
        int,
        3,
        1,
        1000,
        source="stripe-python: max_network_retries = 2 by default, i.e. 3 attempts (SDK)",
    ),
    "backoff": Spec(str, "stripe", choices=("stripe", "fixed", "none")),
    "initial_delay_ms": Spec(
        int, 500, 0, 10_000_000, source="stripe-python HTTPClient.INITIAL_DELAY = 0.5 s (SDK)"
    ),
    "max_delay_ms": Spec(
        int, 5_000, 0, 10_000_000, source="stripe-python HTTPClient.MAX_DELAY = 5 s (SDK)"
    ),
    "retry_pending": Spec(
        bool, True, source="a 202 'pending' answer is polled again with the same key"
    ),
    "double_submit_rate": Spec(
        NUM, 0.0, 0, 1, source="share of payments sent twice at once (double tap)"
    ),
    "pay_again_rate": Spec(
        NUM, 0.0, 0, 1, source="share of users who, shown a failure, pay again with a new key"
    ),
}
TOPOLOGY: dict[str, Spec] = {
    "servers": Spec(int, 3, 1, 1000, source="the diagrams draw three servers"),
    "workers": Spec(
        int, 16, 1, 100_000, source="assumption: concurrent requests per server process"
    ),
    "balancer": Spec(str, "round_robin", choices=("round_robin", "random")),
    "pg_pool": Spec(
        int,
        10,
        1,
        100_000,
        source="assumption: psycopg_pool max_size per server (psycopg's min_size default is 4)",
    ),
    "stripe_rate_limit": Spec(
        NUM,
        100.0,
        0.001,
        1_000_000,
        source="Stripe docs, 'Rate limits': 100 operations/s in live mode (25 in test mode)",
    ),
    "redis_median_ms": Spec(
        NUM, 0.3, 0.001, source="assumption: same-zone round trip; replace by live measurement"
    ),
    "redis_p99_ms": Spec(NUM, 1.5, 0.001, source="assumption"),
    "postgres_median_ms": Spec(
        NUM, 1.5, 0.001, source="assumption: indexed lookup or short commit on SSD"
    ),
    "postgres_p99_ms": Spec(NUM, 8.0, 0.001, source="assumption"),
    "stripe_median_ms": Spec(
        NUM,
        400.0,
        0.001,
        source="assumption: public reports of Stripe charge latency of a few hundred ms",
    ),
    "stripe_p99_ms": Spec(NUM, 1_500.0, 0.001, source="assumption"),
    "tail_probability": Spec(
        NUM, 0.001, 0, 1, source="assumption: 1 in 1000 calls hits a heavy tail"
    ),
    "tail_factor": Spec(NUM, 10.0, 1, 10_000, source="assumption: the tail is 10x slower"),
    "reconcile_interval_s": Spec(
        NUM, 60.0, 0.01, source="assumption: the reconciliation job runs each minute (cron)"
    ),
}
FAULT: dict[str, Spec] = {
    "kind": Spec(
        str,
        None,
        choices=(
            "server_crash",
            "server_stall",
            "redis_unavailable",
            "redis_failover",
            "postgres_unavailable",
            "postgres_commit_failure",
            "stripe_latency_spike",
            "stripe_5xx",
            "stripe_lost_reply",
            "stripe_429",
            "provider_key_window",
        ),
    ),
    "at_s": Spec(NUM, 0.0, 0),
    "duration_s": Spec(NUM, None, 0, source="default: to the end of the load phase"),
    "probability": Spec(NUM, None, 0, 1, source="per matching effect, inside the window"),
    "server": Spec(int, None, 0, 999, source="server index; default: any"),
    "effect": Spec(
        str,
        None,
        choices=(
            "CacheGet",
            "CacheGetOrLock",
            "CachePut",
            "CachePutAndRelease",
            "LockAcquire",
            "LockRelease",
            "PaymentFind",
            "PaymentGet",
            "PaymentInsert",
            "PaymentTransition",
            "DbTransaction",
            "ProviderCharge",
        ),
        source="server_crash: crash when a flow reaches this effect",
    ),
    "count": Spec(int, None, 1, source="fire at most this many times"),
    "restart_s": Spec(NUM, 5.0, 0, source="assumption: a supervisor restarts a server in 5 s"),
    "stall_s": Spec(NUM, 60.0, 0, source="server_stall: pause length (GC, VM migration)"),
    "extra_ms": Spec(NUM, 0.0, 0, source="stripe_latency_spike: added latency"),
    "factor": Spec(NUM, 1.0, 1, source="stripe_latency_spike: latency multiplier"),
    "charged": Spec(bool, False, source="stripe_5xx: the charge was made before the 500"),
}
EXPECT: dict[str, Spec] = {
    "hold": Spec((list, str), []),
    "break": Spec((list, str), []),
}
TOP: dict[str, Spec] = {
    "name": Spec(str, None),
    "description": Spec(str, None),
    "seed": Spec(int, 1, 0),
    "settle_s": Spec(NUM, None, 0, source="default: past the lock TTL and stale-row age"),
}
SECTIONS = ("load", "workload", "client", "topology", "variant", "faults", "expect")
VARIANT_KEYS = tuple(
    f.name for f in fields(Variant) if f.name not in ("name", "summary") and f.type != "str"
)


# --- the loaded shape ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Burst:
    at_s: float
    duration_s: float
    rate: float


@dataclass(frozen=True, slots=True)
class Load:
    arrivals: str
    rate: float
    rate_end: float | None
    duration_s: float
    max_payments: int | None
    bursts: tuple[Burst, ...]


@dataclass(frozen=True, slots=True)
class Workload:
    merchants: int
    decline_rate: float
    amount_min: int
    amount_max: int
    currency: str
    key_collision_rate: float
    key_reuse_rate: float
    separator_keys: bool = False


@dataclass(frozen=True, slots=True)
class ClientPolicy:
    timeout_ms: int
    max_attempts: int
    backoff: str
    initial_delay_ms: int
    max_delay_ms: int
    retry_pending: bool
    double_submit_rate: float
    pay_again_rate: float


@dataclass(frozen=True, slots=True)
class Topology:
    servers: int
    workers: int
    balancer: str
    pg_pool: int
    stripe_rate_limit: float
    redis_median_ms: float
    redis_p99_ms: float
    postgres_median_ms: float
    postgres_p99_ms: float
    stripe_median_ms: float
    stripe_p99_ms: float
    tail_probability: float
    tail_factor: float
    reconcile_interval_s: float


@dataclass(frozen=True, slots=True)
class FaultSpec:
    kind: str
    at_s: float
    duration_s: float | None
    probability: float | None
    server: int | None
    effect: str | None
    count: int | None
    restart_s: float
    stall_s: float
    extra_ms: float
    factor: float
    charged: bool

    def window(self, load_end_s: float) -> tuple[float, float]:
        """Start and end of the fault in seconds (a point fault has a zero-length window)."""
        if self.kind in ("redis_failover", "provider_key_window") and self.duration_s is None:
            return self.at_s, self.at_s
        if self.kind == "server_stall" and self.probability is None:
            return self.at_s, self.at_s + self.stall_s
        if self.kind == "server_crash" and self.probability is None and self.effect is None:
            return self.at_s, self.at_s + self.restart_s
        end = self.at_s + self.duration_s if self.duration_s is not None else load_end_s
        return self.at_s, max(self.at_s, end)


@dataclass(frozen=True, slots=True)
class Expectation:
    hold: tuple[str, ...]
    broken: tuple[str, ...]

    def met(self, holds: Mapping[str, bool | None]) -> bool:
        return all(holds.get(p) is True for p in self.hold) and all(
            holds.get(p) is False for p in self.broken
        )


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    file: str
    description: str
    seed: int
    settle_s: float | None
    load: Load
    workload: Workload
    client: ClientPolicy
    topology: Topology
    variant_overrides: Mapping[str, Any]
    faults: tuple[FaultSpec, ...]
    expect: Mapping[str, Expectation]
    raw: Mapping[str, Any]

    def variant(self, base: Variant) -> Variant:
        """The variant with this scenario's overrides (e.g. a shorter lock TTL) applied."""
        if not self.variant_overrides:
            return base
        return base.with_changes(base.name, base.summary, **self.variant_overrides)

    def with_seed(self, seed: int) -> Scenario:
        return _replace(self, seed=seed)

    def with_params(self, params: Mapping[str, Any]) -> Scenario:
        """A copy with dotted keys changed (``topology.servers``, ``variant.lock_ttl_ms``),
        re-validated so a sweep cell gets the same checks as a file."""
        raw = copy.deepcopy(dict(self.raw))
        for dotted, value in params.items():
            section, _, key = dotted.partition(".")
            if not key:
                raw[section] = value
                continue
            raw.setdefault(section, {})[key] = value
        return parse(raw, self.file)


def _replace(s: Scenario, **changes: Any) -> Scenario:
    from dataclasses import replace

    return replace(s, **changes)


# --- loading and validation ---------------------------------------------------------------


def _value(file: str, where: str, spec: Spec, value: Any) -> Any:
    kinds = spec.kind if isinstance(spec.kind, tuple) else (spec.kind,)
    ok = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
    if not ok:
        raise ScenarioError(file, where, f"got {value!r}; allowed: {spec.describe()}")
    if spec.choices is not None and value not in spec.choices:
        raise ScenarioError(file, where, f"got {value!r}; allowed: {spec.describe()}")
    if isinstance(value, int | float) and not isinstance(value, bool):
        if spec.lo is not None and value < spec.lo:
            raise ScenarioError(file, where, f"got {value!r}; allowed: {spec.describe()}")
        if spec.hi is not None and value > spec.hi:
            raise ScenarioError(file, where, f"got {value!r}; allowed: {spec.describe()}")
    return (
        float(value) if float in kinds and int in kinds and not isinstance(value, bool) else value
    )


def _section(file: str, name: str, table: Any, schema: dict[str, Spec]) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise ScenarioError(file, name, f"must be a table ([{name}]); got {table!r}")
    unknown = sorted(set(table) - set(schema))
    if unknown:
        raise ScenarioError(
            file,
            f"{name}.{unknown[0]}",
            "unknown key; allowed keys: " + ", ".join(schema),
        )
    out: dict[str, Any] = {}
    for key, spec in schema.items():
        if key in table:
            out[key] = _value(file, f"{name}.{key}", spec, table[key])
        else:
            out[key] = spec.default
    return out


def _props(file: str, where: str, value: Any) -> tuple[str, ...]:
    items = list(PROPERTIES) if value == "all" else value
    if isinstance(items, str) or not isinstance(items, list):
        raise ScenarioError(file, where, f'got {value!r}; allowed: "all" or a list of properties')
    for p in items:
        if p not in PROPERTIES:
            raise ScenarioError(
                file, where, f"unknown property {p!r}; allowed: " + ", ".join(PROPERTIES)
            )
    return tuple(items)


def parse(data: Mapping[str, Any], file: str) -> Scenario:
    """Validate a parsed TOML document; raise ``ScenarioError`` at the first problem."""
    unknown = sorted(set(data) - set(TOP) - set(SECTIONS) - {"bursts"})
    if unknown:
        raise ScenarioError(
            file,
            unknown[0],
            "unknown top-level key; allowed: " + ", ".join([*TOP, *SECTIONS]),
        )
    top = _section(file, "(top level)", {k: v for k, v in data.items() if k in TOP}, TOP)
    if top["description"] is None or not top["description"].strip():
        raise ScenarioError(file, "description", "is required: say what situation this is")
    name = top["name"] or Path(file).stem
    load_raw = dict(data.get("load", {})) if isinstance(data.get("load", {}), dict) else None
    if load_raw is None:
        raise ScenarioError(file, "load", "must be a table ([load])")
    bursts_raw = load_raw.pop("bursts", [])
    load = _section(file, "load", load_raw, LOAD)
    if not isinstance(bursts_raw, list):
        raise ScenarioError(file, "load.bursts", "must be a list of {at_s, duration_s, rate}")
    bursts = tuple(
        Burst(**_section(file, f"load.bursts[{i}]", b, BURST)) for i, b in enumerate(bursts_raw)
    )
    if load["arrivals"] == "burst" and not bursts:
        raise ScenarioError(file, "load.bursts", "arrivals = 'burst' needs at least one burst")
    if load["arrivals"] == "ramp" and load["rate_end"] is None:
        raise ScenarioError(file, "load.rate_end", "arrivals = 'ramp' needs rate_end")
    workload = _section(file, "workload", data.get("workload", {}), WORKLOAD)
    if workload["amount_max"] < workload["amount_min"]:
        raise ScenarioError(file, "workload.amount_max", "must be >= workload.amount_min")
    client = _section(file, "client", data.get("client", {}), CLIENT)
    topology = _section(file, "topology", data.get("topology", {}), TOPOLOGY)
    for backend in ("redis", "postgres", "stripe"):
        if topology[f"{backend}_p99_ms"] < topology[f"{backend}_median_ms"]:
            raise ScenarioError(
                file, f"topology.{backend}_p99_ms", f"must be >= topology.{backend}_median_ms"
            )
    overrides = data.get("variant", {})
    if not isinstance(overrides, dict):
        raise ScenarioError(file, "variant", "must be a table of variant fields to override")
    for key, value in overrides.items():
        if key not in VARIANT_KEYS:
            raise ScenarioError(
                file, f"variant.{key}", "unknown variant field; allowed: " + ", ".join(VARIANT_KEYS)
            )
        expected = type(getattr(VARIANTS["seed"], key))
        if not isinstance(value, expected) or isinstance(value, bool) != (expected is bool):
            raise ScenarioError(
                file, f"variant.{key}", f"got {value!r}; allowed: a {expected.__name__}"
            )
    faults_raw = data.get("faults", [])
    if not isinstance(faults_raw, list):
        raise ScenarioError(file, "faults", "must be an array of tables ([[faults]])")
    faults = tuple(_fault(file, i, f, topology["servers"]) for i, f in enumerate(faults_raw))
    expect_raw = data.get("expect", {})
    if not isinstance(expect_raw, dict):
        raise ScenarioError(file, "expect", "must be a table with one sub-table per variant")
    expect: dict[str, Expectation] = {}
    for variant_name, table in expect_raw.items():
        if variant_name not in VARIANTS:
            raise ScenarioError(
                file, f"expect.{variant_name}", "unknown variant; allowed: " + ", ".join(VARIANTS)
            )
        section = _section(file, f"expect.{variant_name}", table, EXPECT)
        hold = _props(file, f"expect.{variant_name}.hold", section["hold"])
        broken = _props(file, f"expect.{variant_name}.break", section["break"])
        both = sorted(set(hold) & set(broken))
        if both:
            raise ScenarioError(
                file, f"expect.{variant_name}", f"{both[0]} is listed under both hold and break"
            )
        expect[variant_name] = Expectation(hold, broken)
    for variant_name in VARIANTS:
        if variant_name not in expect:
            raise ScenarioError(
                file, f"expect.{variant_name}", "is required: say which properties must hold"
            )
    return Scenario(
        name=name,
        file=file,
        description=top["description"].strip(),
        seed=top["seed"],
        settle_s=top["settle_s"],
        load=Load(bursts=bursts, **load),
        workload=Workload(**workload),
        client=ClientPolicy(**client),
        topology=Topology(**topology),
        variant_overrides=dict(overrides),
        faults=faults,
        expect=expect,
        raw=dict(data),
    )


def _fault(file: str, i: int, table: Any, servers: int) -> FaultSpec:
    where = f"faults[{i}]"
    if isinstance(table, dict) and "kind" not in table:
        raise ScenarioError(file, f"{where}.kind", "is required; " + FAULT["kind"].describe())
    spec = FaultSpec(**_section(file, where, table, FAULT))
    if spec.server is not None and spec.server >= servers:
        raise ScenarioError(
            file, f"{where}.server", f"got {spec.server}; allowed: 0 to {servers - 1}"
        )
    needs: dict[str, Callable[[FaultSpec], bool]] = {
        "stripe_latency_spike": lambda f: f.extra_ms > 0 or f.factor > 1,
    }
    check = needs.get(spec.kind)
    if check is not None and not check(spec):
        raise ScenarioError(file, where, "stripe_latency_spike needs extra_ms > 0 or factor > 1")
    return spec


def load_file(path: str | Path) -> Scenario:
    path = Path(path)
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(name, "(file)", f"cannot be read: {exc.strerror}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(name, "(syntax)", f"not valid TOML: {exc}") from None
    return parse(data, name)


def scenario_files(directory: Path = SCENARIO_DIR) -> list[Path]:
    return sorted(directory.glob("*.toml"))


def find(name_or_path: str, directory: Path = SCENARIO_DIR) -> Scenario:
    """A scenario by file path or by name (the file's stem in ``scenarios/``)."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        return load_file(path)
    candidate = directory / f"{name_or_path}.toml"
    if candidate.exists():
        return load_file(candidate)
    known = ", ".join(p.stem for p in scenario_files(directory))
    raise ScenarioError(name_or_path, "(name)", f"no such scenario; known: {known}")


def load_all(directory: Path = SCENARIO_DIR) -> list[Scenario]:
    return [load_file(p) for p in scenario_files(directory)]
