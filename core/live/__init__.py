"""The live runtime: the same core flows answered by real Redis, Postgres and a Stripe API.

``LiveTransport`` (``core.live.transport``) implements ``core.runtime.async_runner``'s
``AsyncTransport`` over redis-py asyncio, a psycopg 3 async pool and the official ``stripe``
SDK; ``core.live.service`` is the FastAPI service, ``core.live.reconciler`` the worker and
``core.live.audit_source.live_final_state`` reads the final state for the checker.
"""
