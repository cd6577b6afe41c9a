"""Reward adapters (TRL call shape, verl compute_score, RM-Gallery compat), data builders and the report."""

from __future__ import annotations

import asyncio
import json

import pytest

from rm_gallery.graders import PairwiseGrader, ReasoningJudgeGrader
from rm_gallery.graders.rubric import RubricPointwiseGrader
from rm_gallery.training import compat
from rm_gallery.training.data import (
    grouped_order,
    grpo_rows,
    preference_from_scores,
    scored_to_pairwise,
    verl_rows,
    write_parquet,
)
from rm_gallery.training.judgments import read_judgment
from rm_gallery.training.par import PairPreservingSampler, PARReward, par_batch, par_compute_score_batch, par_rows
from rm_gallery.training.report import validation_report
from rm_gallery.training.trl_rewards import AsyncPairwiseReward, PairwiseReward
from rm_gallery.training.verl_rewards import SCORE_KEYS, compute_score, compute_score_batch
from rm_gallery.types import Sample

PAIR = {"input": [{"role": "user", "content": "What is 2+2?"}], "output": [{"content": "4"}, {"content": "5"}],
        "metadata": {"preferred": "A", "preference_strength": 1}}


def chat(text: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": text}]


class Logs:
    def __init__(self) -> None:
        self.extra: dict[str, list] = {}
        self.metrics: dict[str, float] = {}

    def log_extra(self, column, values):
        self.extra[column] = values

    def log_metric(self, name, value):
        self.metrics[name] = value


def test_trl_reward_reads_completions_with_the_grader_parser():
    logs = Logs()
    reward = PairwiseReward(PairwiseGrader(None), weighted=True)
    completions = [chat("<preference>A</preference>"), chat("<analysis>x</analysis><preference>B</preference>"),
                   chat("no verdict"), chat("<preference>A</preference>")]
    out = reward(prompts=[[{"role": "user", "content": "q"}]] * 4, completions=completions,
                 completion_ids=[[1]] * 4, preferred=["A", "A", "A", None], preference_strength=[1, 2, 0, None],
                 trainer_state=None, log_extra=logs.log_extra, log_metric=logs.log_metric)
    assert out == [pytest.approx(0.7), 0.0, 0.0, None]
    assert logs.extra["pairwise_reward_verdict"] == ["A", "B", "unknown", "A"]
    assert logs.extra["pairwise_reward_format_ok"] == [True, True, False, True]
    assert logs.metrics["pairwise_reward/unknown"] == 0.25
    assert reward.calls == 4


def test_trl_reward_plain_string_completions_and_missing_column():
    reward = PairwiseReward(ReasoningJudgeGrader(None, allow_tie=False))
    assert reward(prompts=["p", "p"], completions=["so [[B]]", "[[C]]"], preferred=["B", "tie"]) == [1.0, 0.0]
    with pytest.raises(KeyError, match="preferred"):
        reward(prompts=["p"], completions=["[[A]]"])


def test_async_trl_reward_is_detected_as_async_by_trl_rules():
    import inspect

    reward = AsyncPairwiseReward(PairwiseGrader(None))
    assert inspect.iscoroutinefunction(reward.__call__)
    out = asyncio.run(reward(prompts=["p"], completions=["<preference>tie</preference>"], preferred=["tie"]))
    assert out == [1.0]


def test_grader_without_parser_is_rejected_up_front():
    class NoParser:
        name = "x"

    with pytest.raises(TypeError, match="parser"):
        PairwiseReward(NoParser())


def test_verl_compute_score_keeps_the_same_keys_on_every_path():
    cases = [
        ("<preference>A</preference>", "A", None),
        ("garbage", "B", None),
        ("<preference>B</preference>", json.dumps({"preferred": "B", "preference_strength": 1}), None),
        ("<preference>B</preference>", "not-a-label", None),
        (None, "A", {"preference_strength": 2}),
    ]
    outs = [compute_score("src", text, gt, info) for text, gt, info in cases]
    for out in outs:
        assert tuple(out) == SCORE_KEYS
    assert [o["score"] for o in outs] == [1.0, 0.0, 1.0, 0.0, 0.0]
    assert outs[1]["predicted"] == "unknown" and outs[3]["preferred"] == "invalid"
    assert [o["error"] for o in outs[:3]] == ["", "", ""] and outs[3]["error"].startswith("invalid_label")
    weighted = compute_score("src", "<preference>B</preference>", {"preferred": "B", "preference_strength": 1},
                             weighted=True)
    assert weighted["score"] == pytest.approx(0.7) and weighted["strength"] == 1


def test_verl_batch_variant_matches_per_sample():
    texts = ["<preference>A</preference>", "<preference>tie</preference>", "?"]
    batch = compute_score_batch(data_sources=["d"] * 3, solution_strs=texts, ground_truths=["A", "B", "tie"],
                                extra_infos=[{}, {}, {}])
    assert batch == [compute_score("d", t, g, {}) for t, g in zip(texts, ["A", "B", "tie"], strict=True)]


def test_rm_gallery_compat_compute_score_and_dataset_hooks():
    out = compat.compute_score("helpsteer2", "<preference>B</preference>", "B", {"preference_strength": 2})
    assert tuple(out) == compat.COMPAT_KEYS
    assert out == {"score": 1.0, "predicted_preference": "B", "true_preference": "B", "preference_strength": 2,
                   "accuracy": 1.0, "task_type": "pairwise", "data_source": "helpsteer2", "error": ""}
    assert compat.compute_score("d", "", "A")["predicted_preference"] == "unknown"
    record = {**PAIR, "metadata": json.dumps(PAIR["metadata"])}          # metadata as a JSON string
    ds = compat.PairwiseRLDataset([record])
    row = ds[0]
    assert row["reward_model"]["ground_truth"] == "A"
    assert row["prompt"] == PairwiseGrader(None).render(Sample.from_record(record, default_id="row"))
    assert row["extra_info"]["preference_strength"] == 1
    assert json.loads(row["extra_info"]["metadata"]) == PAIR["metadata"]     # where the seed's reward reads it
    out = compat.compute_score("d", "<preference>A</preference>", row["reward_model"]["ground_truth"],
                               row["extra_info"], weighted=True)
    assert (out["score"], out["error"]) == (pytest.approx(0.7), "")


def test_grpo_rows_render_both_orders_with_flipped_labels():
    grader = PairwiseGrader(None)
    sample = Sample.from_record(PAIR, default_id="s1")
    ab, ba = grpo_rows([sample], grader)
    assert (ab["preferred"], ba["preferred"]) == ("A", "B")
    assert ab["prompt"] == grader.render(sample, (0, 1)) and ba["prompt"] == grader.render(sample, (1, 0))
    assert "<response_a>\n5\n</response_a>" in ba["prompt"][-1]["content"]


@pytest.mark.parametrize(("a", "b", "expected"), [
    (4.0, 3.8, ("tie", 0)), (4.0, 3.5, ("A", 1)), (2.0, 2.6, ("B", 1)), (4.0, 3.0, ("A", 2)), (0.0, 4.0, ("B", 2)),
])
def test_preference_from_scores(a, b, expected):
    assert preference_from_scores(a, b, threshold=1.0) == expected


SCORED = [{"prompt": "p1", "response": "r1", "helpfulness": 4}, {"prompt": "p2", "response": "x", "helpfulness": 2},
          {"prompt": "p1", "response": "r2", "helpfulness": 1}, {"prompt": "p1", "response": "r3", "helpfulness": 3.8},
          {"prompt": "p3", "response": "y1", "helpfulness": 2}, {"prompt": "p3", "response": "y2", "helpfulness": 2.7}]


def test_scored_to_pairwise_pairs_the_first_two_responses_like_the_seed(tmp_path):
    """RM-Gallery's HelpSteer2 recipe: ``r1, r2 = responses[0], responses[1]`` per prompt, nothing else."""
    records = scored_to_pairwise(SCORED)
    assert [[o["content"] for o in r["output"]] for r in records] == [["r1", "r2"], ["y1", "y2"]]  # p2 has one
    # (r1, r2): 4 - 1 = 3 -> A, 2; (y1, y2): -0.7 -> B, 1
    assert [(r["metadata"]["preferred"], r["metadata"]["preference_strength"]) for r in records] == [("A", 2), ("B", 1)]
    path = write_parquet(records, tmp_path / "pairs.parquet")
    from rm_gallery.loaders import load_samples

    samples = load_samples(path)
    assert samples[0].label.preferred == "A" and samples[0].responses[1].content == "r2"


def test_scored_to_pairwise_can_pair_every_two_responses():
    records = scored_to_pairwise(SCORED, pairing="all")
    assert len(records) == 4                                   # C(3,2) for p1, one for p3, none for p2
    # (r1, r2): 4 - 1 = 3 -> A, 2; (r1, r3): 0.2 -> tie, 0; (r2, r3): -2.8 -> B, 2
    assert [r["metadata"]["preferred"] for r in records[:3]] == ["A", "tie", "B"]
    assert [r["metadata"]["preference_strength"] for r in records[:3]] == [2, 0, 2]
    with pytest.raises(ValueError, match="first_two"):
        scored_to_pairwise(SCORED, pairing="pairs")


def test_grouped_order_keeps_groups_adjacent_and_drops_leftovers():
    order = grouped_order(["a", "b", "a", "c", "b"], seed=3)
    assert sorted(order) == [0, 1, 2, 4]                       # "c" has no partner
    pairs = [tuple(sorted(order[i:i + 2])) for i in range(0, len(order), 2)]
    assert set(pairs) == {(0, 2), (1, 4)}
    rows = verl_rows(grpo_rows([Sample.from_record(PAIR, default_id="s")], PairwiseGrader(None)))
    assert [r["reward_model"]["ground_truth"] for r in rows] in (["A", "B"], ["B", "A"])


def test_pair_preserving_sampler():
    s = PairPreservingSampler(["p1", "p1", "p2", "p3", "p2"], ["chosen", "rejected", "rejected", "chosen", "chosen"],
                              seed=0)
    order = list(s)
    assert len(s) == 4 and sorted(order) == [0, 1, 2, 4]
    assert {tuple(order[:2]), tuple(order[2:])} == {(0, 1), (4, 2)}   # chosen first, then its rejected
    orders = {tuple(s.order(epoch)) for epoch in range(20)}
    assert len(orders) == 2                                             # pairs are shuffled across epochs


RUBRIC = "<think>t</think><generate_rubrics>- r</generate_rubrics><eval>e</eval><answer>{}</answer>"


def test_par_batch_groups_by_pair_and_adds_format_penalty():
    texts = [RUBRIC.format(8), RUBRIC.format(4), RUBRIC.format(5), "<answer>9</answer>", RUBRIC.format(7)]
    pair_ids = ["p", "p", "p", "p", "q"]
    roles = ["chosen", "chosen", "rejected", "rejected", "chosen"]
    out = par_batch(texts, pair_ids, roles, RubricPointwiseGrader(None))
    # chosen [8, 4] mean 6; rejected [5, 9] mean 7 (the second is readable but badly formatted)
    assert [o["par"] for o in out] == [1.3, 0.0, 1.3, 0.0, 0.0]
    assert [o["format"] for o in out] == [0.0, 0.0, 0.0, -1.5, 0.0]
    assert [o["score"] for o in out] == [1.3, 0.0, 1.3, -1.5, 0.0]
    assert out[4]["paired"] == 0.0                              # its rejected half is not in this batch
    trl = PARReward(RubricPointwiseGrader(None))(prompts=[None] * 5, completions=[chat(t) for t in texts],
                                                 pair_id=pair_ids, role=roles)
    assert trl == [o["score"] for o in out]
    verl = par_compute_score_batch(["d"] * 5, texts, [None] * 5,
                                   [{"pair_id": p, "role": r} for p, r in zip(pair_ids, roles, strict=True)])
    assert verl == out and len({tuple(v) for v in verl}) == 1


def test_par_rows_render_chosen_and_rejected_with_the_rubric_grader():
    grader = RubricPointwiseGrader(None)
    sample = Sample.from_record({**PAIR, "metadata": {"preferred": "B"}}, default_id="s")
    chosen, rejected = par_rows([sample], grader)
    assert chosen["role"] == "chosen" and chosen["prompt"] == grader.render(sample, 1)
    assert rejected["prompt"] == grader.render(sample, 0)


def test_validation_report():
    texts = ["<preference>A</preference>", "<preference>B</preference>", "x", "<preference>tie</preference>"]
    rep = validation_report(PairwiseGrader(None), texts, ["A", "A", "B", "tie"], [2, 1, 1, 0])
    assert rep.accuracy == 0.5 and rep.mean_reward == 0.5 and rep.format_ok == 0.75
    assert rep.predictions == {"A": 1, "B": 1, "unknown": 1, "tie": 1}
    assert rep.accuracy_by_strength == {"2": 1.0, "1": 0.0, "0": 1.0}
    weighted = validation_report(PairwiseGrader(None), texts, ["A", "A", "B", "tie"], [2, 1, 1, 0], weighted=True)
    assert weighted.mean_reward == pytest.approx((1.0 + 0.3) / 4)


def test_read_judgment_normalises_every_parser_shape():
    assert read_judgment(PairwiseGrader(None), "<preference>A</preference>").predicted == "A"
    rubric = read_judgment(RubricPointwiseGrader(None), RUBRIC.format(6))
    assert rubric.score == 6.0 and rubric.format_ok and rubric.predicted == "unknown"
    bad = read_judgment(RubricPointwiseGrader(None), "<answer>x</answer>")
    assert bad.failure == "invalid_score" and not bad.format_ok


def test_verdict_text_follows_each_parser_and_rejects_logprob_judges():
    from rm_gallery.graders import ConfidencePairwiseGrader, RubricPairwiseGrader, WinProbabilityGrader
    from rm_gallery.training.trainers import verdict_text

    assert verdict_text(PairwiseGrader(None, name="my_judge"), "B") == "<preference>B</preference>"
    assert verdict_text(ReasoningJudgeGrader(None), "tie") == "[[C]]"
    assert verdict_text(RubricPairwiseGrader(None), "A") == "<answer>A</answer>"
    confident = verdict_text(ConfidencePairwiseGrader(None), "B")  # a format-only confidence
    assert confident == "<preference>B</preference>\n<confidence>0.5</confidence>"
    with pytest.raises(ValueError, match="no SFT verdict format"):
        verdict_text(RubricPointwiseGrader(None), "A")
    with pytest.raises(TypeError, match="logprobs"):
        PairwiseReward(WinProbabilityGrader(None))
