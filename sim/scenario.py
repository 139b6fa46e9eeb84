"""Scenario files: TOML in ``scenarios/``, loaded into frozen dataclasses and validated.

Every section and key is declared once below, as a dataclass field made by ``key`` (its type
from the annotation, with range, unit and default); validation reads that declaration, so a
bad file gets a ``ScenarioError`` naming the file, the key and what is allowed. Every default
figure says where it comes from: *docs* (a provider's documentation), *SDK* (a client library's
source), or *assumption* (stated, to be replaced by a live measurement from
``payharness bench live`` when one exists).
"""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from enum import Enum, StrEnum
from functools import cache
from pathlib import Path
from typing import Any, cast, get_args, get_type_hints

from core.checker import PROPERTIES
from core.effects import (
    CacheGet,
    CacheGetOrLock,
    CachePut,
    CachePutAndRelease,
    DbTransaction,
    Effect,
    LockAcquire,
    LockRelease,
    PaymentFind,
    PaymentGet,
    PaymentInsert,
    PaymentTransition,
    ProviderCharge,
)
from core.providers import PROVIDERS
from core.variants import VARIANTS, Variant
from sim.calibration import CPU_KEYS, NOT_CALIBRATED, Calibration, CalibrationError, resolve
from sim.calibration import read as read_calibration

SCENARIO_DIR = Path(__file__).resolve().parent.parent / "scenarios"


class ScenarioError(ValueError):
    """A scenario file is unreadable or invalid; the message names file, key and what is
    allowed."""

    def __init__(self, file: str, key: str, problem: str) -> None:
        super().__init__(f"{file}: {key}: {problem}")
        self.file = file
        self.key = key
        self.problem = problem


# --- how a key is declared ----------------------------------------------------------------

SPEC = "payharness.spec"
"""The ``dataclasses.field`` metadata entry that holds a key's ``Spec``."""


@dataclass(frozen=True, slots=True)
class Spec:
    """One allowed key: its type, default, bounds or choices, unit, and the source of the
    default. The type comes from the field's annotation unless given."""

    kind: type | tuple[type, ...] | None
    default: Any
    lo: float | None = None
    hi: float | None = None
    choices: tuple[str, ...] | None = None
    source: str = ""
    unit: str = ""
    toml: str | None = None
    """The key's name in the file when it is not the field's (``break`` is a keyword)."""
    enum: type[Enum] | None = None
    """Values are names of this enum's members; the loaded value is the member."""
    doc: str = ""
    """What the key means, for the reference (``docs/scenarios.md``)."""

    @property
    def kinds(self) -> tuple[type, ...]:
        """The accepted types (``schema`` fills them in from the annotation)."""
        assert self.kind is not None, "a declared key's type comes from schema()"
        return self.kind if isinstance(self.kind, tuple) else (self.kind,)

    def describe(self) -> str:
        if self.choices:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        name = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
        text = " or ".join(name.get(k, k.__name__) for k in self.kinds)
        if self.lo is not None and self.hi is not None:
            text += f" from {self.lo:g} to {self.hi:g}"
        elif self.lo is not None:
            text += f" >= {self.lo:g}"
        return text


NUM = (int, float)


def key(
    default: Any = None,
    lo: float | None = None,
    hi: float | None = None,
    *,
    choices: tuple[str, ...] | type[StrEnum] | None = None,
    source: str = "",
    unit: str = "",
    kind: type | tuple[type, ...] | None = None,
    toml: str | None = None,
    required: bool = False,
    doc: str = "",
) -> Any:
    """Declare a field as a scenario key: ``default`` is what a file that omits it gets (and
    the field's default unless ``required``: the loader always fills it in)."""
    enum = choices if isinstance(choices, type) else None
    names = tuple(m.value for m in choices) if isinstance(choices, type) else choices
    spec = Spec(kind, default, lo, hi, names, source, unit, toml, enum, doc)
    if required:
        return field(metadata={SPEC: spec})
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={SPEC: spec})
    return field(default=default, metadata={SPEC: spec})


