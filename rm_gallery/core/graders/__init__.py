"""``from rm_gallery.core.graders import ...`` (RM-Gallery / OpenJudge docs): graders and result types.

``rm_gallery.core.graders.common`` holds the docs' common graders (``RelevanceGrader``).
"""

from rm_gallery.graders import (
    FunctionGrader,
    PairwiseGrader,
    RelevanceGrader,
    create_grader,
    list_graders,
    register_grader,
)
from rm_gallery.graders.pairwise import PairwiseComparisonTemplate
from rm_gallery.types import GraderError, Rank, Score, Verdict

#: OpenJudge's result names, for code written against its docs.
GraderScore = Score
GraderRank = Rank

__all__ = [
    "FunctionGrader",
    "GraderError",
    "GraderRank",
    "GraderScore",
    "PairwiseComparisonTemplate",
    "PairwiseGrader",
    "Rank",
    "RelevanceGrader",
    "Score",
    "Verdict",
    "create_grader",
    "list_graders",
    "register_grader",
]
