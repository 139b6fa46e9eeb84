"""Where the live backends are, read from the environment with local defaults.

Every setting has one environment variable so the stack launcher, the test fixtures and the
load harness configure servers the same way (child processes inherit it).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path

from core.variants import Variant, variant_named

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_DB_SCHEMA = "payharness"
DEFAULT_REDIS_PREFIX = "payharness:"
DEFAULT_STRIPE_API_BASE = "http://127.0.0.1:12111"
DEFAULT_STRIPE_API_KEY = "sk_test_payharness"
DEFAULT_PROVIDER = "stripe"
DEFAULT_PAYPAL_API_BASE = "http://127.0.0.1:12112"
DEFAULT_PAYPAL_CLIENT_ID = "payharness"
DEFAULT_PAYPAL_CLIENT_SECRET = "payharness-secret"
PAYPAL_PROVIDERS = ("paypal", "paypal-wait")
"""Provider names served by the PayPal adapter (the stand-in's ``--simultaneous`` reading)."""

REDACTED = "***"
_URL_PASSWORD = re.compile(r"(://[^:/@]*:)[^@]*@")
_SCHEMA_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_PREFIX_RE = re.compile(r"^[A-Za-z0-9_:.\-]{1,64}$")


class ConfigError(ValueError):
    """A setting is unusable; the message names the variable."""


@dataclass(frozen=True, slots=True)
class LiveConfig:
    """One process's view of the stack."""

    redis_url: str = DEFAULT_REDIS_URL
    database_url: str = DEFAULT_DATABASE_URL
    db_schema: str = DEFAULT_DB_SCHEMA
    redis_prefix: str = DEFAULT_REDIS_PREFIX
    stripe_api_base: str = DEFAULT_STRIPE_API_BASE
    stripe_api_key: str = DEFAULT_STRIPE_API_KEY
    stripe_lists_charges: bool = True
    """False for a stateless stand-in (stripe-mock): the audit counts the adapter's call log."""
    stripe_call_log: str | None = None
    """JSON-lines file where the provider adapter appends every charge call and its answer."""
    variant: str = "hardened"
    variant_overrides: str = ""
    """``field=value,…`` applied to the named variant: a test/load-harness knob (e.g. a short
    ``lock_ttl_ms`` so a crashed server's lock expires within a test). Empty in production."""
    provider: str = DEFAULT_PROVIDER
    """``stripe`` or ``paypal``/``paypal-wait`` (``core.providers``): which adapter the servers
    use and which contract the flows plan with."""
    paypal_api_base: str = DEFAULT_PAYPAL_API_BASE
    paypal_client_id: str = DEFAULT_PAYPAL_CLIENT_ID
    paypal_client_secret: str = DEFAULT_PAYPAL_CLIENT_SECRET
    pool_min: int = 1
    pool_max: int = 10
    redis_timeout_s: float = 2.0
    db_timeout_s: float = 5.0

    def __post_init__(self) -> None:
        if self.provider != DEFAULT_PROVIDER and self.provider not in PAYPAL_PROVIDERS:
            known = ", ".join((DEFAULT_PROVIDER, *PAYPAL_PROVIDERS))
            raise ConfigError(f"PAYHARNESS_PROVIDER={self.provider!r}: use one of {known}")
        if not _SCHEMA_RE.match(self.db_schema):
            raise ConfigError(
                f"PAYHARNESS_DB_SCHEMA={self.db_schema!r}: use lower-case letters, digits, '_'"
            )
        if not _PREFIX_RE.match(self.redis_prefix):
            # No braces: a prefix with '{...}' would become every key's Redis Cluster hash tag.
            raise ConfigError(
                f"PAYHARNESS_REDIS_PREFIX={self.redis_prefix!r}: use letters, digits, ':_.-' "
                "(no braces, which would override the keys' hash tags)"
            )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> LiveConfig:
        e = os.environ if env is None else env
        return cls(
            redis_url=e.get("PAYHARNESS_REDIS_URL", DEFAULT_REDIS_URL),
            database_url=e.get("PAYHARNESS_DATABASE_URL", DEFAULT_DATABASE_URL),
            db_schema=e.get("PAYHARNESS_DB_SCHEMA", DEFAULT_DB_SCHEMA),
            redis_prefix=e.get("PAYHARNESS_REDIS_PREFIX", DEFAULT_REDIS_PREFIX),
            stripe_api_base=e.get("PAYHARNESS_STRIPE_API_BASE", DEFAULT_STRIPE_API_BASE),
            stripe_api_key=e.get("PAYHARNESS_STRIPE_API_KEY", DEFAULT_STRIPE_API_KEY),
            stripe_lists_charges=e.get("PAYHARNESS_STRIPE_LISTS_CHARGES", "1") != "0",
            stripe_call_log=e.get("PAYHARNESS_STRIPE_CALL_LOG") or None,
            variant=e.get("PAYHARNESS_VARIANT", "hardened"),
            variant_overrides=e.get("PAYHARNESS_VARIANT_OVERRIDES", ""),
            pool_max=int(e.get("PAYHARNESS_DB_POOL_MAX", "10")),
            provider=e.get("PAYHARNESS_PROVIDER", DEFAULT_PROVIDER),
            paypal_api_base=e.get("PAYHARNESS_PAYPAL_API_BASE", DEFAULT_PAYPAL_API_BASE),
            paypal_client_id=e.get("PAYHARNESS_PAYPAL_CLIENT_ID", DEFAULT_PAYPAL_CLIENT_ID),
            paypal_client_secret=e.get(
                "PAYHARNESS_PAYPAL_CLIENT_SECRET", DEFAULT_PAYPAL_CLIENT_SECRET
            ),
        )

    @property
    def is_paypal(self) -> bool:
        return self.provider in PAYPAL_PROVIDERS

    def to_env(self) -> dict[str, str]:
        """The environment that makes a child process see this configuration."""
        env = {
            "PAYHARNESS_REDIS_URL": self.redis_url,
            "PAYHARNESS_DATABASE_URL": self.database_url,
            "PAYHARNESS_DB_SCHEMA": self.db_schema,
            "PAYHARNESS_REDIS_PREFIX": self.redis_prefix,
            "PAYHARNESS_STRIPE_API_BASE": self.stripe_api_base,
            "PAYHARNESS_STRIPE_API_KEY": self.stripe_api_key,
            "PAYHARNESS_STRIPE_LISTS_CHARGES": "1" if self.stripe_lists_charges else "0",
            "PAYHARNESS_VARIANT": self.variant,
            "PAYHARNESS_DB_POOL_MAX": str(self.pool_max),
        }
        if self.stripe_call_log:
            env["PAYHARNESS_STRIPE_CALL_LOG"] = self.stripe_call_log
        if self.variant_overrides:
            env["PAYHARNESS_VARIANT_OVERRIDES"] = self.variant_overrides
        if self.is_paypal:
            env["PAYHARNESS_PROVIDER"] = self.provider
            env["PAYHARNESS_PAYPAL_API_BASE"] = self.paypal_api_base
            env["PAYHARNESS_PAYPAL_CLIENT_ID"] = self.paypal_client_id
            env["PAYHARNESS_PAYPAL_CLIENT_SECRET"] = self.paypal_client_secret
        return env

    def redacted_env(self) -> dict[str, str]:
        """``to_env()`` with URL passwords and the API key masked, for files on disk."""
        env = self.to_env()
        for name in ("PAYHARNESS_REDIS_URL", "PAYHARNESS_DATABASE_URL"):
            env[name] = _URL_PASSWORD.sub(r"\1" + REDACTED + "@", env[name])
        key = env["PAYHARNESS_STRIPE_API_KEY"]
        if key != DEFAULT_STRIPE_API_KEY:
            env["PAYHARNESS_STRIPE_API_KEY"] = key[:8] + REDACTED
        secret = env.get("PAYHARNESS_PAYPAL_CLIENT_SECRET")
        if secret is not None and secret != DEFAULT_PAYPAL_CLIENT_SECRET:
            env["PAYHARNESS_PAYPAL_CLIENT_SECRET"] = REDACTED
        return env

    @classmethod
    def from_stack_state(
        cls, path: str | Path = "out/stack/state.json", env: Mapping[str, str] | None = None
    ) -> LiveConfig:
        """The configuration ``payharness stack up`` recorded; a masked secret is taken from
        ``env`` (default: this process's environment) under the same variable name."""
        recorded: dict[str, str] = json.loads(Path(path).read_text())["env"]
        own = os.environ if env is None else env
        for name, value in list(recorded.items()):
            if REDACTED in value:
                if name not in own:
                    raise ConfigError(f"{name} is masked in {path}; set it in the environment")
                recorded[name] = own[name]
        return cls.from_env(recorded)

    def resolve_variant(self) -> Variant:
        """The named variant with ``variant_overrides`` applied (same name, noted in summary)."""
        return apply_overrides(variant_named(self.variant), self.variant_overrides)

    def with_changes(self, **changes: object) -> LiveConfig:
        return replace(self, **changes)  # type: ignore[arg-type]


def apply_overrides(variant: Variant, spec: str) -> Variant:
    """``lock_ttl_ms=2000,stale_after_ms=0`` → the variant with those fields changed."""
    if not spec.strip():
        return variant
    types = {f.name: f.type for f in fields(variant)}
    changes: dict[str, object] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, _, raw = part.partition("=")
        name = name.strip()
        if name not in types or name in ("name", "summary"):
            raise ConfigError(f"PAYHARNESS_VARIANT_OVERRIDES: unknown variant field {name!r}")
        kind = str(types[name])
        value: object
        if "bool" in kind:
            value = raw.strip().lower() in ("1", "true", "yes")
        elif "int" in kind:
            value = None if raw.strip() == "None" else int(raw)
        else:
            value = raw
        changes[name] = value
    return variant.with_changes(variant.name, f"{variant.summary} [overrides: {spec}]", **changes)