def _kind_of(hint: Any) -> type | tuple[type, ...]:
    """The TOML types a field's annotation accepts: a float takes integers too."""
    kinds = [a for a in get_args(hint) if a is not type(None)] if get_args(hint) else [hint]
    (one,) = kinds
    if one is float:
        return NUM
    if isinstance(one, type) and issubclass(one, Enum):
        return str
    return cast(type, one)


@cache
def schema(shape: type) -> dict[str, tuple[str, Spec]]:
    """The keys a section may hold, in declaration order: file name -> (field, spec)."""
    hints = get_type_hints(shape)
    out: dict[str, tuple[str, Spec]] = {}
    for f in fields(shape):
        spec = f.metadata.get(SPEC)
        if spec is None:
            continue
        if spec.kind is None:
            spec = replace(spec, kind=_kind_of(hints[f.name]))
        out[spec.toml or f.name] = (f.name, spec)
    return out


# --- the declared keys, loaded into these shapes ------------------------------------------


class FaultKind(StrEnum):
    SERVER_CRASH = "server_crash"
    SERVER_STALL = "server_stall"
    REDIS_UNAVAILABLE = "redis_unavailable"
    REDIS_FAILOVER = "redis_failover"
    POSTGRES_UNAVAILABLE = "postgres_unavailable"
    POSTGRES_COMMIT_FAILURE = "postgres_commit_failure"
    STRIPE_LATENCY_SPIKE = "stripe_latency_spike"
    STRIPE_5XX = "stripe_5xx"
    STRIPE_LOST_REPLY = "stripe_lost_reply"
    STRIPE_429 = "stripe_429"
    PROVIDER_KEY_WINDOW = "provider_key_window"


FAULT_KIND_MEANING: dict[FaultKind, str] = {
    FaultKind.SERVER_CRASH: "a server process dies (at at_s, at an effect, or per effect with "
    "probability) and a supervisor restarts it after restart_s; its in-flight requests are lost",
    FaultKind.SERVER_STALL: "a server pauses for stall_s (GC, VM migration) and then carries on "
    "where it was, its locks possibly expired meanwhile",
    FaultKind.REDIS_UNAVAILABLE: "Redis refuses connections inside the window",
    FaultKind.REDIS_FAILOVER: "a replica is promoted at at_s: the keys and locks Redis held "
    "are lost (and with duration_s Redis is unavailable meanwhile)",
    FaultKind.POSTGRES_UNAVAILABLE: "Postgres refuses connections inside the window",
    FaultKind.POSTGRES_COMMIT_FAILURE: "a commit fails inside the window (with probability)",
    FaultKind.STRIPE_LATENCY_SPIKE: "provider calls inside the window are slower: latency x "
    "factor + extra_ms",
    FaultKind.STRIPE_5XX: "the provider answers 500 inside the window; with charged = true the "
    "charge was made before the error",
    FaultKind.STRIPE_LOST_REPLY: "the provider charges but its reply never reaches the server "
    "(a read timeout: outcome unknown)",
    FaultKind.STRIPE_429: "the provider refuses with 429 (rate limited) inside the window",
    FaultKind.PROVIDER_KEY_WINDOW: "clients retry their keys again once the provider's key "
    "window has passed since at_s (24 h + 1 min later): a key the provider forgot charges anew",
}
"""What each fault kind does to the simulated world (``docs/scenarios.md``)."""


SERVER_EFFECTS: tuple[type[Effect[Any]], ...] = (
    CacheGet,
    CacheGetOrLock,
    CachePut,
    CachePutAndRelease,
    LockAcquire,
    LockRelease,
    PaymentFind,
    PaymentGet,
    PaymentInsert,
    PaymentTransition,
    DbTransaction,
    ProviderCharge,
)
"""The effects a payment flow asks a server for (a fault may name one of them)."""


