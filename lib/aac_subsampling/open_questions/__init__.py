"""What the paper left open (notebook 05): four small paired experiments on a profile's corpus.

* :mod:`.variants`: the model variants (the paper's, silence padding, the authors' code, an attention
  decoder) and how one (variant, seed, M) is trained and evaluated;
* :mod:`.batch`: question (a), the paper's trained models decoded padded or packed, alone or batched;
* :mod:`.study`: every job, the paired comparisons, the verdicts, the figure.
"""

from aac_subsampling.open_questions.variants import OPEN_QUESTIONS_DIR, VARIANTS, Variant, get_variant

__all__ = ["OPEN_QUESTIONS_DIR", "VARIANTS", "Variant", "get_variant"]
