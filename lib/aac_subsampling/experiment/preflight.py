"""Checks made before a run does any work: ``python -m aac_subsampling.experiment.preflight``.

``run_all.sh`` calls this first, so that a run that cannot finish stops at once, with a message
saying what to do, rather than hours later or half-way:

* ``paper`` (Clotho v1) without the corpus under the data folder and without a way to download
  it: says what to download and where to put it;
* a profile that needs a GPU (``paper``) on a machine where torch sees no CUDA device: refuses
  unless the device was forced with ``--device cpu``;
* ``--device cuda`` without a usable CUDA device;
* no Java runtime (METEOR, and SPICE, run on Java): an error for ``paper``, whose Table 1 needs
  them, a warning otherwise;
* (given the results folder) a ``--results-dir`` that is a file, lies under a file, cannot be
  written by this user, or is on a disk with less free space than the run will write there;
* (given the sub-sampling factors) a corpus already in the data folder with clips shorter than
  the largest requested M needs (M^(L-1) frames), named with their frame counts; a synthetic
  corpus not made yet is judged by its preset's shortest duration.

Exit status 0 when the run may start, 2 when it must not (every problem found is listed).
Setting ``AAC_OFFLINE=1`` skips the network probe and treats the network as unreachable.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from aac_subsampling.data import clotho_card
from aac_subsampling.experiment import folders, layout
from aac_subsampling.experiment.profiles import PROFILES, get_profile

CLOTHO_HOST = clotho_card.ZENODO_HOST  # where Clotho v1 is downloaded from
VALID_DEVICES = ("auto", "cpu", "cuda")


@dataclass
class PreflightReport:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


# --- probes (each one replaceable in tests) -------------------------------------------------


def has_captions(root: Path) -> bool:
    """Whether a corpus folder holds any split's captions file (the corpus exists already)."""
    from aac_subsampling.data.clotho_card import CAPTION_FILES

    return any((root / name).is_file() for name in CAPTION_FILES.values())


def network_available(host: str = CLOTHO_HOST, port: int = 443, timeout: float = 3.0) -> bool:
    """Whether a TCP connection to ``host`` opens within ``timeout`` seconds (name lookup
    included). ``AAC_OFFLINE=1`` answers False without trying."""
    if os.environ.get("AAC_OFFLINE", "").strip().lower() in {"1", "true", "yes"}:
        return False
    result: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout + 2.0)  # getaddrinfo ignores the socket timeout; bound it here
    return bool(result and result[0])


def cuda_status() -> tuple[bool, str]:
    """(whether ``auto`` resolves to a CUDA device, its name or a sentence saying why not), from
    :mod:`aac_subsampling.base.devices`, the one place that resolves devices."""
    try:
        from aac_subsampling.base import devices
    except ImportError as error:
        return False, f"torch cannot be imported ({error})"
    device = devices.resolve_device("auto")
    if device.type == "cuda":
        return True, f"CUDA device: {devices.describe(device)}"
    return False, devices.cuda_unavailable_reason()


def java_status() -> tuple[bool, str]:
    """(whether a working Java is found, as the evaluation finds it, its version line or why not)."""
    from aac_subsampling.evaluation.java import find_java, java_version_line

    java = find_java()
    if java is None:
        return False, "no `java` on PATH and no $JAVA_HOME/bin/java"
    try:
        return True, java_version_line(java)
    except RuntimeError as error:  # it ran and exited non-zero
        return False, str(error)
    except (OSError, subprocess.SubprocessError) as error:
        return False, f"`{java} -version` failed ({error})"


JAVA_HINT = (
    "install a Java runtime: `apt-get install default-jre-headless` (Debian/Ubuntu), "
    "`conda install -c conda-forge openjdk`, or any JRE >= 8 on PATH"
)


