"""The property gate's state machine: the world's actions as rules, the claims as invariants.

``PaymentWorld`` is a ``RuleBasedStateMachine`` whose rules are the actions of the world —
clients making keys and sending requests (duplicates, retries, another payload, a fresh key
for an order that may already be paid), one in-flight flow advancing by one effect, a server
crashing, the provider's reply getting lost, a commit failing, the clock jumping past lock
TTLs or the provider's 24 h key window, servers pausing while the reconciler runs, Redis
losing its data, Redis or Postgres going down and coming back, the reconciler running.
After every step the properties that must always hold (``core.checker.ALWAYS``) are judged
by the one checker; at teardown the world settles (``core.runtime.settle``: healed, drained,
reconciled, every key retried as a client would) and the eventual properties are judged too.

The design under test is the class attribute ``variant``; ``machine_for`` makes the subclass
for one design, named after it (``HardenedWorld``) so a printed program replays as it reads.

Rules must keep their names and strategies: Hypothesis orders rules by name, and the ``ci``
profile's derandomized search depends on that order.

Timing assumption: no server works on a request (or a reconciliation pass) for an hour. A
flow that time would carry past that deadline, in one clock jump or in many pauses, is
abandoned *before* the clock moves: its server gives up within the hour, and a charge it had
sent executes at the provider then (in seconds, as providers do), not hours later when the
clock has moved on. Shorter jumps (past lock TTLs, past the 60 s stale threshold) leave
flows alive as zombies, which is where fencing is tested.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    multiple,
    precondition,
    rule,
)

from core.checker import check
from core.domain import MAX_AMOUNT, PaymentRequest
from core.effects import (
    Conflict,
    Effect,
    Fault,
    OutcomeUnknown,
    ProviderCharge,
    ProviderChargesForPayment,
    ProviderRetrieve,
    Unavailable,
)
from core.history import Event
from core.providers import STRIPE, ProviderContract
from core.runtime.interceptor import Scripted
from core.runtime.settle import settle
from core.runtime.stepper import Stepper
from core.runtime.world import World
from core.variants import HARDENED, HOUR_MS, PROVIDER_KEY_WINDOW_MS, Variant
from verify.story import duration, note

MERCHANTS = ("m1", "m1:k")
"""Two merchants, one name a prefix of the other up to a separator: a scoped key made by
joining merchant and key with ':' would confuse m1's key 'k:1' with m1:k's key '1'."""
ORDERS = ("o1", "o2")
KEY_TEXTS = ("k1", "k:1", "1", "k{1}:x y")
"""What a client's idempotency key looks like: plain, with the separators the gateway's own
keys use (':', a Redis hash tag's braces) and a space. Made unique per merchant by a suffix."""
AMOUNTS = st.one_of(
    st.sampled_from((1, 49, 50, 999, 1000, 1001, MAX_AMOUNT - 1, MAX_AMOUNT)),
    st.integers(1, MAX_AMOUNT),
)
"""Every valid amount in minor units: the limits, the provider's minimum charge (50) either
side, odd values."""
CURRENCIES = ("usd", "jpy", "kwd", "bhd", "eur")
"""Two-decimal, zero-decimal (jpy) and three-decimal (kwd, bhd) currencies."""
METADATA = st.dictionaries(
    st.sampled_from(("note", "ключ", "a:b", "{tag}", "emoji 🎉", "")),
    st.sampled_from(("", "x", "é", "日本語", "a:b|c=d", " ")),
    max_size=3,
)
"""Client metadata: varied names, values and insertion order, unicode and separators."""
REQUEST_DEADLINE_MS = HOUR_MS
"""The gate's one timing assumption: no server keeps working on a request for an hour. Without
it, a server paused for a day between inserting PENDING and charging would charge after the
reconciler, past the key window, had looked the charge up, found none and failed the row:
no design can fence a charge request that is sent a day late (see the report in issue 4)."""
MAX_KEYS = 3
"""Few keys, many actions on each: the bugs live in what happens to one key or one order."""
SOURCES = ("tok_visa", "tok_chargeDeclined")
CLOCK_JUMPS = (
    150,  # past a short lock TTL, inside everything else
    1_000,
    46_000,  # past hardened's 45 s lock TTL
    61_000,  # past the 60 s 'stale' threshold: the reconciler takes PENDING rows
    23 * HOUR_MS,  # inside the provider's 24 h key window, past hardened's 22 h margin
    25 * HOUR_MS,  # past the provider's 24 h key window: keys are forgotten
)
STALLS = (
    46_000,  # past hardened's 45 s lock TTL: another server may take the key
    61_000,  # past the 60 s 'stale' threshold: the reconciler takes the paused rows
    600_000,  # past every timeout (lock TTL, stale threshold, provider timeout)
)
"""How long a paused server sleeps (a GC pause, a VM migration): short of the request
deadline, so the flows it runs wake up as zombies."""
FAULTS = (
    "redis down",
    "redis up",
    "postgres down",
    "postgres up",
    "redis loses its data",
    "the next commit fails",
)
STOPS = (
    "done",
    "PaymentInsert",
    "ProviderCharge (reply)",
    "DbTransaction",
    "CachePut",
    "arrived",
    "a commit",
)
"""Where a flow is paused: at its end, before the insert, while the provider executes the
charge, before the save, before caching the answer, just arrived (nothing run), or right
after its next commit (an insert, a transition, a save)."""
COMMITS = frozenset({"PaymentInsert", "PaymentTransition", "DbTransaction", "OrderMarkPaid"})
"""Effects that commit to Postgres: the 'a commit' stop pauses right after one of them."""
PROVIDER_FAULTS = (
    "provider down",
    "provider up",
    "charge: unavailable",
    "charge: 429",
    "charge: 500 before executing",
    "charge: 409 in flight",
    "charge: 500 after executing",
    "charge: reply lost",
    "lookup: unavailable",
    "lookup: 429",
    "lookup: 500",
    "lookup: reply lost",
)
"""What the provider does to the next charge or lookup (whoever sends it: a request or the
reconciler), or to every call while it is down. Each maps to a fault the flows handle:
``Unavailable`` (refused before anything ran: down, 429), ``OutcomeUnknown`` (a 500, a
timeout, a lost reply: it may have run), ``Conflict`` (409: the key is in use)."""
STOP_EFFECTS = {"CachePut": frozenset({"CachePut", "CachePutAndRelease"})}
"""The effects a stop pauses before, where they are more than the stop's own name: caching
the answer is hardened's ``CachePutAndRelease`` (the cache put and the lock release)."""
RUN_LIMIT = 500
CHECKED_KINDS = frozenset({"request", "response", "charge", "phase"})
"""The only events ``check`` reads besides the final state; traces use the full history."""

MerchantKey = tuple[str, str]


@dataclass(slots=True)
class GateStats:
    """Counters shared by every example of one gate run."""

    examples: int = 0
    steps: int = 0
    effects: int = 0
    checks: int = 0
    first_failure_at: int | None = None

    def failed(self) -> None:
        if self.first_failure_at is None:
            self.first_failure_at = self.examples


class GateFailure(AssertionError):
    """A property broke; the message is the checker's verdict with its minimal traces,
    rendered only when asked for (shrinking raises thousands of these and reads none)."""

    def __init__(self, headline: str, render: Callable[[], str]) -> None:
        super().__init__(headline)
        self.headline = headline
        self._render = render
        self._text: str | None = None

    def __str__(self) -> str:
        if self._text is None:
            self._text = f"{self.headline}\n{self._render()}"
        return self._text


class PaymentWorld(RuleBasedStateMachine):
    """One world of servers, clients, Redis, Postgres and the provider for ``variant``."""

    variant: ClassVar[Variant] = HARDENED
    provider: ClassVar[ProviderContract] = STRIPE
    """The provider's contract (``core.providers``); clock jumps named by the key window
    ('inside it, past hardened's margin', 'past it') move by that provider's window."""
    stats: ClassVar[GateStats] = GateStats()
    """Set per run by ``machine_for``; the defaults only make the base class runnable."""

    keys = Bundle("keys")
    flows = Bundle("flows")

    def __init__(self) -> None:
        super().__init__()
        self.stats.examples += 1
        self.world = World(self.variant, contract=self.provider)
        self.stepper = Stepper(self.world)
        self.requests: dict[MerchantKey, PaymentRequest] = {}
        self.sent: dict[MerchantKey, list[PaymentRequest]] = {}
        self.accepted: dict[MerchantKey, PaymentRequest] = {}
        self.by_attempt: dict[str, PaymentRequest] = {}
        self.checked: list[Event] = []
        self.world.history.listeners.append(self._keep)
        self.made = 0
        self.arrived: dict[str, int] = {}
        """When each flow's request arrived (or its reconciliation pass started)."""
        self.seen: tuple[int, int, int] = (0, 0, 0)
        self.broken = False

    def _keep(self, event: Event) -> None:
        """Keep what the checker reads, and which payload of each key the gateway accepted
        (answered for, or charged): the payload its client retries when the world settles."""
        if event.kind not in CHECKED_KINDS:
            return
        self.checked.append(event)
        mk = (event.merchant, event.key)
        if mk in self.accepted or mk not in self.sent:
            return
        if event.kind == "response" and event.outcome in ("paid", "failed", "pending"):
            self.accepted[mk] = self.by_attempt[event.attempt]
        elif event.kind == "charge":
            payload = (event.order, event.amount, event.currency, event.source)
            for request in self.sent[mk]:
                if (request.order, request.amount, request.currency, request.source) == payload:
                    self.accepted[mk] = request
                    break

    # --- clients --------------------------------------------------------------------------

    def _register(self, request: PaymentRequest, story: str) -> MerchantKey:
        mk = (request.merchant, request.idempotency_key)
        self.requests.setdefault(mk, request)
        meta = f", metadata {dict(request.metadata)!r}" if request.metadata else ""
        note(
            f"{story}: {mk[0]}/{mk[1]} for order {request.order}, "
            f"{request.amount} {request.currency}, {request.source}{meta}"
        )
        return mk

    def _submit(self, request: PaymentRequest) -> str:
        mk = (request.merchant, request.idempotency_key)
        self.sent.setdefault(mk, []).append(request)
        attempt = self.stepper.submit(request, client=f"client-{mk[0]}-{mk[1]}")
        self.arrived[attempt] = self.world.clock.now
        self.by_attempt[attempt] = request
        return attempt

    def _fresh_key(self, merchant: str, text: str | None = None) -> str:
        self.made += 1
        key = text if text is not None else f"k{self.made}"
        if (merchant, key) in self.requests:
            key = f"{key}-{self.made}"
        return key

    @precondition(lambda self: len(self.requests) < MAX_KEYS)
    @rule(
        target=keys,
        merchant=st.sampled_from(MERCHANTS),
        order=st.sampled_from(ORDERS),
        source=st.sampled_from(SOURCES),
        key=st.sampled_from(KEY_TEXTS),
        amount=AMOUNTS,
        currency=st.sampled_from(CURRENCIES),
        metadata=METADATA,
    )
    def new_key(
        self,
        merchant: str,
        order: str,
        source: str,
        key: str | None = None,
        amount: int = 1000,
        currency: str = "usd",
        metadata: dict[str, str] | None = None,
    ) -> Any:
        """A client generates an idempotency key for a payment (nothing sent yet). The
        defaults are for hand-written programs; the gate draws every argument."""
        request = PaymentRequest(
            merchant,
            order,
            amount,
            currency,
            source,
            self._fresh_key(merchant, key),
            metadata or {},
        )
        return self._register(request, "a client makes a new key")

    @precondition(lambda self: len(self.requests) < MAX_KEYS)
    @rule(target=keys, like=keys)
    def new_key_same_order(self, like: MerchantKey) -> Any:
        """A client lost its key and pays the same order again under a fresh one."""
        first = self.requests[like]
        request = replace(first, idempotency_key=self._fresh_key(first.merchant))
        return self._register(request, f"a client re-pays {first.order} under a new key")

    @precondition(lambda self: len(self.requests) < MAX_KEYS)
    @rule(target=keys, like=keys)
    def same_key_other_merchant(self, like: MerchantKey) -> Any:
        """Another merchant's client happens to pick the same key string."""
        first = self.requests[like]
        other = MERCHANTS[(MERCHANTS.index(first.merchant) + 1) % len(MERCHANTS)]
        if (other, first.idempotency_key) in self.requests:
            return multiple()
        request = replace(first, merchant=other)
        return self._register(request, "another merchant's client picks the same key")

    @rule(target=flows, key=keys, until=st.sampled_from(STOPS))
    def send(self, key: MerchantKey, until: str) -> Any:
        """Send (or resend: a duplicate in flight, or a retry) the key's request; its
        server runs it until ``until``."""
        request = _reserialised(self.requests[key])
        running = [
            f.attempt
            for f in self.stepper.flows.values()
            if f.request is not None and (f.request.merchant, f.request.idempotency_key) == key
        ]
        attempt = self._submit(request)
        what = f"duplicate while {', '.join(running)} in flight" if running else "send"
        note(f"{attempt}: {what} {key[0]}/{key[1]}")
        return self._run_until(attempt, until)

    @rule(
        target=flows,
        key=keys,
        change=st.sampled_from(("amount", "order", "source", "currency")),
        until=st.sampled_from(STOPS),
    )
    def send_other_payload(self, key: MerchantKey, change: str, until: str) -> Any:
        """A client bug: the key is reused with a different payload."""
        first = self.requests[key]
        if change == "amount":
            other = first.amount + 500 if first.amount + 500 <= MAX_AMOUNT else first.amount - 500
            request = replace(first, amount=other)
        elif change == "currency":
            request = replace(first, currency="eur" if first.currency != "eur" else "usd")
        elif change == "order":
            request = replace(first, order=first.order + "-other")
        else:
            request = replace(first, source="tok_mastercard")
        attempt = self._submit(request)
        note(f"{attempt}: reuse {key[0]}/{key[1]} with another {change}")
        return self._run_until(attempt, until)

    # --- servers --------------------------------------------------------------------------

    def _step(self, attempt: str) -> str:
        """Advance one flow by one effect; returns the name of the effect it was at."""
        flow = self.stepper.flows[attempt]
        before = flow.pending_name
        self.stats.effects += 1
        try:
            self.stepper.step(attempt)
        except Fault as exc:  # escaped the flow: the server answers 500 and forgets it
            self.stepper.flows.pop(attempt, None)
            self.world.note("crash", f"unhandled {exc!r} at {before}", attempt)
            note(f"{attempt}: unhandled {exc!r} at {before}")
            return before
        after = self.stepper.finished.get(attempt)
        if after is not None:
            note(f"{attempt}: {before} → answers {after.status} {after.outcome}")
        return before

    @rule(target=flows, flow=consumes(flows), effects=st.integers(1, 4))
    def advance(self, flow: str, effects: int) -> Any:
        """Advance one in-flight flow by 1-3 effects (a charge: send, then reply)."""
        for _ in range(effects):
            if flow not in self.stepper.flows:
                break
            self._step(flow)
        return multiple(flow) if flow in self.stepper.flows else multiple()

    @rule(target=flows, flow=consumes(flows), until=st.sampled_from(STOPS))
    def resume(self, flow: str, until: str) -> Any:
        """Run one flow on its own until it is about to do ``until`` (or has finished)."""
        return self._run_until(flow, until)

    def _run_until(self, flow: str, until: str) -> Any:
        if until != "arrived":
            for _ in range(RUN_LIMIT):
                if flow not in self.stepper.flows:
                    break
                did = self._step(flow)
                here = self.stepper.flows.get(flow)
                if here is None:
                    break
                if until == "a commit" and did in COMMITS:
                    note(f"{flow}: paused after {did}")
                    break
                if here.pending_name in STOP_EFFECTS.get(until, (until,)):
                    note(f"{flow}: paused before {until}")
                    break
        return multiple(flow) if flow in self.stepper.flows else multiple()

    @rule(flow=consumes(flows))
    def crash(self, flow: str) -> None:
        """The server running this flow dies where it stands."""
        if flow in self.stepper.flows:
            where = self.stepper.flows[flow].pending_name
            self.stepper.crash(flow)
            note(f"{flow}: server crashes at {where}")

    @precondition(lambda self: any(f.ticket for f in self.stepper.flows.values()))
    @rule()
    def lose_provider_reply(self) -> None:
        """The provider charged, but the server hears only a timeout."""
        attempt = next(a for a, f in sorted(self.stepper.flows.items()) if f.ticket)
        self.stepper.lose_provider_reply(attempt)
        note(f"{attempt}: the provider's reply is lost after it charged")

    @rule(target=flows)
    def start_reconciler(self) -> Any:
        """A reconciliation pass starts; it interleaves with the requests."""
        attempt = self.stepper.start_reconciler()
        self.arrived[attempt] = self.world.clock.now
        note(f"{attempt}: the reconciler starts a pass")
        return attempt

    @rule()
    def reconcile(self) -> None:
        """A whole reconciliation pass runs at once."""
        note("the reconciler runs a whole pass")
        self._reconcile()

    @rule(until=st.sampled_from(STOPS))
    def reconcilers_race(self, until: str) -> None:
        """Two reconciliation passes overlap (two workers, or a pass that outlived its
        schedule): the second reads the rows and runs until ``until``, the first runs a
        whole pass, then the second carries on with what it read. The stale read the
        compare-and-set fences, in one step instead of four."""
        second = self.stepper.start_reconciler()
        note(f"{second}: a reconciler starts a pass")
        self._run_until(second, until)
        self._reconcile()
        if second in self.stepper.flows:
            note(f"{second}: carries on with the rows it read")
            self._run_until(second, "done")

    def _reconcile(self) -> None:
        attempt = self.stepper.start_reconciler()
        while attempt in self.stepper.flows:
            self._step(attempt)

    @precondition(lambda self: bool(self.stepper.flows))
    @rule(ms=st.sampled_from(STALLS))
    def servers_pause_while_reconciling(self, ms: int) -> None:
        """The servers in flight pause (a GC pause, a VM migration) while the reconciler
        runs a pass over their rows; afterwards their flows carry on as zombies. The same
        as the clock jumping and a reconciliation pass, in one step: the zombie case that
        fencing exists for, reached without waiting for those two steps to meet."""
        self._abandon_overdue(ms)
        self.world.clock.advance(ms)
        paused = ", ".join(self.stepper.in_flight())
        note(f"{paused} pause {duration(ms)} while the reconciler runs a whole pass")
        self._reconcile()

    # --- faults ---------------------------------------------------------------------------

    @rule(fault=st.sampled_from(FAULTS))
    def backend_fault(self, fault: str) -> None:
        """Redis or Postgres goes down or comes back, Redis loses its data, a commit fails."""
        world = self.world
        if fault == "redis down":
            world.redis.available = False
        elif fault == "redis up":
            world.redis.available = True
        elif fault == "postgres down":
            world.postgres.available = False
        elif fault == "postgres up":
            world.postgres.available = True
        elif fault == "redis loses its data":
            fault += f" ({world.redis.lose_data()} keys)"
        else:
            world.postgres.fail_next_commits(1)
        world.note("fault", fault)
        note(fault)

    @rule(fault=st.sampled_from(PROVIDER_FAULTS))
    def provider_fault(self, fault: str) -> None:
        """The provider goes down or comes back, or mistreats the next charge or lookup
        (whichever flow sends it: a request's server or the reconciler)."""
        world = self.world
        if fault in ("provider down", "provider up"):
            world.stripe.available = fault == "provider up"
        else:
            target, what = fault.split(": ")
            armed = self.stepper.faults
            if not isinstance(armed, Scripted):
                armed = self.stepper.faults = Scripted()
            matches = _is_charge if target == "charge" else _is_lookup
            after = what in ("500 after executing", "reply lost")
            made = _provider_fault(what)
            if after:
                armed.fail_after(matches, made)
            else:
                armed.fail_before(matches, made)
        world.note("fault", fault)
        note(fault)

    @rule(ms=st.sampled_from(CLOCK_JUMPS))
    def advance_clock(self, ms: int) -> None:
        """Time passes. No server is still working on a request past ``REQUEST_DEADLINE_MS``
        after it arrived: such flows are abandoned before the clock moves (module doc)."""
        ms = provider_jump(self.provider, ms)
        self._abandon_overdue(ms)
        self.world.clock.advance(ms)
        note(f"the clock moves {duration(ms)} to t={duration(self.world.clock.now)}")

    def _abandon_overdue(self, ms: int) -> None:
        """Before the clock moves ``ms``: every flow whose deadline falls within the move is
        abandoned now, so a charge it sent executes at the provider before the clock moves."""
        later = self.world.clock.now + ms
        for attempt in self.stepper.in_flight():
            if later - self.arrived.get(attempt, self.world.clock.now) >= REQUEST_DEADLINE_MS:
                where = self.stepper.flows[attempt].pending_name
                self.stepper.crash(attempt)
                note(f"{attempt}: past its deadline, its server gave up at {where}")

    # --- the claimed properties -----------------------------------------------------------

    def _judge(self, *, eventual: bool) -> None:
        self.stats.checks += 1
        final = self.world.final_state()
        verdict = check(self.checked, final, eventual=eventual)
        if verdict.ok:
            return
        self.broken = True
        self.stats.failed()
        events = list(self.world.history.events)
        when = "after settling" if eventual else "during the run"
        broken = ", ".join(sorted(verdict.broken()))
        raise GateFailure(
            f"{self.variant.name}: exactly-once broken {when} ({broken})",
            lambda: check(events, final, eventual=eventual).render(),
        )

    @invariant()
    def always(self) -> None:
        """E1, E2, E4, E6, T after every step, re-judged only when something they read
        changed: a response, a provider charge or an applied transition."""
        self.stats.steps += 1
        seen = (
            len(self.stepper.finished),
            len(self.world.stripe.charges),
            len(self.world.postgres.transitions),
        )
        if seen == self.seen:
            return
        self.seen = seen
        self._judge(eventual=False)

    def teardown(self) -> None:
        """The world settles — healed, drained, reconciled, then every key sent retries the
        payload the gateway accepted (else its first), as its client would: E3 and E5 must
        hold too."""
        if self.broken:
            return
        retries = (self.accepted.get(mk, sent[0]) for mk, sent in sorted(self.sent.items()))
        settle(self.stepper, retries, step=self._step, submit=self._submit)
        self._judge(eventual=True)


def _reserialised(request: PaymentRequest) -> PaymentRequest:
    """The same request built anew, as a client retrying it serialises it again: an equal
    payload in a new object, its metadata in another insertion order."""
    return PaymentRequest(
        request.merchant,
        request.order,
        request.amount,
        request.currency,
        request.source,
        request.idempotency_key,
        dict(reversed(list(request.metadata.items()))),
    )


def _is_charge(_attempt: str, effect: Effect[Any]) -> bool:
    return isinstance(effect, ProviderCharge)


def _is_lookup(_attempt: str, effect: Effect[Any]) -> bool:
    return isinstance(effect, ProviderRetrieve | ProviderChargesForPayment)


def _provider_fault(what: str) -> Fault:
    """The fault a flow meets for one of ``PROVIDER_FAULTS``' kinds."""
    if what == "unavailable":
        return Unavailable("stripe: connection refused")
    if what == "429":
        return Unavailable("stripe: 429 rate_limit (not saved; safe to retry)")
    if what == "409 in flight":
        return Conflict("idempotency_key_in_use: a request with this key is in flight")
    if what == "reply lost":
        return OutcomeUnknown("stripe: read timeout (the call may have happened)")
    if what == "500 after executing":
        return OutcomeUnknown("stripe: 500 api_error (after executing)")
    return OutcomeUnknown("stripe: 500 api_error (nothing executed)")


def provider_jump(provider: ProviderContract, ms: int) -> int:
    """A clock jump of ``CLOCK_JUMPS`` for ``provider``: the two named by Stripe's 24 h key
    window (an hour inside it, an hour past it) keep their meaning for another window."""
    if ms >= REQUEST_DEADLINE_MS and provider.key_window_ms != PROVIDER_KEY_WINDOW_MS:
        return ms - PROVIDER_KEY_WINDOW_MS + provider.key_window_ms
    return ms


def machine_for(
    variant: Variant,
    *,
    stats: GateStats | None = None,
    base: type[PaymentWorld] = PaymentWorld,
    provider: ProviderContract = STRIPE,
) -> type[PaymentWorld]:
    """``base`` (the world, or a sabotaged one) for one design and provider, counting into
    ``stats``."""
    name = _class_name(variant.name if provider is STRIPE else f"{variant.name}-{provider.name}")
    attributes = {
        "variant": variant,
        "provider": provider,
        "stats": stats if stats is not None else GateStats(),
        "__qualname__": name,
    }
    machine = type(name, (base,), attributes)
    assert issubclass(machine, PaymentWorld)
    return machine


def _class_name(variant_name: str) -> str:
    words = variant_name.replace("mutant:", "mutant-").replace("_", "-").split("-")
    return "".join(w.capitalize() for w in words if w) + "World"