@dataclass(frozen=True, slots=True)
class Burst:
    at_s: float = key(0.0, 0, unit="s", doc="when the burst starts")
    duration_s: float = key(1.0, 0.001, unit="s", doc="how long it lasts")
    rate: float = key(100.0, 0.001, 1_000_000, unit="payments/s", doc="arrival rate inside it")


@dataclass(frozen=True, slots=True)
class Load:
    arrivals: str = key(
        "poisson",
        choices=("poisson", "burst", "ramp", "uniform"),
        doc="Poisson arrivals at rate; plus [[load.bursts]]; or a linear ramp to rate_end; "
        "or evenly spaced at rate (an open-loop load generator's schedule)",
    )
    rate: float = key(20.0, 0.001, 100_000, unit="payments/s",
                      source="assumption: 20 new payments/s")  # fmt: skip
    rate_end: float | None = key(None, 0.001, 100_000, unit="payments/s",
                                 source="ramp only: rate at the end")  # fmt: skip
    duration_s: float = key(30.0, 0.001, 10_000_000, unit="s", doc="length of the load phase")
    max_payments: int | None = key(None, 1, 100_000_000, source="stop arrivals after this many")
    bursts: tuple[Burst, ...] = ()
    """The ``[[load.bursts]]`` tables, each declared by ``Burst``."""


@dataclass(frozen=True, slots=True)
class Workload:
    merchants: int = key(3, 1, 10_000, source="assumption")
    decline_rate: float = key(
        0.03, 0, 1, source="assumption: a few % of card payments are declined"
    )
    amount_min: int = key(500, 1, 99_999_999, unit="cents", doc="smallest amount drawn")
    amount_max: int = key(20_000, 1, 99_999_999, unit="cents", doc="largest amount drawn")
    currency: str = key("usd", doc="currency of every payment")
    key_collision_rate: float = key(
        0.0,
        0,
        1,
        source="share of payments whose client key equals another merchant's "
        "(a client library using order numbers as keys)",
    )
    key_reuse_rate: float = key(
        0.0, 0, 1, source="share of payments whose key is reused for another amount"
    )
    separator_keys: bool = key(
        False,
        source="payments come in twins (merchant m, key 's:N') and (merchant 'm:s', key 'N'): "
        "the same 'merchant:key' string for two pairs",
    )


@dataclass(frozen=True, slots=True)
class ClientPolicy:
    timeout_ms: int = key(
        10_000, 1, 10_000_000, unit="ms", source="OkHttp's default read timeout, 10 s (SDK)"
    )
    max_attempts: int = key(
        3,
        1,
        1000,
        source="stripe-python: max_network_retries = 2 by default, i.e. 3 attempts (SDK)",
    )
    backoff: str = key(
        "stripe",
        choices=("stripe", "fixed", "none"),
        doc="retry delay: stripe-python's jittered exponential, initial_delay_ms each, or none",
    )
    initial_delay_ms: int = key(
        500, 0, 10_000_000, unit="ms",
        source="stripe-python HTTPClient.INITIAL_DELAY = 0.5 s (SDK)",
    )  # fmt: skip
    max_delay_ms: int = key(
        5_000, 0, 10_000_000, unit="ms", source="stripe-python HTTPClient.MAX_DELAY = 5 s (SDK)"
    )
    retry_pending: bool = key(
        True, source="a 202 'pending' answer is polled again with the same key"
    )
    double_submit_rate: float = key(
        0.0, 0, 1, source="share of payments sent twice at once (double tap)"
    )
    pay_again_rate: float = key(
        0.0, 0, 1, source="share of users who, shown a failure, pay again with a new key"
    )


