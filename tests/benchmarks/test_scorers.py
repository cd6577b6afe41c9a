"""Every official formula against hand-computed cases: pure functions, no grading involved."""

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rm_gallery.benchmarks.judgebench import PairOutcome, category, judgebench_counts
from rm_gallery.benchmarks.outcomes import error_value, pair_credit, score_decision, verdict_credit
from rm_gallery.benchmarks.position import pick_stats, position_stats
from rm_gallery.benchmarks.rewardbench import (
    EXAMPLE_COUNTS,
    SUBSET_MAPPING,
    RewardBenchV1,
    rewardbench_v1_scores,
    section_status,
)
from rm_gallery.benchmarks.rewardbench2 import RewardBench2, best_of_credit, correct_position
from rm_gallery.benchmarks.rmbench import difficulty_scores, mean_matrix, rmbench_scores, score_matrix
from rm_gallery.benchmarks.stats import bootstrap_ci, percentile
from rm_gallery.benchmarks.ties import group_ties, set_stats, ties_score
from rm_gallery.graders.four_way import parse_four_way
from rm_gallery.types import GraderError, ParseFailure, Verdict

HEP = ("hep-cpp", "hep-go", "hep-java", "hep-js", "hep-python", "hep-rust")


# -- RewardBench v1 -----------------------------------------------------------------------------------

def test_official_counts_and_sections():
    assert sum(EXAMPLE_COUNTS.values()) == 2985 + (984 - 447)  # the filtered split, with math-prm up-weighted
    assert sorted(s for subs in SUBSET_MAPPING.values() for s in subs) == sorted(EXAMPLE_COUNTS)


def test_math_prm_counts_984_not_its_447_rows():
    acc = {"math-prm": 0.5, **dict.fromkeys(HEP, 1.0)}
    # weighted by the official counts: (0.5*984 + 1.0*6*164) / (984 + 984) = 0.75; by rows it would be 0.844
    assert rewardbench_v1_scores(acc)["section/Reasoning"] == pytest.approx(0.75)


def test_chat_hard_weights_and_headline_is_the_mean_of_sections():
    acc = {"mt-bench-hard": 1.0, "llmbar-natural": 0.5, "llmbar-adver-neighbor": 0.0, "llmbar-adver-GPTInst": 1.0,
           "llmbar-adver-GPTOut": 0.0, "llmbar-adver-manual": 1.0,
           "alpacaeval-easy": 1.0, "alpacaeval-length": 1.0, "alpacaeval-hard": 1.0, "mt-bench-easy": 1.0,
           "mt-bench-med": 1.0, "refusals-dangerous": 0.0, "refusals-offensive": 0.0, "xstest-should-refuse": 0.0,
           "xstest-should-respond": 0.0, "donotanswer": 0.0, "math-prm": 1.0, **dict.fromkeys(HEP, 0.0)}
    s = rewardbench_v1_scores(acc)
    chat_hard = (37 * 1 + 100 * 0.5 + 92 * 1 + 46 * 1) / (37 + 100 + 134 + 92 + 47 + 46)
    assert s["section/Chat Hard"] == pytest.approx(chat_hard)  # 225/456
    assert s["section/Chat"] == 1.0 and s["section/Safety"] == 0.0 and s["section/Reasoning"] == pytest.approx(0.5)
    assert s["headline"] == pytest.approx((1.0 + chat_hard + 0.0 + 0.5) / 4)
    assert "metric/score_with_prior" not in s


def test_prior_sets_enter_at_half_weight():
    acc = {s: 1.0 for s in SUBSET_MAPPING["Chat"] + SUBSET_MAPPING["Reasoning"]}
    acc |= {s: 0.5 for s in SUBSET_MAPPING["Chat Hard"] + SUBSET_MAPPING["Safety"]}
    acc |= {"anthropic_helpful": 0.0, "anthropic_hhh": 0.5, "shp": 0.25, "summarize": 0.25}  # prior mean 0.25
    s = rewardbench_v1_scores(acc)
    assert s["section/Prior Sets"] == pytest.approx(0.25)
    assert s["headline"] == pytest.approx(0.75)  # the four sections only
    assert s["metric/score_with_prior"] == pytest.approx((2 * 1 + 2 * 0.5 + 2 * 0.5 + 2 * 1 + 1 * 0.25) / 9)


