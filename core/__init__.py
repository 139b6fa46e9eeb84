"""The payment core: sans-IO flows over effects, in-memory models, variants and the checker.

Nothing in this package performs I/O, imports an I/O library or imports another package of
ours; ``tests/architecture/test_layers.py`` holds it to that. Real Redis, Postgres and the
provider are answered in ``live``.
"""
