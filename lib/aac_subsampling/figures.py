"""Seaborn figures of a run beside the paper: metrics vs M, inference time vs M, encoder length vs M."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: papermill and CI have no display

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

PAPER_LABEL = "paper (Clotho v1)"


def _long_table1(table: pd.DataFrame, source: str) -> pd.DataFrame:
    frame = table.reset_index().melt(id_vars="metric", var_name="column", value_name="score")
    frame["M"] = frame["column"].str.removeprefix("M=").astype(int)
    frame["source"] = source
    return frame.drop(columns="column")


def metrics_vs_m(ours: pd.DataFrame, paper: pd.DataFrame, our_label: str, path: Path) -> Path:
    """One panel per metric; our scores and the paper's against M (log2 axis)."""
    data = pd.concat([_long_table1(ours, our_label), _long_table1(paper, PAPER_LABEL)]).dropna(subset=["score"])
    grid = sns.relplot(data=data, x="M", y="score", hue="source", col="metric", col_wrap=3, kind="line",
                       marker="o", height=2.2, aspect=1.3, facet_kws={"sharey": False})
    for axis in grid.axes.flat:
        axis.set_xscale("log", base=2)
        axis.set_xticks([1, 2, 4, 8, 16], labels=["1", "2", "4", "8", "16"])
    grid.figure.suptitle("Table 1: caption metrics vs sub-sampling factor M", y=1.02)
    return _save(grid.figure, path)


def inference_time_vs_m(ours: pd.DataFrame, paper: pd.DataFrame, our_label: str, path: Path) -> Path:
    """Inference time relative to M = 1 (different hardware: only the ratios compare)."""
    frames = []
    for table, label in ((ours, our_label), (paper, PAPER_LABEL)):
        if table.empty:
            continue
        base = table.loc[table["M"] == table["M"].min(), "inference_time_s"].iloc[0]
        frames.append(pd.DataFrame({"M": table["M"], "relative": table["inference_time_s"] / base,
                                    "source": label}))
    figure, axis = plt.subplots(figsize=(5, 3.2))
    sns.lineplot(data=pd.concat(frames), x="M", y="relative", hue="source", marker="o", ax=axis)
    axis.set_xscale("log", base=2)
    axis.set_xticks([1, 2, 4, 8, 16], labels=["1", "2", "4", "8", "16"])
    axis.set_ylabel("inference time / time at M = 1")
    axis.set_title("Table 2: time to caption the evaluation split")
    return _save(figure, path)


def encoder_length_vs_m(ours: pd.DataFrame, path: Path) -> Path:
    """Measured encoder output length T_L for 1292- and 2584-frame inputs (15 s and 30 s)."""
    data = ours.melt(id_vars="M", value_vars=["T_L_min", "T_L_max"], var_name="input", value_name="T_L")
    data["input"] = data["input"].map({"T_L_min": "1292 frames (15 s)", "T_L_max": "2584 frames (30 s)"})
    figure, axis = plt.subplots(figsize=(5, 3.2))
    sns.lineplot(data=data, x="M", y="T_L", hue="input", marker="o", ax=axis)
    axis.set_xscale("log", base=2)
    axis.set_yscale("log")
    axis.set_xticks([1, 2, 4, 8, 16], labels=["1", "2", "4", "8", "16"])
    axis.set_ylabel("encoder output length T_L")
    axis.set_title("Table 2: sequence length after the encoder")
    return _save(figure, path)


def _save(figure: plt.Figure, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(figure)
    return path


def training_loss_vs_epoch(results_dir: Path, path: Path) -> Path:
    """Epoch-mean training loss of every trained M (from ``M<M>/training.json``)."""
    import json

    rows = []
    for record_path in sorted(Path(results_dir).glob("M*/training.json")):
        record = json.loads(record_path.read_text())
        rows += [{"M": f"M={record['M']}", "epoch": h["epoch"], "loss": h["loss"]} for h in record["history"]]
    figure, axis = plt.subplots(figsize=(5, 3.2))
    if rows:
        sns.lineplot(data=pd.DataFrame(rows), x="epoch", y="loss", hue="M", ax=axis)
    axis.set_ylabel("epoch-mean weighted cross-entropy")
    axis.set_title("training loss")
    return _save(figure, path)
