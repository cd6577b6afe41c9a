"""Position, length, markdown and style-variant sections against hand-counted pairs."""

import pytest

from rm_gallery.benchmarks.rmbench import STYLES
from rm_gallery.metaeval.bias import length_section, markdown_section, position_section, style_section

from .helpers import pair


def test_position_section_and_sign_test():
    pairs = [pair({"ab": "A", "ba": "B"}, "A")] * 6 + [pair({"ab": "A", "ba": "A"}, "A")] * 2
    pairs.append(pair("A", "A", pointwise=True, scores=(1.0, 0.0)))  # pointwise: no position
    s = position_section(pairs)
    assert s["pairs"] == 8 and s["pairs_both_orders"] == 8
    assert s["first_both_orders"] == 6 and s["second_both_orders"] == 0
    assert s["sign_test_p"] == pytest.approx(2 / 64)  # 6 of 6 flips toward the first shown: 2 x 2^-6
    assert s["consistency"] == pytest.approx(2 / 8) and s["accuracy_ab"] == 1.0 and s["accuracy_ba"] == 0.25
    # first shown picked: ab A x 8, ba B x 6 -> 14 of 16 verdicts
    assert s["first_shown_rate"] == pytest.approx(14 / 16)


def test_position_degenerate():
    assert position_section([pair("A", "A", pointwise=True)]) is None
    assert position_section([pair({"ab": "A", "ba": "B"}, None)]) is None  # no labelled pair
    s = position_section([pair({"ab": None, "ba": None}, "A")] * 3)  # all errors
    assert s["first_shown_rate"] is None and s["sign_test_p"] is None and s["consistency"] == 0.0
    s = position_section([pair({"ab": "tie", "ba": "tie"}, "B")] * 2)  # all ties
    assert s["first_shown_rate"] is None and s["consistency"] == 1.0 and s["accuracy_ab"] == 0.0


def test_length_section_hand_counts():
    pairs = [
        pair({"ab": "A", "ba": "A"}, "A", lengths=(100, 10)),  # A longer, chosen longer, both right
        pair({"ab": "B", "ba": None}, "A", lengths=(10, 100)),  # B longer, chosen shorter; one failed
        pair({"ab": "tie"}, "B", lengths=(50, 60)),  # similar length
        pair({"ab": "A"}, None, lengths=(200, 10)),  # unlabelled: counts for "picked", not for accuracy
    ]
    s = length_section(pairs)
    assert s["margin"] == 30 and s["decided"] == 4
    assert s["prefer_rate"] == 1.0  # every A/B verdict on a differing pair picked the longer response
    assert s["label_rate"] == 0.5  # labels name the longer response in 2 of those 4 judgments
    assert s["accuracy"] == {"chosen_has": 1.0, "chosen_lacks": 0.0, "neither": 0.0}
    assert s["judgments"] == {"chosen_has": 2, "chosen_lacks": 2, "neither": 1}
    assert length_section(pairs, margin=200)["decided"] == 0  # nothing differs by more than 200 characters


def test_markdown_section():
    pairs = [pair("A", "B", markdown=(True, False)), pair("B", "B", markdown=(True, False)),
             pair("A", "A", markdown=(True, True)), pair("A", "A", markdown=(False, False))]
    s = markdown_section(pairs)
    assert s["decided"] == 2 and s["prefer_rate"] == 0.5 and s["label_rate"] == 0.0
    assert s["accuracy"] == {"chosen_has": None, "chosen_lacks": 0.5, "neither": 1.0}
    empty = markdown_section([pair(None, "A")])
    assert empty["prefer_rate"] is None and empty["accuracy"]["neither"] == 0.0


def test_style_section_hard_normal_easy():
    pairs = []
    for i, c in enumerate(STYLES):
        for j, r in enumerate(STYLES):
            # hard cells (chosen less styled) always wrong, easy cells always right, same style right once of two
            verdicts = {"ab": "B", "ba": "B"} if i < j else {"ab": "A", "ba": "A"} if i > j else {"ab": "A", "ba": "B"}
            pairs.append(pair(verdicts, "A", styles=(c, r), id=f"{c}{r}"))
    s = style_section(pairs)
    assert (s["hard"], s["normal"], s["easy"]) == (0.0, 0.5, 1.0)
    assert s["cells"]["concise>markdown"] == {"accuracy": 0.0, "judgments": 2}
    partial = style_section(pairs[:4])  # not every cell: cells only
    assert partial["hard"] is None and len(partial["cells"]) == 4
    assert style_section([pair("A", "A")]) is None
