"""Grouped: one item held bare, the rest in a list, groups in order of first appearance."""

from __future__ import annotations

from core.grouped import Grouped


def test_groups_keep_first_appearance_and_item_order() -> None:
    g: Grouped[int] = Grouped()
    for name, item in [("b", 1), ("a", 2), ("b", 3), ("c", 4), ("b", 5)]:
        g.add(name, item)
    assert g.get("b") == [1, 3, 5] and g.get("a") == [2] and g.get("missing") == []
    assert list(g.groups()) == [("b", [1, 3, 5]), ("a", [2]), ("c", [4])]
    assert list(g.groups(several=True)) == [("b", [1, 3, 5])]
    assert list(g.items()) == [1, 3, 5, 2, 4]
    g.get("a").append(99)  # a copy: the group is not changed through it
    assert g.get("a") == [2]
    g.clear()
    assert list(g.groups()) == [] and g.get("b") == []
