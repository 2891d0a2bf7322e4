"""Data for the reproduction.

- :mod:`.clotho_card`: Clotho v1's facts, each written once (splits, counts, files, md5s, URLs, the
  fetch plan); standard library only.
- :mod:`.clotho`: Clotho v1 from Zenodo (download with resume and md5 check, 7z extraction, an
  offline presence check); :mod:`.download` holds the generic HTTP download.
- :mod:`.reader`: the Clotho-format reader (``<root>/<split>/*.wav`` + captions CSV), used for
  Clotho and for the synthetic corpus alike.
- :mod:`.synthetic`: the deterministic synthetic Clotho-format corpus (offline default), built
  from :mod:`.synthetic.events` (sound events) and :mod:`.synthetic.captions` (caption grammar),
  and :mod:`.synthetic.clotho_shaped` (Clotho v1's names and captions with synthetic audio).
- :mod:`.feature_cache`: per-clip log mel-band energies, extracted once in parallel and reused.

Submodules are imported on use, so importing this package stays cheap.
"""
