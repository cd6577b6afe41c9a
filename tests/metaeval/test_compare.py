"""Judge A vs judge B: alignment by (sample id, order), McNemar counts, Holm across subsets, bootstrap CIs."""

from pathlib import Path

import pytest

from rm_gallery.metaeval.compare import align, compare_runs, conclusion, difference_statistic
from rm_gallery.metaeval.runs import MetaEvalError, Run

from .helpers import pair


def run(name, rights, *, label="A", orders=("ab",), stratum="x", start=0) -> Run:
    """A run whose i-th pair is right (verdict = label) where ``rights[i]`` is true, wrong (the other side) else."""
    wrong = "B" if label == "A" else "A"
    pairs = [pair({o: label if r else wrong for o in orders}, label, id=f"{stratum}{start + i}", stratum=stratum)
             for i, r in enumerate(rights)]
    return Run(Path(name), pairs)


def joined(*runs: Run) -> Run:
    return Run(runs[0].source, [p for r in runs for p in r.pairs])


def two_subsets() -> tuple[Run, Run]:
    a = joined(run("a", [True] * 10, stratum="x"), run("a", [True, True, False, False], stratum="y"))
    b = joined(run("b", [True] * 2 + [False] * 8, stratum="x"), run("b", [False, False, True, True], stratum="y"))
    return a, b


def test_hand_counted_comparison_with_holm():
    a, b = two_subsets()
    r = compare_runs(a, b, n_boot=200, seed=1)
    o = r["overall"]
    assert (o["n"], o["only_a"], o["only_b"]) == (14, 10, 2)
    assert o["accuracy_a"] == pytest.approx(12 / 14) and o["accuracy_b"] == pytest.approx(4 / 14)
    assert o["diff"] == pytest.approx(8 / 14)
    assert o["p"] == pytest.approx(2 * (1 + 12 + 66) / 4096)  # binomial tail of 10 of 12 discordant
    x, y = r["subsets"]["x"], r["subsets"]["y"]
    assert (x["only_a"], x["only_b"], x["p"]) == (8, 0, pytest.approx(2 / 256))
    assert (y["only_a"], y["only_b"], y["p"]) == (2, 2, 1.0)
    assert x["p_holm"] == pytest.approx(2 * 2 / 256) and y["p_holm"] == 1.0  # Holm over the two subsets
    assert y["diff"] == 0.0 and x["ci"][0] <= x["diff"] <= x["ci"][1]
    assert o["ci"][0] <= o["diff"] <= o["ci"][1] and o["ci"][0] > 0
    assert r["conclusion"].startswith("A is more accurate than B by 57.1 points") and "significant at 0.05" in \
        r["conclusion"]


def test_bootstrap_is_seeded():
    a, b = two_subsets()
    first = compare_runs(a, b, n_boot=100, seed=3)["overall"]["ci"]
    assert compare_runs(a, b, n_boot=100, seed=3)["overall"]["ci"] == first
    assert compare_runs(a, b, n_boot=0)["overall"]["ci"] is None


def test_one_subset_and_no_discordant_pairs():
    a = run("a", [True, False, True])
    r = compare_runs(a, run("b", [True, False, True]), n_boot=50)
    assert r["subsets"] == {} and r["overall"]["p"] == 1.0 and r["overall"]["diff"] == 0.0
    assert r["overall"]["ci"] == [0.0, 0.0] and r["conclusion"].startswith("A and B are equally accurate")
    assert "B is more accurate than A" in compare_runs(a, run("b", [True, True, True]), n_boot=0)["conclusion"]


def test_runs_that_differ_fail_unless_intersected():
    a = run("a", [True] * 5)
    b = run("b", [True] * 4)
    with pytest.raises(MetaEvalError, match=r"1 judgments only in A \(x4/ab\), 0 only in B, 4 in both.*--intersect"):
        compare_runs(a, b)
    r = compare_runs(a, b, intersect=True, n_boot=0)
    assert r["overall"]["n"] == 4 and "intersection only" in r["notes"][0]
    # both orders in A, one in B: the orders are part of the key
    with pytest.raises(MetaEvalError, match="5 judgments only in A"):
        compare_runs(run("a", [True] * 5, orders=("ab", "ba")), run("b", [True] * 5))
    with pytest.raises(MetaEvalError, match="share no labelled judgment"):
        compare_runs(a, run("b", [True], start=100), intersect=True)


def test_labels_and_ids_must_be_consistent():
    with pytest.raises(MetaEvalError, match="label 3 shared samples differently"):
        compare_runs(run("a", [True] * 3), run("b", [True] * 3, label="B"))
    dup = Run(Path("d"), [pair("A", "A", id="same"), pair("A", "A", id="same")])
    with pytest.raises(MetaEvalError, match="appears twice"):
        compare_runs(dup, dup)
    with pytest.raises(MetaEvalError, match="unit must be"):
        align(dup, dup, unit="sample")


def test_pair_unit_needs_every_order_right():
    a = run("a", [True, True], orders=("ab", "ba"))
    b = Run(Path("b"), [pair({"ab": "A", "ba": "B"}, "A", id="x0"), pair({"ab": "A", "ba": "A"}, "A", id="x1")])
    by_judgment = compare_runs(a, b, n_boot=0)["overall"]
    by_pair = compare_runs(a, b, unit="pair", n_boot=0)["overall"]
    assert (by_judgment["n"], by_judgment["only_a"]) == (4, 1)
    assert (by_pair["n"], by_pair["only_a"], by_pair["accuracy_b"]) == (2, 1, 0.5)


def test_difference_statistic_and_unlabelled_pairs():
    # per judgment: +1, 0, +1, -1 -> 1/4 (judgment-weighted, not the mean of pair means)
    stat = difference_statistic({"x": [((True, False),), ((True, True), (True, False), (False, True))], "y": []})
    assert stat["subset/x"] == pytest.approx(1 / 4) and stat["subset/y"] is None
    assert stat["headline"] == pytest.approx(1 / 4)
    a = Run(Path("a"), [pair("A", "A", id="1"), pair("A", None, id="2")])
    assert compare_runs(a, a, n_boot=0)["overall"]["n"] == 1  # unlabelled pairs are not compared
    assert "not significant" in conclusion({"diff": 0.1, "p": 0.2, "n": 10, "ci": None})
