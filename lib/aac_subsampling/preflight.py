"""Checks made before a run does any work: ``python -m aac_subsampling.preflight``.

``run_all.sh`` calls this first, so that a run that cannot finish stops at once, with a message
saying what to do, rather than hours later or half-way:

* ``paper`` (Clotho v1) without the corpus under the data folder and without a way to download
  it: says what to download and where to put it;
* a profile that needs a GPU (``paper``) on a machine where torch sees no CUDA device: refuses
  unless the device was forced with ``--device cpu``;
* ``--device cuda`` without a usable CUDA device;
* no Java runtime (METEOR, and SPICE, run on Java): an error for ``paper``, whose Table 1 needs
  them, a warning otherwise.

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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from aac_subsampling import paths
from aac_subsampling.data import clotho_card
from aac_subsampling.profiles import PROFILES, get_profile

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
    :mod:`aac_subsampling.devices`, the one place that resolves devices."""
    try:
        from aac_subsampling import devices
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


def disk_space_error(folder: Path, need_gb: float, what: str) -> str | None:
    """An error when the file system that holds (or will hold) ``folder`` has less than
    ``need_gb`` GB free, else None. A folder not made yet is measured at its nearest existing
    parent; when even that cannot be measured, None (the check cannot tell, so it does not block)."""
    probe = Path(folder).absolute()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        free_gb = shutil.disk_usage(probe).free / 1e9
    except OSError:
        return None
    if free_gb >= need_gb:
        return None
    where = str(folder) if probe == Path(folder).absolute() else f"{folder} (on the disk of {probe})"
    return (
        f"not enough disk space for {what}: {where} has {free_gb:.1f} GB free, about {need_gb:.0f} GB are "
        f"needed. Free some space there, or pass --data-dir pointing at a disk with room."
    )


# --- the checks ------------------------------------------------------------------------------


def run_checks(
    profile: str,
    data_dir: str | os.PathLike[str] | None = None,
    device: str | None = None,
    *,
    network: Callable[[], bool] | None = None,
    cuda: Callable[[], tuple[bool, str]] | None = None,
    java: Callable[[], tuple[bool, str]] | None = None,
    clotho: Callable[[], ClothoProbe] | None = None,
) -> PreflightReport:
    """All checks for one run. ``device`` is None when the user did not choose one (``auto``);
    only an explicit ``cpu`` lets a GPU profile run without CUDA. The probes default to this
    module's ``network_available``, ``cuda_status``, ``java_status`` and ``_clotho_probe``
    (looked up at call time, so tests may monkeypatch them)."""
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
    root = paths.data_dir(chosen.name, data_dir)
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m aac_subsampling.preflight",
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
