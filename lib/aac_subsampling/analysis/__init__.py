"""Analyses of a results folder laid out per seed (``seed<S>/M<M>/``), beyond the paper's two tables.

Modules (import them directly; this package imports nothing on its own, so that
:mod:`aac_subsampling.analysis.tables` can use :mod:`.seeds` without an import cycle):

* :mod:`.records`: reading and checking the per-seed records, per-clip scores, histories, predictions;
* :mod:`.resampling`: corpus scores of bootstrap clip sets, pooled over seeds (BLEU and METEOR from
  summed sufficient statistics);
* :mod:`.seeds`: Table 1 over seeds (mean, std, pooled 95 % interval, each seed);
* :mod:`.paired`: paired bootstrap of every M against M = 1 (``comparisons.csv``);
* :mod:`.context`: the paper, an audio-blind constant caption and the human ceiling on Clotho v1;
* :mod:`.diversity`: distinct captions and words per M beside the references';
* :mod:`.claims`: the paper's claims with verdicts, and :func:`.claims.assert_structural_claims`;
* :mod:`.report`: every table and figure of a folder in one call (:func:`.report.write_report`);
* :mod:`.tables`: Tables 1 and 2 beside the paper's; :mod:`.figures`: the figures.
"""
