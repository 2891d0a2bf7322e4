"""Reproduction of 'Temporal sub-sampling of audio feature sequences for automated audio captioning'
(Nguyen, Drossos, Virtanen, DCASE 2020).

Modules, one concept each: ``config`` (all knobs, paper defaults), ``profiles`` (smoke/quick/paper),
``features`` (log mel-band energies), ``tokens`` (vocabulary), ``model`` (encoder with temporal
sub-sampling, decoder), ``loss`` (token-weighted cross-entropy), ``batching``, ``training``,
``decoding``, ``data`` (Clotho v1, Clotho-format reader, synthetic corpus, feature cache) and
``evaluation`` (caption metrics). ``paper`` holds the paper's numbers and ``atomic`` the one atomic file write.
"""

from aac_subsampling.config import Config

__all__ = ["Config"]
__version__ = "0.1.0"
