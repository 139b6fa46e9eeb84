"""Length-prefixed pickled chunks in a file: how a long run keeps lists of plain rows on disk.

Each chunk is an 8-byte length and a pickle of one list. Chunks are written and read whole,
so a reader holds one chunk at a time and a writer's pickle memo never spans the file.
"""

from __future__ import annotations

import os
import pickle
import struct
from collections.abc import Iterator
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
