"""Pairwise-RL: the CE + consistency loss by hand, the win-probability policy reward, and a CPU training run."""

from __future__ import annotations

import asyncio
import math

import pytest

from rm_gallery.graders import WinProbabilityGrader
from rm_gallery.training.pairwise_rl import WinProbabilityPolicyReward, consistency_loss_terms, select_anchor
from rm_gallery.types import GraderError, Verdict

torch = pytest.importorskip("torch")


def test_consistency_term_by_hand():
    assert consistency_loss_terms(0.8, 0.2) == pytest.approx(0.0)           # orders agree: 0.8 == 1 - 0.2
    assert consistency_loss_terms(0.8, 0.6) == pytest.approx((0.8 - 0.4) ** 2)


def test_pairwise_rl_loss_by_hand():
    from rm_gallery.training.pairwise_rl import pairwise_rl_loss

    # binary logits: ab = log(p_yes/p_no) = 2 - 0 = 2; ba = 0 - 1 = -1; y is the better response (first_wins = 1)
    loss, parts = pairwise_rl_loss(torch.tensor([2.0]), torch.tensor([0.0]), torch.tensor([0.0]),
                                   torch.tensor([1.0]), torch.tensor([1.0]), zeta=0.5)
    s = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    ce = (-math.log(s(2.0)) - math.log(1 - s(-1.0))) / 2                    # yes for (y, y*), no for (y*, y)
    consistency = (s(2.0) - (1 - s(-1.0))) ** 2
    assert parts["ce"] == pytest.approx(ce)
    assert parts["consistency"] == pytest.approx(consistency)
    assert float(loss) == pytest.approx(ce + 0.5 * consistency)


class FakeJudge:
    """Stands in for WinProbabilityGrader.grade: P(first beats second) from response lengths."""

    symmetric = True

    def __init__(self) -> None:
        self.calls = 0

    async def grade(self, sample, ctx=None):
        self.calls += 1
        a, b = (r.content for r in sample.responses)
        if a == "boom":
            return GraderError(kind="api_error", message="down")
        return Verdict(winner="A" if len(a) > len(b) else "B", probability=len(a) / (len(a) + len(b)))


def test_policy_reward_is_async_and_scores_against_the_anchor():
    judge = FakeJudge()
    reward = WinProbabilityPolicyReward(judge)
    out = asyncio.run(reward(prompts=[[{"role": "user", "content": "q"}]] * 3,
                             completions=[[{"role": "assistant", "content": "abc"}], "a", "boom"],
                             anchor=["a", "abc", "x"]))
    assert out == [pytest.approx(0.75), pytest.approx(0.25), None]          # judge errors are left out
    with pytest.raises(KeyError, match="anchor"):
        asyncio.run(reward(prompts=["q"], completions=["a"]))


def test_policy_reward_requires_a_symmetric_grader():
    with pytest.raises(ValueError, match="symmetric"):
        WinProbabilityPolicyReward(WinProbabilityGrader(None, symmetric=False))


def test_best_of_n_anchor():
    judge = FakeJudge()
    choice = asyncio.run(select_anchor("q", ["aa", "aaaa", "a"], judge))
    assert choice.index == 1 and choice.complete
    # P(aa > aaaa) = 1/3, P(aa > a) = 2/3, P(aaaa > a) = 4/5
    assert choice.win_rates == pytest.approx([(1 / 3 + 2 / 3) / 2, (2 / 3 + 4 / 5) / 2, (1 / 3 + 1 / 5) / 2])
    assert judge.calls == 3                                                 # every pair once
    assert asyncio.run(select_anchor("q", ["only"], judge)).index == 0


def test_a_failed_comparison_is_reported_not_counted_as_a_draw():
    # "boom" as the first response of a pair makes the judge fail: pairs (1, 2) and (1, 3) fail
    choice = asyncio.run(select_anchor("q", ["a", "boom", "aaaaaaaa", "aa"], FakeJudge()))
    assert [(i, j) for i, j, _ in choice.errors] == [(1, 2), (1, 3)] and not choice.complete
    assert all(e.kind == "api_error" for _, _, e in choice.errors)
    # boom's only answered comparison: 1 - P(a > boom) = 1 - 1/5; with 0.5 per failure it would be (0.8 + 1) / 3
    assert choice.win_rates[1] == pytest.approx(0.8)
    assert choice.index == 2                                                # (8/9 + 8/10) / 2 beats 0.8


class Broken:
    """A judge whose every answer is unusable: an exception from the client, or a verdict without probability."""

    symmetric = True

    async def grade(self, sample, ctx=None):
        from rm_gallery.client.errors import ModelAPIError

        if sample.responses[0].content == "x":
            raise ModelAPIError("connection refused", retryable=True)
        return Verdict(winner="A")


def test_no_readable_comparison_means_no_anchor():
    choice = asyncio.run(select_anchor("q", ["x", "y"], Broken()))
    assert choice.index is None and choice.win_rates == (None, None)
    assert [e.kind for _, _, e in choice.errors] == ["api_error"]
    choice = asyncio.run(select_anchor("q", ["y", "z"], Broken()))
    assert [e.kind for _, _, e in choice.errors] == ["parse_error"] and choice.index is None
    with pytest.raises(ValueError, match="at least one"):
        asyncio.run(select_anchor("q", [], Broken()))


@pytest.mark.slow
def test_train_pairwise_rm_on_cpu(tiny_model_dir, tmp_path):
    from rm_gallery.training.pairwise_rl import pairwise_rm_probability, train_pairwise_rm, yes_no_token_ids
    from rm_gallery.training.synthetic import synthetic_samples

    base = tiny_model_dir
    grader = WinProbabilityGrader(None)
    from transformers import AutoTokenizer

    yes, no = yes_no_token_ids(AutoTokenizer.from_pretrained(str(base)))
    assert yes and no and not set(yes) & set(no)
    samples = synthetic_samples(8, task="refusal", seed=3)
    result = train_pairwise_rm(base, samples, grader, tmp_path / "rm", steps=12, batch_pairs=4, zeta=0.5,
                               learning_rate=3e-3)
    first, last = result.history[0], result.history[-1]
    assert set(first) == {"ce", "consistency", "loss"}
    assert last["loss"] < first["loss"]
    probs = pairwise_rm_probability(result.output_dir, samples[:2], grader)
    assert all(0.0 <= p <= 1.0 for p in probs)
