"""Fault injection at the effect seam: before an effect runs, or after it ran (lost reply).

An interceptor answers, for one attempt and one effect, whether to let it through, throw a
fault into the flow instead, or crash the server there (stop driving the flow).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from core.effects import Effect, Fault


class Crash(Exception):
    """Raised by an interceptor: the server running this attempt dies at this effect."""


class Interceptor(Protocol):
    def before(self, attempt: str, effect: Effect[Any]) -> Fault | None:
        """A fault to throw instead of running the effect (or raise ``Crash``)."""

    def after(self, attempt: str, effect: Effect[Any], result: object) -> Fault | None:
        """A fault to throw although the effect ran: the reply was lost (or raise ``Crash``)."""


Rule = Callable[[str, Effect[Any]], bool]


@dataclass(slots=True)
class Scripted:
    """Faults by rule, each used once: the simplest interceptor, for situations and tests."""

    before_rules: list[tuple[Rule, Fault | type[Crash]]] = field(default_factory=list)
    after_rules: list[tuple[Rule, Fault | type[Crash]]] = field(default_factory=list)
    fired: list[str] = field(default_factory=list)

    def fail_before(self, rule: Rule, fault: Fault | type[Crash]) -> Scripted:
        self.before_rules.append((rule, fault))
        return self

    def fail_after(self, rule: Rule, fault: Fault | type[Crash]) -> Scripted:
        self.after_rules.append((rule, fault))
        return self

    def before(self, attempt: str, effect: Effect[Any]) -> Fault | None:
        return self._fire(self.before_rules, attempt, effect, "before")

    def after(self, attempt: str, effect: Effect[Any], result: object) -> Fault | None:
        return self._fire(self.after_rules, attempt, effect, "after")

    def _fire(
        self,
        rules: list[tuple[Rule, Fault | type[Crash]]],
        attempt: str,
        effect: Effect[Any],
        when: str,
    ) -> Fault | None:
        for i, (rule, fault) in enumerate(rules):
            if rule(attempt, effect):
                del rules[i]
                self.fired.append(f"{when} {type(effect).__name__} of {attempt}: {fault!r}")
                if fault is Crash:
                    raise Crash(f"{attempt} crashed {when} {type(effect).__name__}")
                assert isinstance(fault, Fault)
                return fault
        return None


def on(effect_type: type[Any], attempt: str | None = None) -> Rule:
    """A rule matching an effect type, optionally only for one attempt."""

    def rule(a: str, effect: Effect[Any]) -> bool:
        return isinstance(effect, effect_type) and (attempt is None or a == attempt)

    return rule
