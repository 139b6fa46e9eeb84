"""Trace lines are cut at a word boundary, never mid-word."""

from __future__ import annotations

from core.runtime.trace_text import clip


def test_short_text_is_untouched() -> None:
    assert clip("a b c", 10) == "a b c"


def test_long_text_is_cut_at_the_last_space_and_marked() -> None:
    text = "Response(status=201, outcome='paid', code='payment_completed', replayed=True)"
    out = clip(text, 50)
    assert len(out) <= 50
    assert out.endswith(" …")
    kept = out.removesuffix(" …")
    assert text.startswith(kept)
    assert text[len(kept)] == " "  # the cut fell between words


def test_one_long_word_is_kept_whole() -> None:
    word = "x" * 80
    assert clip(word, 40) == word
