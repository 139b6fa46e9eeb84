"""Where runs write their output: ``$PAYHARNESS_OUT`` or ``./out`` (git-ignored)."""

from __future__ import annotations

import os
from pathlib import Path


def output_root() -> Path:
    root = Path(os.environ.get("PAYHARNESS_OUT", "out"))
    root.mkdir(parents=True, exist_ok=True)
    return root
