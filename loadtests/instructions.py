"""Instructions per request of the HTTP floor's layers and of a hardened replay, in one
process (the app driven through ``httpx.ASGITransport``, no sockets, no uvicorn), for
callgrind: on a shared host CPU seconds vary by ±40 %, instruction counts by well under 1 %.

``python -m loadtests.instructions KIND N`` sends one request of KIND (a new payment first
for ``replay``), 20 to warm up, then N more; run it under callgrind at two N and take the
difference over the difference in N (start-up and warm-up cancel out)::

    for n in 20 220; do valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.KIND.$n \\
        python3 -m loadtests.instructions KIND $n; done

KIND: ``asgi`` (a bare ASGI callable: what the client side and the ASGI plumbing cost,
subtracted from the others), ``empty``, ``auth``, ``observed``, ``redis`` (the floor's
routes, ``loadtests.floor``) and ``replay`` (``live.service`` hardened, the answer from
Redis). The backends are the ``PAYHARNESS_*`` environment's, in its schema and Redis prefix
(give it a schema of its own: the script migrates it and adds one API key); the provider is
never called for real (the one new payment is answered in-process).
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections import Counter
from typing import Any

KINDS = ("asgi", "empty", "auth", "observed", "redis", "replay")
WARM = 20


async def _bare_asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 201,
                "headers": [(b"content-type", b"application/json")]})  # fmt: skip
    await send({"type": "http.response.body", "body": b'{"status":"paid"}'})


async def run(kind: str, n: int) -> Counter[int]:
    import httpx
    from fastapi import FastAPI

    from core.effects import ChargeResult, ProviderCharge
    from core.variants import variant_named
    from live import service
    from live.config import LiveConfig
    from live.merchant_keys import add_key
    from live.migrate import migrate
    from live.transport import LiveTransport
    from loadtests.floor import make_apps

    cfg = LiveConfig.from_env()
    await migrate(cfg.database_url, cfg.db_schema)
    merchant = f"instr-{uuid.uuid4().hex[:8]}"
    token = add_key(cfg.database_url, cfg.db_schema, merchant).token

    class Answered(LiveTransport):
        """The live transport with the provider's charge answered in-process."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)

            async def charge(effect: ProviderCharge) -> ChargeResult:
                return ChargeResult(f"ch_{uuid.uuid4().hex[:16]}", True, effect.amount,
                                    effect.currency)  # fmt: skip

            self.stripe.charge = charge  # type: ignore[method-assign]

    app: Any
    inner: FastAPI | None
    if kind == "replay":
        vars(service)["LiveTransport"] = Answered
        inner = app = service.create_app(cfg, variant_named("hardened"), faults_from_env=False)
        path = "/payments"
    elif kind == "asgi":
        inner, app, path = None, _bare_asgi, "/payments"
    else:
        inner, app = make_apps()
        path = f"/{kind}/payments"
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": f"instr-{uuid.uuid4().hex}"}
    body = {"merchant": merchant, "order": f"o-{uuid.uuid4().hex[:12]}", "amount": 1999,
            "currency": "usd", "source": "tok_visa"}  # fmt: skip
    statuses: Counter[int] = Counter()

    async def send_all(client: httpx.AsyncClient) -> None:
        await client.post(path, json=body, headers=headers)  # the payment a replay repeats
        for _ in range(WARM):
            await client.post(path, json=body, headers=headers)
        for _ in range(n):
            statuses[(await client.post(path, json=body, headers=headers)).status_code] += 1

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://instr") as client:
        if inner is None:
            await send_all(client)
        else:
            async with inner.router.lifespan_context(inner):
                await send_all(client)
    return statuses


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] not in KINDS or not args[1].isdigit():
        print(f"usage: python -m loadtests.instructions {{{','.join(KINDS)}}} N", file=sys.stderr)
        return 2
    statuses = asyncio.run(run(args[0], int(args[1])))
    print(args[0], dict(statuses))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
