"""The length and markdown heuristics on the cases their docstring names."""

import pytest

from rm_gallery.metaeval.style import has_markdown, longer_side


@pytest.mark.parametrize("text", [
    "# Title\nbody", "Intro\n## Section two\ntext", "- one\n- two", "* a\n* b", "1. first\n2. second",
    "Steps:\n  1) a\n  2) b", "This is **important**.", "use __init__ here", "```python\nx = 1\n```",
    "| a | b |\n|---|---|\n| 1 | 2 |",
])
def test_markdown_detected(text):
    assert has_markdown(text)


@pytest.mark.parametrize("text", [
    "Plain prose with no structure.", "- a single bullet", "#hashtag is not a heading", "2 * 3 = 6",
    "a - b - c", "def f(x):\n    return x * 2", "cost is 5. Then 6. Done", "x | y", "",
])
def test_plain_text_not_detected(text):
    assert not has_markdown(text)


def test_known_false_hit_of_comment_blocks():
    assert has_markdown("/**\n * Adds.\n * @param a\n */")  # documented limitation: ' * ' lines read as a list


def test_longer_side_margin():
    assert longer_side(100, 69) == "A" and longer_side(69, 100) == "B"
    assert longer_side(100, 70) is None and longer_side(70, 100) is None  # exactly 30 apart: not "more than 30"
    assert longer_side(10, 5, margin=0) == "A" and longer_side(5, 5, margin=0) is None