@dataclass(frozen=True, slots=True)
class Topology:
    servers: int = key(3, 1, 1000, source="the diagrams draw three servers")
    workers: int = key(16, 1, 100_000, source="assumption: concurrent requests per server process")
    balancer: str = key(
        "round_robin", choices=("round_robin", "random"), doc="how requests pick a server"
    )
    pg_pool: int = key(
        10,
        1,
        100_000,
        source="assumption: psycopg_pool max_size per server (psycopg's min_size default is 4)",
    )
    stripe_rate_limit: float = key(
        100.0,
        0.001,
        1_000_000,
        unit="operations/s",
        source="Stripe docs, 'Rate limits': 100 operations/s in live mode (25 in test mode)",
    )
    redis_median_ms: float = key(
        0.3, 0.001, unit="ms",
        source="assumption: same-zone round trip; replace by live measurement",
    )  # fmt: skip
    redis_p99_ms: float = key(1.5, 0.001, unit="ms", source="assumption")
    postgres_median_ms: float = key(
        1.5, 0.001, unit="ms", source="assumption: indexed lookup or short commit on SSD"
    )
    postgres_p99_ms: float = key(8.0, 0.001, unit="ms", source="assumption")
    stripe_median_ms: float = key(
        400.0,
        0.001,
        unit="ms",
        source="assumption: public reports of Stripe charge latency of a few hundred ms",
    )
    stripe_p99_ms: float = key(1_500.0, 0.001, unit="ms", source="assumption")
    tail_probability: float = key(
        0.001, 0, 1, source="assumption: 1 in 1000 calls hits a heavy tail"
    )
    tail_factor: float = key(10.0, 1, 10_000, source="assumption: the tail is 10x slower")
    redis_tail_probability: float | None = key(
        None, 0, 1, source="default: tail_probability", doc="Redis's own heavy tail"
    )
    redis_tail_factor: float | None = key(None, 1, 10_000, source="default: tail_factor")
    postgres_tail_probability: float | None = key(
        None, 0, 1, source="default: tail_probability", doc="Postgres's own heavy tail"
    )
    postgres_tail_factor: float | None = key(None, 1, 10_000, source="default: tail_factor")
    stripe_tail_probability: float | None = key(
        None, 0, 1, source="default: tail_probability", doc="the provider's own heavy tail"
    )
    stripe_tail_factor: float | None = key(None, 1, 10_000, source="default: tail_factor")

    def tail(self, backend: str) -> tuple[float, float]:
        """``backend``'s heavy tail (probability, factor): its own keys, else the shared."""
        own_p = getattr(self, f"{backend}_tail_probability")
        own_f = getattr(self, f"{backend}_tail_factor")
        return (
            self.tail_probability if own_p is None else own_p,
            self.tail_factor if own_f is None else own_f,
        )

    reconcile_interval_s: float = key(
        60.0, 0.01, unit="s", source="assumption: the reconciliation job runs each minute (cron)"
    )
    postgres_cores: int = key(
        0, 0, 10_000,
        source="0: Postgres is not a shared capacity (a query only takes its latency); else the "
        "one Postgres server's cores, shared by every server, one query each at a time",
    )  # fmt: skip
    postgres_query_ms: float = key(
        0.4, 0.001, unit="ms",
        source="with postgres_cores: server time per query (assumption: an indexed statement "
        "or a short commit; replace by a calibration)",
    )  # fmt: skip
    redis_shards: int = key(
        0, 0, 1_000,
        source="0: Redis is not a shared capacity; else Redis Cluster primaries, each key on the "
        "shard of its hash slot",
    )  # fmt: skip
    redis_ops_per_s: float = key(
        100_000.0, 1, 10_000_000, unit="operations/s",
        source="with redis_shards: operations per second one single-threaded shard serves "
        "(assumption: public redis-benchmark runs give 70k-150k SET/GET per second without "
        "pipelining; replace by a calibration)",
    )  # fmt: skip
    calibration: str | None = key(
        None,
        doc="a calibration file (payharness calibrate) whose measured figures replace this "
        "section's defaults; a path relative to the scenario file, else to the working "
        "directory; a key set in the scenario itself wins over the file",
    )
    cores: int = key(
        0, 0, 4096,
        doc="CPU cores the servers and the processes beside them share (sim.cpu)",
        source="0: no CPU model, a server is only its workers and the figures below are unused",
    )  # fmt: skip
    server_cores: int = key(
        1, 1, 4096,
        source="a Python server process runs its event loop on one core at a time (the GIL)",
    )  # fmt: skip
    cpu_ms_new: float = key(
        0.0, 0, 10_000, unit="ms", source="assumption: none until calibrated",
        doc="a server's CPU per request that makes a new payment",
    )  # fmt: skip
    cpu_ms_replay: float = key(
        0.0, 0, 10_000, unit="ms", source="assumption: none until calibrated",
        doc="a server's CPU per request answered as a replay of an earlier answer",
    )  # fmt: skip
    cpu_ms_conflict: float = key(
        0.0, 0, 10_000, unit="ms", source="assumption: none until calibrated",
        doc="a server's CPU per request refused with 409 or 422",
    )  # fmt: skip
    shared_cpu_ms_new: float = key(
        0.0, 0, 10_000, unit="ms", source="assumption: none until calibrated",
        doc="CPU per new payment of the other processes on the same cores (provider, Redis, "
        "Postgres, the load generator): taken from the cores beside the request, not on its path",
    )  # fmt: skip
    shared_cpu_ms_replay: float = key(
        0.0, 0, 10_000, unit="ms", source="assumption: none until calibrated",
        doc="the same per replayed request",
    )  # fmt: skip
    shared_cpu_ms_conflict: float = key(
        0.0, 0, 10_000, unit="ms", source="assumption: none until calibrated",
        doc="the same per refused request",
    )  # fmt: skip
    cpu_background: float = key(
        0.0, 0, 4096, unit="processes",
        source="assumption: nothing else runs on the cores",
        doc="other work on the machine: how many processes outside the system are runnable on "
        "average (a CPU-bound job is 1); each takes fair turns on the cores",
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class FaultSpec:
    kind: FaultKind = key(None, choices=FaultKind, doc="what fails (required; see the kinds)")
    at_s: float = key(0.0, 0, unit="s", doc="when the fault starts")
    duration_s: float | None = key(
        None, 0, unit="s", source="default: to the end of the load phase"
    )
    probability: float | None = key(None, 0, 1, source="per matching effect, inside the window")
    server: int | None = key(None, 0, 999, source="server index; default: any")
    effect: str | None = key(
        None,
        choices=tuple(e.__name__ for e in SERVER_EFFECTS),
        source="server_crash: crash when a flow reaches this effect",
    )
    count: int | None = key(None, 1, source="fire at most this many times")
    restart_s: float = key(
        5.0, 0, unit="s",
        source="server_crash: restart delay (assumption: a supervisor restarts a server in 5 s)",
    )  # fmt: skip
    stall_s: float = key(60.0, 0, unit="s",
                         source="server_stall: pause length (GC, VM migration)")  # fmt: skip
    extra_ms: float = key(0.0, 0, unit="ms", source="stripe_latency_spike: added latency")
    factor: float = key(1.0, 1, source="stripe_latency_spike: latency multiplier")
    charged: bool = key(False, source="stripe_5xx: the charge was made before the 500")

    def window(self, load_end_s: float) -> tuple[float, float]:
        """Start and end of the fault in seconds (a point fault has a zero-length window)."""
        if self.kind in (FaultKind.REDIS_FAILOVER, FaultKind.PROVIDER_KEY_WINDOW) and (
            self.duration_s is None
        ):
            return self.at_s, self.at_s
        if self.kind == FaultKind.SERVER_STALL and self.probability is None:
            return self.at_s, self.at_s + self.stall_s
        if self.kind == FaultKind.SERVER_CRASH and self.probability is None and self.effect is None:
            return self.at_s, self.at_s + self.restart_s
        end = self.at_s + self.duration_s if self.duration_s is not None else load_end_s
        return self.at_s, max(self.at_s, end)


@dataclass(frozen=True, slots=True)
class Expectation:
    """What a scenario claims of a variant, over every seed it is run with.

    ``hold``: the property holds under *every* seed run (one breaking seed refutes it).
    ``break``: the property breaks under *at least one* seed run, and under at least the
    share ``break_rate`` of them when that is given. A run at one seed is a swarm of one:
    there a ``break`` claim needs that seed to break it. A property named in neither list is
    not claimed; its counts are still reported."""

    hold: tuple[str, ...] = key([], kind=(list, str))
    broken: tuple[str, ...] = key([], kind=(list, str), toml="break")
    break_rate: float | None = key(
        None, 0, 1, source="least share of the seeds run under which each 'break' property breaks"
    )

    def unmet(self, broken_runs: Mapping[str, int], runs: int) -> list[str]:
        """Each claim the counts refute: ``broken_runs[p]`` is how many of ``runs`` seeds
        broke property ``p`` (a property the run did not check counts as not broken)."""
        out = [f"{p} expected to hold" for p in self.hold if broken_runs.get(p, 0) > 0]
        least = max(1.0, (self.break_rate or 0.0) * runs)
        for p in self.broken:
            if broken_runs.get(p, 0) < least:
                out.append(
                    f"{p} expected to break"
                    + (f" under {self.break_rate:.0%} of seeds" if self.break_rate else "")
                )
        return sorted(out)

    def met(self, holds: Mapping[str, bool | None]) -> bool:
        """One run's verdict against the claims (a swarm of one seed)."""
        return not self.unmet({p: int(h is False) for p, h in holds.items()}, 1)


@dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    name: str = key(None, required=True, doc="default: the file's stem")
    file: str
    description: str = key(None, required=True, doc="required: what situation this is")
    seed: int = key(1, 0, required=True, doc="random seed (payharness run --seed overrides it)")
    settle_s: float | None = key(
        None, 0, unit="s", source="default: past the lock TTL and stale-row age", required=True
    )
    load: Load
    workload: Workload
    client: ClientPolicy
    topology: Topology
    variant_overrides: Mapping[str, Any]
    faults: tuple[FaultSpec, ...]
    expect: Mapping[str, Expectation]
    raw: Mapping[str, Any]
    calibration: Calibration | None = None
    """The calibration file ``[topology] calibration`` named, with every figure's source."""
    variant_topology: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Per variant, the calibration's figures of that variant (its servers' CPU per path)."""

    def topology_for(self, variant: str) -> Topology:
        """The topology a run of ``variant`` uses: ``topology`` with that variant's
        calibrated figures (none without a calibration: the same object)."""
        own = self.variant_topology.get(variant)
        return replace(self.topology, **own) if own else self.topology

    def expectation(self, variant: str, provider: str = "stripe") -> Expectation:
        """``[expect.<variant>.<provider>]`` when the file has it, else ``[expect.<variant>]``
        (which applies to every provider)."""
        return self.expect.get(f"{variant}.{provider}", self.expect[variant])

    def variant(self, base: Variant) -> Variant:
        """The variant with this scenario's overrides (e.g. a shorter lock TTL) applied."""
        if not self.variant_overrides:
            return base
        return base.with_changes(base.name, base.summary, **self.variant_overrides)

    def with_seed(self, seed: int) -> Scenario:
        return replace(self, seed=seed)

    def with_params(self, params: Mapping[str, Any]) -> Scenario:
        """A copy with dotted keys changed (``topology.servers``, ``variant.lock_ttl_ms``),
        re-validated so a sweep cell gets the same checks as a file."""
        raw = copy.deepcopy(dict(self.raw))
        for dotted, value in params.items():
            section, _, name = dotted.partition(".")
            if not name:
                raw[section] = value
                continue
            raw.setdefault(section, {})[name] = value
        return parse(raw, self.file)


