"""Reproduction of 'Temporal sub-sampling of audio feature sequences for automated audio captioning'
(Nguyen, Drossos, Virtanen, DCASE 2020).

The package's folders are its layers; a module imports only from its own layer and the ones before it
(``tests/test_layers.py`` holds it):

* ``base``: atomic file writes, the project's paths, the compute device;
* ``method``: what the paper specifies (config with the paper's values, features, vocabulary, model, loss,
  batching, training, decoding, the paper's numbers);
* ``evaluation``: the caption metrics and their bootstrap, the swapped-audio check;
* ``data``: Clotho v1, the Clotho-format reader, the synthetic corpora, the feature cache;
* ``experiment``: profiles, the pipeline steps the notebooks call, the results folder's layout, run keys,
  run records, the lock, the preflight;
* ``analysis``: Tables 1 and 2, figures, seeds, paired comparisons, floors, claims, the report;
* ``open_questions``: notebook 05's study;
* ``run`` (the command: ``python -m aac_subsampling.run``) and ``publish``, which use all of the above.
"""

from aac_subsampling.method.config import Config

__all__ = ["Config"]
__version__ = "0.1.0"
