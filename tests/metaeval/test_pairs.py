"""The pair view of graded samples: results from the real debiasing and per-response wrappers, read back."""

import pytest

from rm_gallery.benchmarks.judges import ResponseScoresGrader
from rm_gallery.graders.debias import PositionDebiasedGrader
from rm_gallery.metaeval.pairs import default_stratum, pair_from, pairs_from
from rm_gallery.metaeval.summary import presented
from rm_gallery.types import GraderError, Label, Message, Response, Sample, Score, Verdict


def sample(a="short", b="a much longer answer " * 4, label="A", **meta) -> Sample:
    return Sample(id="s1", messages=(Message(role="user", content="q?"),),
                  responses=(Response(content=a), Response(content=b)),
                  label=Label(preferred=label) if label else None, metadata=meta)


class FirstShown:
    """Picks whichever response is shown first, with a stated confidence and P(first wins) = 0.7."""

    name = "first"

    def __init__(self, fail_swapped=False):
        self.fail_swapped = fail_swapped

    async def grade(self, s, ctx=None):
        if self.fail_swapped and s.responses[0].content != "short":
            return GraderError(kind="parse_error", message="unreadable", raw="??")
        return Verdict(winner="A", probability=0.7, confidence=0.9, raw="A")


async def test_both_orders_from_the_debiasing_wrapper():
    result = await PositionDebiasedGrader(FirstShown(), mode="both").grade(sample())
    p = pair_from(sample(subset="llmbar"), result)
    assert p.verdicts == {"ab": "A", "ba": "B"} and p.errors == {}  # original labels: the swapped order picked B
    assert p.confidences == {"ab": 0.9, "ba": 0.9}  # stated confidences survive the wrapper, per order
    assert p.probability == pytest.approx(0.5)  # P(A wins): 0.7 as shown, 1 - 0.7 swapped, averaged
    assert p.stratum == "llmbar" and p.lengths == (5, 84) and p.markdown == (False, False) and not p.pointwise
    # presentation order: both judgments say "the first shown", against labels A (as given) and B (swapped)
    assert list(presented([p])) == [("A", "A"), ("B", "A")]


async def test_a_failed_order_is_an_error_not_a_verdict():
    result = await PositionDebiasedGrader(FirstShown(fail_swapped=True), mode="both").grade(sample())
    assert isinstance(result, GraderError)
    p = pair_from(sample(), result)
    assert p.verdicts == {"ab": "A", "ba": None} and p.errors == {"ba": "parse_error"}
    assert p.probability is None and p.confidences == {"ab": 0.9}


def test_plain_results():
    v = pair_from(sample(), Verdict(winner="B", confidence=0.6, probability=0.2, usage={"prompt_tokens": 7}))
    assert v.verdicts == {"ab": "B"} and v.confidences == {"ab": 0.6} and v.probability == 0.2
    assert v.prompt_tokens == 7
    e = pair_from(sample(), GraderError(kind="api_error", message="down"))
    assert e.verdicts == {"ab": None} and e.errors == {"ab": "api_error"}
    assert pair_from(sample(), Score(value=3.0)) is None  # one response's score decides nothing
    three = sample().model_copy(update={"responses": (*sample().responses, Response(content="c"))})
    assert pair_from(three, Verdict(winner="A")) is None
    # a score-pair verdict (rubric_pair) keeps its scores for calibration
    rp = pair_from(sample(), Verdict(winner="A", metadata={"score_a": 7.5, "score_b": 6.0}))
    assert rp.scores == (7.5, 6.0) and rp.verdicts == {"ab": "A"} and not rp.pointwise


class Scorer:
    name = "scorer"

    def __init__(self, scores):
        self.scores = scores

    async def score_response(self, s, index, ctx=None):
        v = self.scores[index]
        return GraderError(kind="parse_error", message="no score") if v is None else Score(value=v)


@pytest.mark.parametrize(("scores", "verdict", "errors"), [
    ((7.0, 4.5), "A", {}), ((3.0, 3.0), "tie", {}), ((2.0, None), None, {"ab": "parse_error"}),
])
async def test_pointwise_scores(scores, verdict, errors):
    result = await ResponseScoresGrader(Scorer(scores)).grade(sample())
    p = pair_from(sample(), result)
    assert p.pointwise and p.verdicts == {"ab": verdict} and p.errors == errors
    assert p.scores == (scores if None not in scores else None)
    if verdict is not None:  # pointwise decisions count in both orientations for agreement
        flipped = {"A": "B", "B": "A", "tie": "tie"}[verdict]
        assert list(presented([p])) == [("A", verdict), ("B", flipped)]


def test_style_metadata_strata_and_unlabelled():
    p = pair_from(sample(label=None, chosen_style="concise", rejected_style="markdown", domain="chat"),
                  Verdict(winner="A"), stratum="chat")
    assert p.styles == ("concise", "markdown") and p.label is None and p.stratum == "chat"
    assert list(presented([p])) == []  # no label: no agreement item
    assert default_stratum(sample(source="mmlu")) == "mmlu" and default_stratum(sample()) == "all"
    assert default_stratum(sample(subset="x", domain="y")) == "x"
    with pytest.raises(ValueError):
        pairs_from([sample()], [])
