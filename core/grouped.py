"""Items grouped under a name they already hold (a key, an order, a charge id).

A long run keeps several such indexes with one entry per payment, and almost every group has
one item. ``Grouped`` holds that item bare and makes a list only for the rest, so an index
adds a dict entry per item and no tuple or list of its own (those cost 70 to 100 bytes a
payment each in a million-request run).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, TypeVar

V = TypeVar("V")


class Grouped(Generic[V]):
    """Groups in order of first appearance; items of a group in the order they were added."""

    __slots__ = ("_first", "_more")

    def __init__(self) -> None:
        self._first: dict[str, V] = {}
        self._more: dict[str, list[V]] = {}

    def add(self, name: str, item: V) -> None:
        if name in self._first:
            self._more.setdefault(name, []).append(item)
        else:
            self._first[name] = item

    def get(self, name: str) -> list[V]:
        """The group's items (an empty list for a name never added)."""
        one = self._first.get(name)
        if one is None:
            return []
        extra = self._more.get(name)
        return [one] if extra is None else [one, *extra]

    def groups(self, *, several: bool = False) -> Iterator[tuple[str, list[V]]]:
        """Every group (with ``several``, only those of two items or more)."""
        for name, one in self._first.items():
            extra = self._more.get(name)
            if extra is not None:
                yield name, [one, *extra]
            elif not several:
                yield name, [one]

    def items(self) -> Iterator[V]:
        """Every item, group by group."""
        for _name, group in self.groups():
            yield from group

    def clear(self) -> None:
        self._first.clear()
        self._more.clear()
