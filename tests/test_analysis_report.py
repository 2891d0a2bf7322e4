"""Every table and figure of a fake three-seed folder in one call, where the layout puts them."""

import warnings

import pandas as pd
from fake_results import write_fake_results

from aac_subsampling.analysis import claims
from aac_subsampling.analysis.report import FIGURE_FILES, write_report
from aac_subsampling.experiment import layout


def test_write_report_on_a_fake_folder(tmp_path):
    results = write_fake_results(tmp_path / "results", seeds=(0, 1, 2), n_clips=30, listening=True)
    captions = tmp_path / "captions"
    captions.mkdir()
    for split in ("development", "evaluation"):
        rows = [
            {"file_name": f"{split}{i}.wav", **{f"caption_{k}": f"a dog barks {k}" for k in range(1, 6)}}
            for i in range(3)
        ]
        pd.DataFrame(rows).to_csv(captions / f"clotho_captions_{split}.csv", index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = write_report(
            results,
            tmp_path / "figures",
            n_resamples=100,
            captions_dir=captions,
            java="/nonexistent/java",
            spice=False,
            progress=False,
        )
    for name in (
        layout.TABLE1_FILE,
        layout.TABLE1_SEEDS_FILE,
        layout.TABLE2_FILE,
        layout.COMPARISONS_FILE,
        layout.DIVERSITY_FILE,
        layout.CLAIMS_FILE,
        layout.CLOTHO_CONTEXT_FILE,
    ):
        assert layout.table_file(results, name).is_file(), name
    assert layout.clotho_context_record(results).is_file()
    # the fake folder has no validation curves and no synthetic ground truth (facts)
    assert set(report.figures) == set(FIGURE_FILES) - {"learning_curves", "facts"}
    for path in report.figures.values():
        assert path.parent == tmp_path / "figures" and path.read_bytes()[:4] == b"\x89PNG"
    assert report.tables.table1_seeds["n_seeds"].max() == 3
    assert len(report.comparisons) == 9 * 4
    verdicts = report.claims.set_index("claim")["verdict"]
    assert (report.claims.loc[report.claims["kind"] == "structural", "verdict"] == claims.HOLDS).all()
    assert verdicts["CIDEr improves with M (M=16 vs M=1)"] == claims.HOLDS  # the fake improves with M
    assert report.context is not None and report.context.available
