"""The live runtime: the same core flows answered by real Redis, Postgres and a Stripe API.

``LiveTransport`` (``live.transport``) implements ``core.runtime.async_runner``'s
``AsyncTransport`` over redis-py asyncio, a psycopg 3 async pool and the official ``stripe``
SDK; ``live.service`` is the FastAPI service, ``live.reconciler`` the worker and
``live.audit_source.live_final_state`` reads the final state for the checker.
"""
