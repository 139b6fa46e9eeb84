"""The payment core: sans-IO flows over effects, in-memory models, variants and the checker.

Nothing in this package performs I/O or imports ``sim``, ``loadtests`` or ``reports``.
"""