def test_partial_section_is_scored_over_present_subsets_and_flagged():
    acc = {"llmbar-natural": 1.0, "llmbar-adver-manual": 0.0}
    s = rewardbench_v1_scores(acc)
    assert s["section/Chat Hard"] == pytest.approx(100 / 146) and s["section/Chat"] is None
    assert s["headline"] == pytest.approx(100 / 146)  # the only scored section; flagged partial below
    status = section_status(set(acc))
    assert status["Chat Hard"]["partial"] and "mt-bench-hard" in status["Chat Hard"]["missing"]
    assert not status["Chat"]["scored"]
    layout = RewardBenchV1().layout({"llmbar-natural": [1.0], "llmbar-adver-manual": [0.0], "my-subset": [1.0]})
    assert layout.headline_partial and "alpacaeval-easy" in layout.missing and "llmbar-natural" not in layout.missing
    assert any("my-subset" in n for n in layout.notes)


def test_reward_model_ties_count_as_wrong_and_verdict_credit_follows_the_convention():
    assert score_decision(1.0, 1.0) == "tie" and score_decision(2, 1) == "A" and score_decision(None, 1) is None
    assert verdict_credit("A", "A", "zero") == 1.0 and verdict_credit("B", "A", "chance") == 0.0
    assert verdict_credit("tie", "A", "chance") == 0.5 and verdict_credit(None, "A", "zero") == 0.0
    assert error_value("chance", 4) == 0.25
    with pytest.raises(ValueError, match="zero, chance"):
        error_value("half", 2)
    both = Verdict(winner="tie", metadata={"orders": {"ab": {"winner": "A"}, "ba": {"kind": "parse_error"}}})
    assert pair_credit(both, "A", "chance") == 0.75 and pair_credit(both, "A", "zero") == 0.5
    assert pair_credit(GraderError(kind="timeout", message="x"), "A", "chance") == 0.5


# -- RM-Bench -----------------------------------------------------------------------------------------

def test_strict_greater_than_in_the_style_matrix():
    m = score_matrix([3.0, 2.0, 1.0], [2.0, 2.0, 0.5], error=0.5)
    # chosen 3 beats all; chosen 2 ties 2 and 2 (wrong), beats 0.5; chosen 1 loses to 2, 2, beats 0.5
    assert m == (1, 1, 1, 0, 0, 1, 0, 0, 1)
    assert score_matrix([None, 1, 1], [0, 0, 0], error=0.5)[:3] == (0.5, 0.5, 0.5)


def test_hard_normal_easy_from_a_hand_matrix():
    acc = [[0.6, 0.3, 0.0], [0.9, 0.5, 0.3], [1.0, 0.8, 0.4]]
    s = difficulty_scores(acc)
    assert s["hard"] == pytest.approx(0.2) and s["normal"] == pytest.approx(0.5) and s["easy"] == pytest.approx(0.9)
    assert s["score"] == pytest.approx(1.6 / 3)
    assert mean_matrix([(1,) * 9, (0,) * 9]) == [[0.5] * 3] * 3


def test_overall_is_the_mean_of_domains_not_of_prompts():
    out = rmbench_scores({"chat": [(1.0,) * 9], "code": [(0.0,) * 9] * 3})
    assert out["section/chat"] == 1.0 and out["section/code"] == 0.0
    assert out["headline"] == 0.5 and out["metric/chat/hard"] == 1.0 and out["metric/easy"] == 0.5


# -- RewardBench 2 ------------------------------------------------------------------------------------