SECTIONS = ("load", "workload", "client", "topology", "variant", "faults", "expect")
VARIANT_KEYS = tuple(
    f.name for f in fields(Variant) if f.name not in ("name", "summary") and f.type != "str"
)


# --- loading and validation ---------------------------------------------------------------


def _value(file: str, where: str, spec: Spec, value: Any) -> Any:
    kinds = spec.kinds
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
    if spec.enum is not None:
        return spec.enum(value)
    return (
        float(value) if float in kinds and int in kinds and not isinstance(value, bool) else value
    )


def _section(file: str, name: str, table: Any, shape: type) -> dict[str, Any]:
    """The keys ``shape`` declares, validated from ``table`` or defaulted, by field name."""
    if not isinstance(table, dict):
        raise ScenarioError(file, name, f"must be a table ([{name}]); got {table!r}")
    keys = schema(shape)
    unknown = sorted(set(table) - set(keys))
    if unknown:
        raise ScenarioError(
            file,
            f"{name}.{unknown[0]}",
            "unknown key; allowed keys: " + ", ".join(keys),
        )
    out: dict[str, Any] = {}
    for toml_key, (field_name, spec) in keys.items():
        if toml_key in table:
            out[field_name] = _value(file, f"{name}.{toml_key}", spec, table[toml_key])
        else:
            out[field_name] = spec.default
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
    top_keys = schema(Scenario)
    unknown = sorted(set(data) - set(top_keys) - set(SECTIONS) - {"bursts"})
    if unknown:
        raise ScenarioError(
            file,
            unknown[0],
            "unknown top-level key; allowed: " + ", ".join([*top_keys, *SECTIONS]),
        )
    top = _section(file, "(top level)", {k: v for k, v in data.items() if k in top_keys}, Scenario)
    if top["description"] is None or not top["description"].strip():
        raise ScenarioError(file, "description", "is required: say what situation this is")
    name = top["name"] or Path(file).stem
    load_raw = dict(data.get("load", {})) if isinstance(data.get("load", {}), dict) else None
    if load_raw is None:
        raise ScenarioError(file, "load", "must be a table ([load])")
    bursts_raw = load_raw.pop("bursts", [])
    load = _section(file, "load", load_raw, Load)
    if not isinstance(bursts_raw, list):
        raise ScenarioError(file, "load.bursts", "must be a list of {at_s, duration_s, rate}")
    bursts = tuple(
        Burst(**_section(file, f"load.bursts[{i}]", b, Burst)) for i, b in enumerate(bursts_raw)
    )
    if load["arrivals"] == "burst" and not bursts:
        raise ScenarioError(file, "load.bursts", "arrivals = 'burst' needs at least one burst")
    if load["arrivals"] == "ramp" and load["rate_end"] is None:
        raise ScenarioError(file, "load.rate_end", "arrivals = 'ramp' needs rate_end")
    workload = _section(file, "workload", data.get("workload", {}), Workload)
    if workload["amount_max"] < workload["amount_min"]:
        raise ScenarioError(file, "workload.amount_max", "must be >= workload.amount_min")
    client = _section(file, "client", data.get("client", {}), ClientPolicy)
    topology_raw = data.get("topology", {})
    topology = _section(file, "topology", topology_raw, Topology)
    calibration, per_variant = _calibrate(file, topology, topology_raw)
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
        per_provider = {}
        if isinstance(table, dict):
            per_provider = {p: t for p, t in table.items() if p in PROVIDERS}
            table = {k: v for k, v in table.items() if k not in PROVIDERS}
        expect[variant_name] = _expectation(file, f"expect.{variant_name}", table)
        for provider, sub in per_provider.items():
            where = f"expect.{variant_name}.{provider}"
            expect[f"{variant_name}.{provider}"] = _expectation(file, where, sub)
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
        calibration=calibration,
        variant_topology=per_variant,
    )