@dataclass(frozen=True)
class ClothoProbe:
    """What the preflight needs to know about a Clotho v1 folder (replaceable in tests)."""

    present: Callable[[Path], bool]  # a complete extracted copy is there
    describe_missing: Callable[[Path], str]  # what is missing, one line each
    downloads_needed: Callable[[Path], list[str]]  # URLs still to fetch ([] = can be made offline)
    other_corpus: Callable[[Path], str | None] = lambda root: None  # a complete Clotho-format corpus, not Clotho v1


def _clotho_probe() -> ClothoProbe:
    """The probe built on :mod:`aac_subsampling.data.clotho`. The downloads still needed are those of
    :func:`~aac_subsampling.data.clotho_card.plan_fetch`, the plan ``fetch_clotho_v1`` carries out:
    archives already in the folder are only unpacked (no network)."""
    from aac_subsampling.data import clotho

    return ClothoProbe(
        clotho.clotho_v1_present,
        clotho.describe_missing,
        lambda root: clotho_card.plan_fetch(root).urls(),
        clotho.other_clotho_format_corpus,
    )


def _clotho_missing_message(root: Path, probe: ClothoProbe, urls: list[str]) -> str:
    """What to download by hand and where to put it (the fetcher's message, with this run's ending)."""
    return clotho_card.by_hand_message(
        root,
        urls,
        f"{CLOTHO_HOST} cannot be reached",
        missing=probe.describe_missing(root),
        then=f"Then run again with --data-dir {root} (or put the files in the profile's default folder).",
    )


# Clotho v1 on disk, measured on v2.1's copies (v1 has 2893 + 1045 of those clips): ~7.4 GB of wavs,
# ~4.5 GB of 7z archives (kept after unpacking), ~2 GB of cached features; rounded up.
CLOTHO_DOWNLOAD_NEED_GB = 15.0
CLOTHO_UNPACK_NEED_GB = 10.0  # archives already there: wavs and features only


def _nearest_existing(folder: Path) -> Path:
    """``folder`` itself when it exists, else its nearest existing parent (what a folder not made yet is on)."""
    probe = Path(folder).absolute()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return probe


def _gb(value: float) -> str:
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}"


def disk_space_error(
    folder: Path,
    need_gb: float,
    what: str,
    hint: str = "Free some space there, or pass --data-dir pointing at a disk with room.",
) -> str | None:
    """An error when the file system that holds (or will hold) ``folder`` has less than
    ``need_gb`` GB free, else None. A folder not made yet is measured at its nearest existing
    parent; when even that cannot be measured, None (the check cannot tell, so it does not block)."""
    probe = _nearest_existing(folder)
    try:
        free_gb = shutil.disk_usage(probe).free / 1e9
    except OSError:
        return None
    if free_gb >= need_gb:
        return None
    where = str(folder) if probe == Path(folder).absolute() else f"{folder} (on the disk of {probe})"
    return (
        f"not enough disk space for {what}: {where} has {free_gb:.1f} GB free, about {_gb(need_gb)} GB are "
        f"needed. {hint}"
    )


# What a run writes into its results folder, per (seed, M) trained: checkpoint.pt holds the weights of the
# paper's model and Adam's two moment estimates (3 x 4.57 M float32 parameters at D = 4367, ~55 MB), model.pt the
# weights again (~18 MB), the evaluation's files a few MB (Clotho: 1045 clips' predictions and per-clip scores).
# Per folder: tables, figures, executed notebooks and logs, well under 100 MB. Rounded up; a (seed, M) whose
# model.pt is already there counts nothing.
RESULTS_GB_PER_RUN = 0.08
RESULTS_GB_PER_FOLDER = 0.1
# A synthetic corpus made by notebook 01: 16-bit mono wavs at 44.1 kHz (88 kB per second of audio) and their
# cached features (86 frames/s x 64 bands x 4 bytes, 22 kB/s); measured on the quick corpus (1050 s, 113 MB).
SYNTHETIC_BYTES_PER_SECOND = 110_000