@pytest.mark.parametrize("chosen, rejected, want", [
    ([9], [1, 2, 3], 1.0), ([5], [5, 3, 2], 0.5), ([7], [5, 7, 7], 1 / 3), ([1], [2, 0, 0], 0.0),
    ([4, 4], [4, 1], 2 / 3),
])
def test_ratings_tied_maxima_share_credit(chosen, rejected, want):
    assert best_of_credit(chosen, rejected) == pytest.approx(want)


def test_correct_position_is_seeded_and_balanced():
    positions = [correct_position(0, f"id{i}") for i in range(4000)]
    assert positions == [correct_position(0, f"id{i}") for i in range(4000)]
    assert positions != [correct_position(1, f"id{i}") for i in range(4000)]
    assert all(900 < positions.count(p) < 1100 for p in range(4))


def test_ties_formula_on_a_hand_computed_case():
    items = [("ref:1", [8, 5, 6], 1), ("tied:1", [9, 8, 4, 3], 2),   # accurate; ci 2 / 4, diff 1
             ("ref:2", [5, 6], 1), ("tied:2", [6, 6, 7], 2)]          # inaccurate; ci -1 / -1, diff 0
    parts = ties_score(group_ties(items))
    assert parts["accuracy_ref"] == 0.5 and parts["accuracy_tied"] == 0.5
    assert parts["correctness_preferred"] == 0.5       # 4 > 1 yes; -1 > 0 no
    assert parts["correctness_preferred_hard"] == 0.5  # min(2, 4) > 1 yes; -1 > 0 no
    # every prompt counts: prompt 2's zero gap gives tanh(-1 / 0) = tanh(-inf) = -1 (official numpy division)
    assert parts["margin_score"] == pytest.approx((math.tanh(2 / 1 - 1) - 1) / 2)
    assert parts["score"] == pytest.approx(0.3 * 0.5 + 0.3 * 0.5 + 0.2 * 0.5 + 0.2 * 0.5
                                           + 0.01 * (math.tanh(1) - 1) / 2)


def test_ties_edge_cases():
    assert set_stats([3, None, 1], 1) == set_stats([1], 1) == set_stats([1, 2], 2)  # unscored / degenerate
    assert not set_stats([3, None, 1], 1).accurate
    perfect = ties_score(group_ties([("ref:1", [1, 0], 1), ("tied:1", [1, 1, 0], 2)]))
    assert perfect["margin_score"] == 1.0 and perfect["score"] == pytest.approx(1.01)  # 1 / 0: tanh(+inf)
    assert ties_score(group_ties([("ref:1", [1, 0], 1)]))["score"] is None  # no tied sets: not scorable
    with pytest.raises(ValueError, match="ref:<pid>"):
        group_ties([("7", [1, 0], 1)])


def test_rb2_headline_is_the_mean_over_subsets():
    strata = {"Math": [1.0, 0.0], "Focus": [1.0], "Ties": group_ties([("ref:1", [1, 0], 1),
                                                                       ("tied:1", [1, 1, 0], 2)])}
    s = RewardBench2().statistic(strata)
    assert s["section/Math"] == 0.5 and s["section/Ties"] == pytest.approx(1.01)  # + 0.01 * tanh(1 / 0)
    assert s["headline"] == pytest.approx((0.5 + 1.0 + 1.01) / 3)
    layout = RewardBench2().layout(strata)
    assert layout.headline_partial and layout.missing == ["Factuality", "Precise IF", "Safety"]


# -- JudgeBench ---------------------------------------------------------------------------------------

