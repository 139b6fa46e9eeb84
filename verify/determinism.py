"""Same seed, same search, in any process: pin the pool of "local constants" Hypothesis draws.

Recent Hypothesis versions (6.155.2 here) collect the literal constants of every imported
module they take for the project's own (``_get_local_constants`` in
``hypothesis/internal/conjecture/providers.py``,
filtered by ``is_local_module_file`` in ``constants_ast.py``: not the standard library, not
site-packages, not test files; integers with |n| < 100 are skipped) and, in about 5 % of its
integer, float, string and bytes draws, picks one of them. ``derandomize`` and ``seed`` fix
the random generator, not that pool, so the gate's search used to depend on which modules
happened to be imported: a mutant killed when its test ran alone was missed after the
rest of the suite had imported the simulator, the live adapters and the reports.

Hypothesis 6.155 has no setting, environment variable or documented hook to turn the pool off
(checked in its source; its ``settings`` have no such option and the pool is read from
module globals). So ``pinned_local_constants`` swaps the private function for one that always
answers an empty pool, clears the cache of constants already filtered from the real pool,
and puts both back afterwards. It is the only place that touches these private names; if a
Hypothesis upgrade moves them while the pool still exists it raises instead of letting the
search depend on imports again, and ``tests/verify/test_determinism.py`` proves the gate's
outcome does not change when modules full of literals are imported between two runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import hypothesis


@contextmanager
def pinned_local_constants() -> Iterator[None]:
    """Within the block, Hypothesis' pool of the project's literal constants is empty."""
    from hypothesis.internal.conjecture import providers

    if not hasattr(providers, "_local_constants"):  # an older Hypothesis: no pool to pin
        yield
        return
    from hypothesis.internal.constants_ast import Constants

    real = getattr(providers, "_get_local_constants", None)
    cache = getattr(providers, "CONSTANTS_CACHE", None)
    if real is None or cache is None:
        raise RuntimeError(
            f"hypothesis {hypothesis.__version__} keeps a pool of local constants but not "
            "where verify.determinism expects it (tested with 6.155.2): the gate's search "
            "would depend on which modules are imported; update pinned_local_constants"
        )
    empty = Constants()

    def no_local_constants() -> Constants:
        return empty

    cache.cache.clear()  # constants filtered from the real pool before we pinned it
    providers._get_local_constants = no_local_constants
    try:
        yield
    finally:
        providers._get_local_constants = real
        cache.cache.clear()
