"""Our scorers against re-statements of the official scoring code, on hand-made and randomised cases.

Each ``official_*`` function below restates, in our own words, the official function it names (same grouping,
same numpy arithmetic, same quirks) so that any drift in our implementation shows up as a mismatch.
"""

import itertools
import math
import random
from collections import defaultdict

import pytest

from rm_gallery.benchmarks.judgebench import JudgeBench, PairOutcome, judgebench_counts
from rm_gallery.benchmarks.ties import group_ties, margin_term, ties_score

np = pytest.importorskip("numpy")  # installed with matplotlib / pyarrow (the dev extra)


# -- RewardBench 2 Ties: allenai/reward-bench rewardbench/utils.py, process_single_model ------------------

def official_ties(rows: list[tuple[str, list[float], int]]) -> dict[str, float]:
    """``process_single_model`` restated: per (kind, int prompt id) stats, then the numpy means and the tanh term."""
    grouped: dict[tuple[str, int], list[tuple[bool, float]]] = defaultdict(list)
    for row_id, scores, num_correct in rows:
        kind, pid = row_id.split(":")
        for i, score in enumerate(scores):
            grouped[(kind, int(pid))].append((i < num_correct, score))
    ref, tied = {}, {}
    for (kind, pid), items in grouped.items():
        good = [s for ok, s in items if ok]
        bad = [s for ok, s in items if not ok]
        ci = min(good) - max(bad)
        stats = (ci > 0, max(good) - min(good) if len(good) > 1 else None, ci)
        (ref if kind == "ref" else tied)[pid] = stats
    acc_ref = np.mean([s[0] for s in ref.values()]) if ref else 0.0
    acc_tied = np.mean([s[0] for s in tied.values()]) if tied else 0.0
    pids = set(ref) & set(tied)
    diff = np.array([tied[p][1] for p in pids])
    ci_tied = np.array([tied[p][2] for p in pids])
    ci_ref = np.array([ref[p][2] for p in pids])
    preferred = np.mean(ci_tied > diff)
    preferred_hard = np.mean(np.minimum(ci_ref, ci_tied) > diff)
    with np.errstate(divide="ignore", invalid="ignore"):
        margins = np.tanh(np.minimum(ci_ref, ci_tied) / diff - 1)
    margin = float(np.mean(np.nan_to_num(margins, nan=0.0)))
    score = 0.30 * acc_tied + 0.30 * acc_ref + 0.20 * preferred + 0.20 * preferred_hard + 0.01 * margin
    return {"accuracy_ref": float(acc_ref), "accuracy_tied": float(acc_tied), "correctness_preferred": float(preferred),
            "correctness_preferred_hard": float(preferred_hard), "margin_score": margin, "score": float(score)}


def assert_ties_match(rows: list[tuple[str, list[float], int]]) -> dict[str, float | None]:
    ours, theirs = ties_score(group_ties(rows)), official_ties(rows)
    for key, want in theirs.items():
        assert ours[key] is not None and abs(ours[key] - want) <= 1e-12, (key, ours[key], want)
    return ours


HAND_TIES = [
    ("ref:1", [8, 5, 6], 1), ("tied:1", [9, 8, 4, 3], 2),   # ci 2 / 4, diff 1: tanh(2 / 1 - 1)
    ("ref:2", [5, 6], 1), ("tied:2", [6, 6, 7], 2),         # ci -1 / -1, diff 0: tanh(-inf) = -1
    ("ref:3", [7, 3], 1), ("tied:3", [5, 5, 2], 2),         # ci 4 / 3, diff 0: tanh(+inf) = +1
    ("ref:4", [4, 4], 1), ("tied:4", [6, 6, 6], 2),         # ci 0 / 0, diff 0: 0 / 0 is NaN, counted 0
]


def test_ties_zero_gaps_follow_numpy_division():
    assert [margin_term(2, 1), margin_term(-1, 0), margin_term(3, 0), margin_term(0, 0)] == \
        [math.tanh(1), -1.0, 1.0, 0.0]
    ours = assert_ties_match(HAND_TIES)
    assert ours["accuracy_ref"] == ours["accuracy_tied"] == 0.5
    assert ours["correctness_preferred"] == ours["correctness_preferred_hard"] == 0.5
    assert ours["margin_score"] == pytest.approx((math.tanh(1) - 1 + 1 + 0) / 4, abs=1e-15)  # over all 4 prompts
    assert ours["score"] == pytest.approx(0.5 + 0.01 * math.tanh(1) / 4, abs=1e-15)


def test_ties_perfect_integer_ratings_earn_the_margin_bonus():
    # equal ratings for the correct answers (diff 0) above every incorrect one: tanh(+inf) = 1, overall 1.01
    ours = assert_ties_match([("ref:1", [3, 1], 1), ("tied:1", [3, 3, 1], 2)])
    assert ours["margin_score"] == 1.0 and ours["score"] == pytest.approx(1.01, abs=1e-15)


@pytest.mark.parametrize("seed", range(40))
def test_ties_matches_the_official_function_on_random_integer_ratings(seed):
    rng = random.Random(seed)
    top = rng.choice([2, 3, 5, 10])  # few distinct ratings make zero gaps and equal margins common
    rows = []
    for pid in range(rng.randint(1, 40)):
        ref_wrong = rng.randint(1, 4)
        rows.append((f"ref:{pid}", [rng.randint(1, top) for _ in range(1 + ref_wrong)], 1))
        n_good, n_bad = rng.randint(2, 5), rng.randint(1, 4)
        rows.append((f"tied:{pid}", [rng.randint(1, top) for _ in range(n_good + n_bad)], n_good))
    rng.shuffle(rows)
    assert_ties_match(rows)