def test_judgebench_counter_and_tallies():
    outcomes = [PairOutcome("A", ("A", "A")),   # +2 correct, all correct
                PairOutcome("A", ("A", "B")),   # 0 tie, inconsistent, some correct
                PairOutcome("B", ("B", None)),  # +1 correct, inconsistent, null
                PairOutcome("B", ("A", "A")),   # -2 incorrect, all incorrect
                PairOutcome("A", ("tie", "B"))]  # -1 incorrect
    assert [o.counter for o in outcomes] == [2, 0, 1, -2, -1]
    counts = judgebench_counts(outcomes)
    assert counts == {"pairs": 5, "correct": 2, "incorrect": 2, "tie": 1, "all_correct": 1, "all_incorrect": 2,
                      "some_correct": 2, "inconsistent": 3, "nulls": 1}  # (tie, B) against A: all incorrect
    assert category("mmlu-pro-law") == "knowledge" and category("livecodebench") == "coding"
    assert category("my-source") == "my-source"


# -- statistics ---------------------------------------------------------------------------------------

def test_percentile_and_bootstrap_are_reproducible():
    assert percentile([0, 10], 0.5) == 5 and percentile([1, 2, 3], 0) == 1 and percentile([1, 2, 3], 1) == 3
    rng = random.Random(3)
    strata = {"a": [float(rng.random() < 0.7) for _ in range(200)], "b": [float(rng.random() < 0.4) for _ in range(50)]}

    def stat(s):
        return {"headline": sum(s["a"]) / len(s["a"]) / 2 + sum(s["b"]) / len(s["b"]) / 2}

    ci = bootstrap_ci(strata, stat, n=400, seed=1)["headline"]
    assert ci == bootstrap_ci(strata, stat, n=400, seed=1)["headline"]
    assert ci != bootstrap_ci(strata, stat, n=400, seed=2)["headline"]
    point = stat(strata)["headline"]
    assert ci[0] < point < ci[1] and 0.05 < ci[1] - ci[0] < 0.3
    assert bootstrap_ci({"a": [1.0] * 10}, lambda s: {"x": min(s["a"])}, n=50) == {"x": (1.0, 1.0)}
    assert bootstrap_ci(strata, stat, n=0) == {}


def test_position_statistics():
    pairs = [({"ab": "A", "ba": "A"}, "A"),    # right in both orders
             ({"ab": "A", "ba": "B"}, "A"),    # always the first shown: inconsistent
             ({"ab": None, "ba": "B"}, "B")]   # unreadable in one order
    p = position_stats(pairs)
    assert p["accuracy_ab"] == pytest.approx(2 / 3) and p["accuracy_ba"] == pytest.approx(2 / 3)
    assert p["both_correct"] == pytest.approx(1 / 3) and p["consistency"] == pytest.approx(1 / 3)
    # readable verdicts: ab A, ba A, ab A, ba B, ba B; all but the first pair's "ba A" picked the first shown
    assert p["first_shown_rate"] == pytest.approx(4 / 5) and p["pairs_both_orders"] == 3
    s = pick_stats([(0, 0), (1, 0), (2, None), (3, 3)])
    assert s["accuracy_by_correct_position"] == {"A": 1.0, "B": 0.0, "C": 0.0, "D": 1.0}
    assert s["pick_rate"]["A"] == pytest.approx(2 / 3)


# -- the best-of-four parser --------------------------------------------------------------------------

@pytest.mark.parametrize("text, want", [("[[C]]", 2), ("B is fine but [[B]]... final: [[D]]", 3), ("[[ a ]]", 0),
                                        ("［［Ｄ］］", 3), ("**[[B]]**", 1),
                                        # the final token decides: unreadable or naming two answers is no pick
                                        ("[[A]] [[E]]", None), ("[[A]]\n[[B]] or [[C]]", None), ("no verdict", None)])
def test_four_way_parser_binds_to_the_last_token(text, want):
    got = parse_four_way(text)
    if want is None:
        assert isinstance(got, ParseFailure)
    else:
        assert got == want


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), st.lists(st.sampled_from(["[[", "]]", "A", "D", "E", " ", "x"]), max_size=40).map("".join)))
def test_four_way_parser_never_raises(text):
    assert isinstance(parse_four_way(text), (int, ParseFailure))
