"""Where runs write their output: ``$PAYHARNESS_OUT`` or ``./out`` (git-ignored).

It lives in the lowest layer that writes there (the stack's state and logs), so ``live``,
``loadtests`` and the CLI all resolve the same folder."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


def output_root(env: Mapping[str, str] | None = None) -> Path:
    """The output folder named by ``env`` (default: this process's environment), created."""
    root = Path((os.environ if env is None else env).get("PAYHARNESS_OUT", "out"))
    root.mkdir(parents=True, exist_ok=True)
    return root