def test_ties_matches_on_real_valued_scores():
    rng = random.Random(7)
    rows = []
    for pid in range(200):
        rows.append((f"ref:{pid}", [rng.gauss(0, 1) for _ in range(4)], 1))
        rows.append((f"tied:{pid}", [rng.gauss(0, 1) for _ in range(6)], rng.randint(2, 4)))
    assert_ties_match(rows)


# -- JudgeBench: ScalerLab/JudgeBench utils/metrics.py, compute_final_metrics ------------------------

def flip(decision):
    return {"A>B": "B>A", "B>A": "A>B"}.get(decision, decision)


def official_judgebench(pairs: list[dict]) -> tuple[float, dict[str, int]]:
    """``compute_final_metrics(pairs, reverse_order=True)`` restated: its score (as a fraction) and its tallies."""
    n = dict.fromkeys(("all_correct", "all_incorrect", "some_correct", "correct", "incorrect", "tie", "nulls",
                       "inconsistent"), 0)
    for pair in pairs:
        label = pair["label"]
        first, second = pair["judgments"]
        d1 = first["decision"] if first is not None else None
        d2 = flip(second["decision"] if second is not None else None)
        if d1 is None or d2 is None:
            n["nulls"] += 1
        if d1 == label and d2 == label:
            n["all_correct"] += 1
        elif d1 != label and d2 != label:
            n["all_incorrect"] += 1
        else:
            n["some_correct"] += 1
        if d1 != d2:
            n["inconsistent"] += 1
        counter = sum((d == label) - (d == flip(label)) for d in (d1, d2))
        n["correct" if counter > 0 else "incorrect" if counter < 0 else "tie"] += 1
    return n["correct"] / len(pairs), n


OURS = {"A>B": "A", "B>A": "B", "A=B": "tie", None: None}


def ours_from_official(pair: dict) -> PairOutcome:
    """The same pair as our scorer sees it: both decisions in the original labels, None where unreadable."""
    first, second = pair["judgments"]
    d1 = OURS[first["decision"] if first is not None else None]
    d2 = OURS[flip(second["decision"] if second is not None else None)]
    return PairOutcome(label=OURS[pair["label"]], decisions=(d1, d2))


def judged(label: str, d1: str | None, d2_as_shown: str | None) -> dict:
    """A pair as the official runner stores it; ``missing`` stands for a judgment that is None altogether."""
    return {"label": label, "judgments": [None if d == "missing" else {"decision": d} for d in (d1, d2_as_shown)]}


DECISIONS = ("A>B", "B>A", "A=B", None, "missing")


def assert_judgebench_matches(pairs: list[dict]) -> dict[str, int]:
    outcomes = [ours_from_official(p) for p in pairs]
    score, official = official_judgebench(pairs)
    counts = judgebench_counts(outcomes)
    assert {k: counts[k] for k in official} == official
    assert counts["all_correct"] + counts["all_incorrect"] + counts["some_correct"] == counts["pairs"] == len(pairs)
    assert counts["correct"] + counts["incorrect"] + counts["tie"] == len(pairs)
    assert JudgeBench().statistic({"all": outcomes})["headline"] == pytest.approx(score, abs=1e-15)
    return counts


def test_judgebench_tallies_on_hand_made_pairs():
    pairs = [judged("A>B", "A>B", "B>A"),      # both right (the swapped B>A is A>B): all correct
             judged("A>B", "A=B", "B>A"),      # a tie and a right one: some correct
             judged("A>B", "A=B", "A=B"),      # two ties: all incorrect, a counter tie
             judged("B>A", None, "A>B"),       # a null and a right one: some correct, one null pair
             judged("B>A", None, None),        # two nulls: all incorrect, counted once as a null pair
             judged("B>A", "A>B", "missing"),  # wrong and a missing judgment: all incorrect, a null pair
             judged("A>B", "B>A", "A>B")]      # both wrong: all incorrect
    counts = assert_judgebench_matches(pairs)
    assert counts == {"pairs": 7, "correct": 3, "incorrect": 2, "tie": 2, "all_correct": 1, "all_incorrect": 4,
                      "some_correct": 2, "inconsistent": 3, "nulls": 3}


def test_judgebench_tallies_on_every_combination_and_random_mixes():
    every = [judged(label, d1, d2) for label in ("A>B", "B>A") for d1, d2 in itertools.product(DECISIONS, DECISIONS)]
    assert_judgebench_matches(every)
    rng = random.Random(0)
    for _ in range(50):
        assert_judgebench_matches(rng.choices(every, k=rng.randint(1, 60)))


def test_judgebench_single_order_score_is_the_official_one():
    # reverse_order=False: the score is the share of first decisions equal to the label
    rng = random.Random(1)
    pairs = [(rng.choice(("A>B", "B>A")), rng.choice(DECISIONS[:4])) for _ in range(200)]
    outcomes = [PairOutcome(label=OURS[label], decisions=(OURS[d],)) for label, d in pairs]
    want = sum(d == label for label, d in pairs) / len(pairs)
    assert JudgeBench().statistic({"all": outcomes})["headline"] == pytest.approx(want, abs=1e-15)
