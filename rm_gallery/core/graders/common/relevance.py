"""``from rm_gallery.core.graders.common.relevance import RelevanceGrader`` (RM-Gallery / OpenJudge docs).

The grader itself is :mod:`rm_gallery.graders.relevance` (registered as ``relevance``).
"""

from rm_gallery.graders.relevance import RelevanceGrader, RelevanceJudgment, parse_relevance

__all__ = ["RelevanceGrader", "RelevanceJudgment", "parse_relevance"]
