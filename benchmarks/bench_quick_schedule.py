"""Training schedules of the quick profile compared on its validation split (how the profile's schedule was chosen).

Trains one M with the quick profile's settings and a given override of its training schedule, then captions the
validation split (never the evaluation split) and scores it with every metric, beside the audio-blind constant
caption. Prints the validation CIDEr-D curve and one ``RESULT`` line; nothing is asserted. Each call takes the
time of one quick training (M = 8, 80 epochs: about 13 minutes on one CPU core). Re-measure the four settings
that profiles.py cites with:

    B=benchmarks/bench_quick_schedule.py
    python $B --m 8 --train '{"max_epochs": 40, "patience": 1000, "lr_schedule": "constant"}'
    python $B --m 8 --train '{"max_epochs": 40, "patience": 1000}'
    python $B --m 8 --train '{"max_epochs": 80, "patience": 1000, "lr_schedule": "constant"}'
    python $B --m 8 --train '{"max_epochs": 80, "patience": 1000}'

(``patience`` 1000 turns early stopping off, so that each setting trains to its cap.)
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--m", type=int, default=8, help="sub-sampling factor M")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--train", default="{}", help="TrainConfig overrides on top of the quick profile, as JSON")
    parser.add_argument("--data-dir", type=Path, default=Path("data/synthetic_quick"), help="the quick corpus")
    parser.add_argument("--work-dir", type=Path, help="where prepared data and the model go (default: a temp folder)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: two settings side by side)")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from aac_subsampling.analysis.floors import floor_captions
    from aac_subsampling.evaluation import evaluate_captions
    from aac_subsampling.experiment import pipeline
    from aac_subsampling.method.decoding import greedy_decode
    from aac_subsampling.method.training import flush_denormals

    flush_denormals(torch.device("cpu"))
    train = json.loads(args.train)
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="bench_schedule_"))
    prepared_dir, out = work / "prepared", work / "runs"
    if not (prepared_dir / "prepared.json").exists():
        pipeline.prepare_data("quick", args.data_dir, prepared_dir, progress=False)
    started = time.perf_counter()
    record = pipeline.train_subsampling_model(
        "quick", args.m, out, seed=args.seed, device="cpu", progress=False, overrides={"train": train},
        prepared_dir=prepared_dir,
    )  # fmt: skip
    print(f"trained in {time.perf_counter() - started:.0f} s: {record['steps']} steps, best step {record['best_step']}")

    prepared = pipeline.load_prepared(prepared_dir)
    config = pipeline.run_config("quick", args.m, args.seed, "cpu", None, {"train": train})
    model = pipeline.load_trained_model(out, args.seed, args.m, config, len(prepared.vocabulary))
    clips = sorted(clip.file_name for clip in prepared.clips["validation"])
    load = prepared.features("validation", config.features)
    captions = greedy_decode(
        model, clips, {c: load(c) for c in clips}, prepared.vocabulary, config.decode.max_steps,
        config.train.batch_size, progress=False, pad_value=prepared.pad_value(config),
    )  # fmt: skip
    references = prepared.references("validation")
    development = [caption for texts in prepared.references("development").values() for caption in texts]
    rows = {"model": captions, "constant caption": {c: floor_captions(development)["constant"] for c in clips}}
    for name, predictions in rows.items():
        scores = evaluate_captions(predictions, references).corpus
        shown = {metric: round(value, 3) for metric, value in scores.items() if isinstance(value, float)}
        print(f"RESULT M={args.m} train={json.dumps(train)} {name}: {json.dumps(shown)}")
    for entry in record["history"]:
        if "validation_cider" in entry:
            epoch, loss, cider = entry["epoch"] + 1, entry["loss"], entry["validation_cider"]
            print(f"epoch {epoch:3d}  loss {loss:.3f}  validation CIDEr-D {cider:.3f}")


if __name__ == "__main__":
    main()