def results_need_gb(results_dir: Path, trainings: Sequence[tuple[int, int]], extra_trainings: int = 0) -> float:
    """Disk space the run will still write into ``results_dir`` for the (seed, M) ``trainings`` of the sweep and
    ``extra_trainings`` more (notebook 05's), from the constants above."""
    to_train = [pair for pair in trainings if not (layout.run_dir(results_dir, *pair) / layout.MODEL_FILE).is_file()]
    return RESULTS_GB_PER_FOLDER + RESULTS_GB_PER_RUN * (len(to_train) + extra_trainings)


def synthetic_corpus_gb(preset_name: str) -> float:
    """Disk space of a synthetic corpus and its features, from its preset's clip counts and durations."""
    from aac_subsampling.data.synthetic.presets import PRESETS

    preset = PRESETS[preset_name]
    clips = preset.n_development + preset.n_evaluation + preset.n_validation
    seconds = clips * (preset.min_duration + preset.max_duration) / 2
    return seconds * SYNTHETIC_BYTES_PER_SECOND / 1e9


def results_dir_errors(results_dir: Path, need_gb: float) -> list[str]:
    """Why the run could not write its results into ``results_dir`` (made when missing), named before any work:
    a file in its place or above it, a folder this user cannot write, too little free space for ``need_gb``."""
    folder = Path(results_dir).absolute()
    if folder.exists() and not folder.is_dir():
        return [f"--results-dir {folder} is a file, not a folder: pass a folder (it is made when missing)"]
    probe = _nearest_existing(folder)
    if not probe.is_dir():
        return [f"--results-dir {folder} cannot be made: {probe} is a file, not a folder"]
    if not os.access(probe, os.W_OK | os.X_OK):
        where = f"{folder} is" if probe == folder else f"{folder} cannot be made there: {probe} is"
        return [f"--results-dir {where} not writable by this user (read-only): pass a folder you can write"]
    space = disk_space_error(
        folder,
        need_gb,
        "the results of this run (checkpoints of about 55 MB per seed and M, evaluations, tables)",
        hint="Free some space there, or pass --results-dir on a disk with room.",
    )
    return [space] if space is not None else []


def _corpus_frames(root: Path, sample_rate: int, hop_length: int) -> dict[str, int]:
    """'<split>/<file>' -> feature frames of every readable wav of the corpus under ``root`` (from the headers only;
    T = 1 + floor(N / hop) as :func:`aac_subsampling.method.features.n_frames`, N at the features' sample rate)."""
    import soundfile as sf

    from aac_subsampling.data.clotho_card import captions_file
    from aac_subsampling.method.features import n_frames

    frames: dict[str, int] = {}
    for split_dir in sorted(p for p in Path(root).iterdir() if p.is_dir()):
        if not (Path(root) / captions_file(split_dir.name)).is_file():
            continue  # not a split (e.g. the feature cache)
        for wav in sorted(split_dir.glob("*.wav")):
            try:
                info = sf.info(str(wav))
            except (sf.LibsndfileError, RuntimeError, TypeError):
                continue  # the reader names it
            samples = (
                info.frames if info.samplerate == sample_rate else round(info.frames * sample_rate / info.samplerate)
            )
            frames[f"{split_dir.name}/{wav.name}"] = n_frames(samples, hop_length)
    return frames


