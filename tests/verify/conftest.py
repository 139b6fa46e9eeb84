"""The property gate's configuration: Hypothesis profiles ``dev``, ``ci`` and ``nightly``.

``ci`` is loaded unless ``HYPOTHESIS_PROFILE`` names another, so plain ``python3 -m pytest``
from the repository root runs the gate with its fixed, derandomized budget.
"""

from __future__ import annotations

from verify.profiles import load_profile

PROFILE = load_profile()
