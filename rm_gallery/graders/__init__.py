"""The grader catalogue. Importing this package registers every built-in grader.

| name                | result  | what it does                                                          |
|---------------------|---------|-----------------------------------------------------------------------|
| pairwise            | Verdict | RM-Gallery judge: <analysis> then <preference>A|B|tie</preference>    |
| pairwise_aspects    | Verdict | per-aspect preferences plus an overall one                            |
| pairwise_confidence | Verdict | preference plus a stated confidence in [0, 1] (or "80%")              |
| reasoning           | Verdict | ReasonGenRM judge: reasoning, then [[A]] / [[B]] / [[C]]              |
| relevance           | Score   | RM-Gallery relevance 1-5 (JSON); two responses -> Verdict by scores   |
| rubric              | Score   | PaTaRM pointwise: domain rubrics + generated rubrics, <answer>0-10    |
| rubric_pair         | Verdict | A vs B from two rubric scores (strict >)                              |
| rubric_pairwise     | Verdict | PaTaRM pairwise: <answer>A or B</answer>                              |
| win_probability     | Verdict | Pairwise-RL yes/no, P(A wins) from logprobs over both orders          |
| listwise            | Rank    | best-of-n from pointwise scores or a pairwise round robin             |
| four_way            | Rank    | RewardBench 2 best-of-four: [[A]]..[[D]] names the best answer        |
| debiased            | Verdict | any pairwise judge in both orders / seeded order, with voting         |
| function            | any     | a Python function as a grader                                         |

Every text parser follows one rule (:mod:`rm_gallery.graders.verdicts`): the judge's final verdict decides,
and an unreadable, out-of-range or two-sided final verdict is a parse error, never an earlier one.
"""

from rm_gallery.graders.base import GradeContext, Grader, InvalidSample, LLMJudge, pair_variables
from rm_gallery.graders.debias import PositionDebiasedGrader, swap_sample
from rm_gallery.graders.four_way import FourWayGrader, parse_four_way
from rm_gallery.graders.function import FunctionGrader
from rm_gallery.graders.listwise import ListwiseGrader
from rm_gallery.graders.pairwise import PairwiseGrader, parse_preference
from rm_gallery.graders.pairwise_variants import (
    ConfidencePairwiseGrader,
    MultiAspectPairwiseGrader,
    parse_aspects,
    parse_confidence,
    parse_confident_preference,
)
from rm_gallery.graders.reasoning import ReasoningJudgeGrader, parse_bracket_verdict
from rm_gallery.graders.registry import (
    GraderSpec,
    UnknownGrader,
    create_grader,
    list_graders,
    load_plugins,
    register_grader,
)
from rm_gallery.graders.relevance import RelevanceGrader, parse_relevance
from rm_gallery.graders.rubric import (
    RubricPairGrader,
    RubricPairwiseGrader,
    RubricPointwiseGrader,
    parse_rubric_choice,
    parse_rubric_score,
)
from rm_gallery.graders.win_probability import WinProbabilityGrader, symmetric_win_probability

__all__ = [
    "ConfidencePairwiseGrader",
    "FourWayGrader",
    "FunctionGrader",
    "GradeContext",
    "Grader",
    "GraderSpec",
    "InvalidSample",
    "LLMJudge",
    "ListwiseGrader",
    "MultiAspectPairwiseGrader",
    "PairwiseGrader",
    "PositionDebiasedGrader",
    "ReasoningJudgeGrader",
    "RelevanceGrader",
    "RubricPairGrader",
    "RubricPairwiseGrader",
    "RubricPointwiseGrader",
    "UnknownGrader",
    "WinProbabilityGrader",
    "create_grader",
    "list_graders",
    "load_plugins",
    "pair_variables",
    "parse_aspects",
    "parse_bracket_verdict",
    "parse_confidence",
    "parse_confident_preference",
    "parse_four_way",
    "parse_preference",
    "parse_relevance",
    "parse_rubric_choice",
    "parse_rubric_score",
    "register_grader",
    "swap_sample",
    "symmetric_win_probability",
]