def clip_length_errors(profile_name: str, data_dir: Path, factors: Sequence[int]) -> list[str]:
    """Clips shorter than the largest of ``factors`` needs (M^(L-1) input frames, else the last encoder layer has
    no step), named with their frame counts: from the wav headers of a corpus already there, else (a synthetic
    corpus notebook 01 will make) from its preset's shortest clip duration."""
    chosen = get_profile(profile_name)
    config = chosen.config()
    layers, features = config.model.encoder_layers, config.features
    largest = max(factors)
    needed = largest ** (layers - 1)  # aac_subsampling.method.model.minimum_input_frames
    seconds = needed * features.hop_length / features.sample_rate
    need = f"M = {largest} needs at least M^(L-1) = {largest}^{layers - 1} = {needed} frames (about {seconds:.1f} s)"
    root = Path(data_dir)
    if root.is_dir() and has_captions(root):
        frames = _corpus_frames(root, features.sample_rate, features.hop_length)
        short = sorted((count, name) for name, count in frames.items() if count < needed)
        if not short:
            return []
        named = ", ".join(f"{name} ({count} frames)" for count, name in short[:10])
        more = f" and {len(short) - 10} more" if len(short) > 10 else ""
        return [
            f"{len(short)} clip(s) of {root} are too short for the requested sub-sampling factors: {need}; "
            f"shortest: {named}{more}. Remove them, or leave out the M they cannot reach (--m)."
        ]
    if chosen.corpus == "synthetic" and chosen.synthetic_preset is not None:
        from aac_subsampling.data.synthetic.presets import PRESETS

        shortest = PRESETS[chosen.synthetic_preset].min_duration
        frames = 1 + int(shortest * features.sample_rate) // features.hop_length
        if frames < needed:
            return [
                f"the {chosen.synthetic_preset} synthetic corpus notebook 01 makes has clips from {shortest:.1f} s "
                f"({frames} frames); {need}. Leave out the M it cannot reach (--m)."
            ]
    return []


# --- the checks ------------------------------------------------------------------------------


def run_checks(
    profile: str,
    data_dir: str | os.PathLike[str] | None = None,
    device: str | None = None,
    *,
    results_dir: str | os.PathLike[str] | None = None,
    factors: Sequence[int] | None = None,
    trainings: Sequence[tuple[int, int]] = (),
    extra_trainings: int = 0,
    network: Callable[[], bool] | None = None,
    cuda: Callable[[], tuple[bool, str]] | None = None,
    java: Callable[[], tuple[bool, str]] | None = None,
    clotho: Callable[[], ClothoProbe] | None = None,
) -> PreflightReport:
    """All checks for one run. ``device`` is None when the user did not choose one (``auto``);
    only an explicit ``cpu`` lets a GPU profile run without CUDA. ``factors`` (every M the run trains): also
    check the clips' lengths. ``results_dir``: also check that folder, and its free space against the (seed, M)
    ``trainings`` and ``extra_trainings`` more. The probes default to this module's ``network_available``,
    ``cuda_status``, ``java_status`` and ``_clotho_probe`` (looked up at call time, so tests may monkeypatch
    them)."""
    network = network or network_available
    cuda = cuda or cuda_status
    java = java or java_status
    clotho = clotho or _clotho_probe
    report = PreflightReport()
    try:
        chosen = get_profile(profile)
    except ValueError as error:
        report.errors.append(str(error))
        return report
    requested = "auto" if device is None else device
    base = requested.split(":", 1)[0]
    if base not in VALID_DEVICES or (":" in requested and base != "cuda"):
        report.errors.append(f"unknown device {requested!r}; choose auto, cpu, cuda or cuda:N")
        return report

    # data
    root = folders.data_dir(chosen.name, data_dir)
    if chosen.corpus == "clotho_v1":
        probe = clotho()
        if probe.present(root):
            report.notes.append(f"Clotho v1 found under {root}")
        elif (other := probe.other_corpus(root)) is not None:
            report.notes.append(f"{root} holds {other}; the {chosen.name} profile runs on it as it is")
        else:
            urls = probe.downloads_needed(root)
            if not urls:
                report.notes.append(f"Clotho v1 archives found under {root}; notebook 01 will unpack them")
            elif network():
                report.notes.append(
                    f"Clotho v1 is not under {root}; notebook 01 will download it from {CLOTHO_HOST} "
                    f"({len(urls)} files, several GB) and unpack it there"
                )
            else:
                report.errors.append(_clotho_missing_message(root, probe, urls))
            need = CLOTHO_DOWNLOAD_NEED_GB if urls else CLOTHO_UNPACK_NEED_GB
            what = "downloading and unpacking Clotho v1" if urls else "unpacking Clotho v1"
            if (space := disk_space_error(root, need, what)) is not None:
                report.errors.append(space)
    else:
        report.notes.append(f"{chosen.corpus} corpus ({chosen.synthetic_preset}) under {root}; made by notebook 01")
    if factors:
        report.errors += clip_length_errors(chosen.name, root, factors)

    # results folder
    if results_dir is not None:
        results = folders.results_dir(chosen.name, results_dir)
        need = results_need_gb(results, trainings, extra_trainings)
        if chosen.corpus == "synthetic" and chosen.synthetic_preset and not has_captions(root):
            corpus_gb = synthetic_corpus_gb(chosen.synthetic_preset)
            if _same_disk(root, results):
                need += corpus_gb  # made by notebook 01 on the same disk
            elif (
                space := disk_space_error(root, corpus_gb, f"the {chosen.synthetic_preset} synthetic corpus")
            ) is not None:
                report.errors.append(space)
        report.errors += results_dir_errors(results, need)

    # device
    if base == "cuda" or chosen.needs_gpu:
        available, why = cuda()
        if base == "cuda" and not available:
            report.errors.append(f"--device {requested} was asked for, but no CUDA device is usable: {why}.")
        elif chosen.needs_gpu and not available and requested != "cpu":
            report.errors.append(
                f"profile {chosen.name!r} needs a GPU (the paper's schedule is up to 1000 epochs per M), "
                f"but none is usable: {why}.\n"
                "Run it on a machine with a CUDA GPU, or force the CPU with --device cpu "
                "(expect days to weeks), or use --profile quick."
            )
        elif chosen.needs_gpu and not available:
            report.warnings.append(
                f"profile {chosen.name!r} is meant for a GPU; running on the CPU because --device cpu was given"
            )
        elif available:
            report.notes.append(why)

    # Java, for METEOR (and SPICE)
    has_java, java_line = java()
    if not has_java:
        message = f"no usable Java runtime ({java_line}); METEOR and SPICE need one: {JAVA_HINT}"
        if chosen.name == "paper":
            report.errors.append(message)
        else:
            report.warnings.append(message + " (the evaluation notebook may fail without it)")
    else:
        report.notes.append(f"Java: {java_line}")
    return report


