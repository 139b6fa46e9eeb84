"""A run's history read back from the JSON-lines file the load harness appended it to.

Lives beside the live adapters, not in ``core``: reading files is I/O.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from core.history import Event


class JsonLinesHistory:
    """The events of a JSON-lines history file, in the order they were written."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __iter__(self) -> Iterator[Event]:
        with open(self.path, encoding="utf-8") as handle:
            for line in handle:
                if line.strip():
                    yield Event.from_dict(json.loads(line))