def _calibrate(
    file: str, topology: dict[str, Any], explicit: Mapping[str, Any]
) -> tuple[Calibration | None, dict[str, dict[str, Any]]]:
    """Apply the calibration file ``topology["calibration"]`` names to ``topology`` (in place)
    under the keys the scenario does not set itself; return it and its per-variant figures.
    Order of precedence: a key's default < the calibration < the scenario's own value."""
    name = topology["calibration"]
    if name is None:
        return None, {}
    path = resolve(name, file)
    try:
        calibration = read_calibration(path)
    except CalibrationError as exc:
        raise ScenarioError(file, "topology.calibration", f"{path}: {exc}") from None
    keys = schema(Topology)
    where = f"topology.calibration ({path})"

    def checked(table: str, figures: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, figure in figures.items():
            if k not in keys or k in NOT_CALIBRATED:
                allowed = [k for k in keys if k not in NOT_CALIBRATED]
                raise ScenarioError(
                    file,
                    f"{where}: {table}.{k}",
                    "not calibratable; allowed: " + ", ".join(allowed),
                )
            field_name, spec = keys[k]
            value = _value(file, f"{where}: {table}.{k}", spec, figure.value)
            if k not in explicit:
                out[field_name] = value
        return out

    topology.update(checked("topology", calibration.topology))
    per_variant: dict[str, dict[str, Any]] = {}
    for v, figures in calibration.variants.items():
        if v not in VARIANTS:
            raise ScenarioError(
                file, f"{where}: variants.{v}", "unknown variant; allowed: " + ", ".join(VARIANTS)
            )
        per_variant[v] = checked(f"variants.{v}", figures)
    assert set(CPU_KEYS) <= set(keys), "every per-variant key is a topology key"
    return calibration, per_variant


def _expectation(file: str, where: str, table: Any) -> Expectation:
    section = _section(file, where, table, Expectation)
    hold = _props(file, f"{where}.hold", section["hold"])
    broken = _props(file, f"{where}.break", section["broken"])
    both = sorted(set(hold) & set(broken))
    if both:
        raise ScenarioError(file, where, f"{both[0]} is listed under both hold and break")
    return Expectation(hold, broken, section["break_rate"])


def _fault(file: str, i: int, table: Any, servers: int) -> FaultSpec:
    where = f"faults[{i}]"
    if isinstance(table, dict) and "kind" not in table:
        kind = schema(FaultSpec)["kind"][1]
        raise ScenarioError(file, f"{where}.kind", "is required; " + kind.describe())
    spec = FaultSpec(**_section(file, where, table, FaultSpec))
    if spec.server is not None and spec.server >= servers:
        raise ScenarioError(
            file, f"{where}.server", f"got {spec.server}; allowed: 0 to {servers - 1}"
        )
    needs: dict[str, Callable[[FaultSpec], bool]] = {
        FaultKind.STRIPE_LATENCY_SPIKE: lambda f: f.extra_ms > 0 or f.factor > 1,
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
    """A scenario by file path or by name (the file's stem in ``scenarios/``, with or
    without its ``.toml`` suffix)."""
    path = Path(name_or_path)
    if path.exists() or (path.suffix == ".toml" and path.name != name_or_path):
        return load_file(path)
    candidate = directory / (path.name if path.suffix == ".toml" else f"{name_or_path}.toml")
    if candidate.exists():
        return load_file(candidate)
    known = ", ".join(p.stem for p in scenario_files(directory))
    raise ScenarioError(name_or_path, "(name)", f"no such scenario; known: {known}")


def load_all(directory: Path = SCENARIO_DIR) -> list[Scenario]:
    return [load_file(p) for p in scenario_files(directory)]
