"""Length-prefixed pickled chunks in a file: how a long run keeps lists of plain rows on disk.

Each chunk is an 8-byte length and a pickle of one list. Chunks are written and read whole,
so a reader holds one chunk at a time and a writer's pickle memo never spans the file.
"""

from __future__ import annotations

import os
import pickle
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

_LENGTH = struct.Struct("<Q")


def write_chunk(file: IO[bytes], rows: list[Any]) -> int:
    """Append one chunk at the file's position; returns the bytes written."""
    data = pickle.dumps(rows, protocol=pickle.HIGHEST_PROTOCOL)
    file.write(_LENGTH.pack(len(data)))
    file.write(data)
    return _LENGTH.size + len(data)


def read_chunks(fd: int, start: int, end: int) -> Iterator[list[Any]]:
    """The chunks between byte offsets ``start`` and ``end`` of an open file, in order. Reads
    by offset, so a writer may go on appending to the same file meanwhile."""
    offset = start
    while offset < end:
        head = os.pread(fd, _LENGTH.size, offset)
        if len(head) < _LENGTH.size:
            raise EOFError(f"chunk file ends inside a length at byte {offset}")
        (size,) = _LENGTH.unpack(head)
        offset += _LENGTH.size
        data = os.pread(fd, size, offset)
        if len(data) < size:
            raise EOFError(f"chunk file ends inside a {size}-byte chunk at byte {offset}")
        offset += size
        yield pickle.loads(data)


def read_rows(path: str | Path) -> Iterator[Any]:
    """Every row of every chunk of a finished chunk file, in order."""
    with open(path, "rb") as f:
        for chunk in read_chunks(f.fileno(), 0, os.fstat(f.fileno()).st_size):
            yield from chunk


class ChunkWriter:
    """Rows appended one at a time and written ``per_chunk`` at a time to an open file, which
    stays open (its owner closes it) and is flushed with each chunk, so ``read_chunks`` up to
    ``written`` sees every row written so far."""

    def __init__(self, file: IO[bytes], per_chunk: int) -> None:
        if per_chunk < 1:
            raise ValueError(f"rows per chunk must be at least 1, got {per_chunk}")
        self._file, self._per_chunk = file, per_chunk
        self._pending: list[Any] = []
        self.rows = 0
        """Rows appended, written or pending."""
        self.written = 0
        """Bytes written to the file."""

    def append(self, row: Any) -> None:
        self._pending.append(row)
        self.rows += 1
        if len(self._pending) >= self._per_chunk:
            self.flush()

    def flush(self) -> None:
        """Write the pending rows as one chunk (none: nothing is written)."""
        if self._pending:
            self.written += write_chunk(self._file, self._pending)
            self._file.flush()
            self._pending = []
