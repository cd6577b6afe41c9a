"""``from rm_gallery.core.graders.common import RelevanceGrader`` (RM-Gallery's "Generative Training (Pairwise)")."""

from rm_gallery.core.graders.common.relevance import RelevanceGrader

__all__ = ["RelevanceGrader"]