def _same_disk(first: Path, second: Path) -> bool:
    try:
        return _nearest_existing(first).stat().st_dev == _nearest_existing(second).stat().st_dev
    except OSError:
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m aac_subsampling.experiment.preflight",
        description="Check that a run can start and finish before it does any work.",
    )
    parser.add_argument("--profile", default="quick", choices=sorted(PROFILES))
    parser.add_argument("--data-dir", default=None, help="corpus folder (default: the profile's)")
    parser.add_argument(
        "--device", default=None, help="auto, cpu, cuda or cuda:N; leave out for auto (a GPU profile then needs CUDA)"
    )
    args = parser.parse_args(argv)

    report = run_checks(args.profile, args.data_dir, args.device)
    return 0 if print_report(report, args.profile, args.device) else 2


def print_report(report: PreflightReport, profile: str, device: str | None) -> bool:
    """Print the notes, warnings and errors; True when the run may start."""
    print(f"preflight: profile={profile} device={device or 'auto'}")
    for note in report.notes:
        print(f"  ok: {note}")
    for warning in report.warnings:
        print(f"  WARNING: {warning}", file=sys.stderr)
    sys.stdout.flush()  # keep the notes before the errors when both streams go to one place
    if report.errors:
        print(f"preflight FAILED for profile {profile!r}; nothing was run:", file=sys.stderr)
        for error in report.errors:
            indented = "\n    ".join(error.splitlines())
            print(f"  ERROR: {indented}", file=sys.stderr)
        return False
    print("preflight passed", flush=True)
    return True


if __name__ == "__main__":
    sys.exit(main())
