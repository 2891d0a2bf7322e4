"""SPICE: prerequisite checks, command line, runner, download, and SPIDEr wiring (no network, no CoreNLP)."""

from __future__ import annotations

import json
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest

from aac_subsampling.evaluation import evaluate as evaluate_module
from aac_subsampling.evaluation import spice as spice_module
from aac_subsampling.evaluation.java import find_java, java_major_version, parse_java_version
from aac_subsampling.evaluation.spice import (
    CORENLP_JARS,
    JAVA_ADD_OPENS,
    SpiceRun,
    SpiceUnavailableError,
    fetch_corenlp,
    run_spice,
    spice_command,
    spice_status,
)

REAL_JAVA = find_java()
NASHORN_JARS = (
    "nashorn-core-15.4.jar",
    "asm-7.3.1.jar",
    "asm-commons-7.3.1.jar",
    "asm-tree-7.3.1.jar",
    "asm-util-7.3.1.jar",
)


def _empty_jar(path: Path, entries: dict[str, bytes] | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as jar:
        for name, data in (entries or {}).items():
            jar.writestr(name, data)
    return path


def _fake_java(tmp_path: Path, version_line: str) -> str:
    """An executable that answers ``-version`` like a JVM (on stderr) and does nothing else."""
    script = tmp_path / "fakejdk" / "bin" / "java"
    script.parent.mkdir(parents=True)
    script.write_text(f"#!/bin/sh\necho '{version_line}' >&2\n")
    script.chmod(0o755)
    return str(script)


def _fake_spice_dir(tmp_path: Path, *, corenlp: bool = True, nashorn: bool = False) -> Path:
    folder = tmp_path / "spice"
    _empty_jar(folder / "spice-1.0.jar")
    if corenlp:
        for name in CORENLP_JARS:
            _empty_jar(folder / "lib" / name)
    if nashorn:
        for name in NASHORN_JARS:
            _empty_jar(folder / "lib" / name)
    return folder


# --------------------------------------------------------------------------
# Java version parsing
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "major"),
    [
        ('java version "1.8.0_292"\nJava(TM) SE Runtime Environment', 8),
        ('openjdk version "11.0.2" 2019-01-15\nOpenJDK Runtime Environment', 11),
        ('openjdk version "17.0.15" 2025-04-15\nOpenJDK 64-Bit Server VM', 17),
        ('openjdk version "21-ea" 2023-09-19', 21),
        ('openjdk version "25" 2025-09-16', 25),
        ("openjdk 14.0.2 2020-07-14", 14),
    ],
)
def test_parse_java_version(text, major):
    assert parse_java_version(text) == major


def test_parse_java_version_rejects_garbage():
    with pytest.raises(ValueError):
        parse_java_version("command not found")


def test_fake_java_version_is_read(tmp_path):
    java = _fake_java(tmp_path, 'openjdk version "11.0.2" 2019-01-15')
    assert find_java(java) == java
    assert java_major_version(java) == 11


def test_find_java_explicit_missing_is_none(tmp_path):
    assert find_java(tmp_path / "no" / "java") is None
    assert find_java("definitely-not-a-java-launcher") is None


# --------------------------------------------------------------------------
# spice_status
# --------------------------------------------------------------------------


def test_status_without_java(tmp_path):
    available, reason = spice_status(tmp_path / "nojava", spice_dir=_fake_spice_dir(tmp_path))
    assert not available and reason.startswith("no Java runtime found")


def test_status_without_corenlp_jars(tmp_path):
    java = _fake_java(tmp_path, 'openjdk version "11.0.2"')
    available, reason = spice_status(java, spice_dir=_fake_spice_dir(tmp_path, corenlp=False))
    assert not available
    assert "stanford-corenlp-3.6.0.jar is missing" in reason
    assert "stanford-corenlp-3.6.0-models.jar is missing" in reason
    assert "fetch_corenlp" in reason and "\n" not in reason


def test_status_rejects_non_zip_jar(tmp_path):
    java = _fake_java(tmp_path, 'openjdk version "11.0.2"')
    folder = _fake_spice_dir(tmp_path)
    (folder / "lib" / CORENLP_JARS[1]).write_bytes(b"")  # empty file: truncated download
    available, reason = spice_status(java, spice_dir=folder)
    assert not available and "stanford-corenlp-3.6.0-models.jar is not a valid jar" in reason


def test_status_java11_with_jars_is_ok(tmp_path):
    java = _fake_java(tmp_path, 'openjdk version "11.0.2"')
    assert spice_status(java, spice_dir=_fake_spice_dir(tmp_path)) == (True, "ok")


def test_status_java17_needs_javascript_engine(tmp_path):
    java = _fake_java(tmp_path, 'openjdk version "17.0.15" 2025-04-15')
    available, reason = spice_status(java, spice_dir=_fake_spice_dir(tmp_path))
    assert not available
    assert "Java 17 has no JavaScript engine" in reason and "Java 8-14" in reason
    assert "nashorn-core" in reason


def test_status_java17_with_nashorn_is_ok(tmp_path):
    java = _fake_java(tmp_path, 'openjdk version "17.0.15" 2025-04-15')
    assert spice_status(java, spice_dir=_fake_spice_dir(tmp_path, nashorn=True)) == (True, "ok")


def test_status_on_this_machine_is_one_line():
    available, reason = spice_status()
    assert isinstance(available, bool) and reason and "\n" not in reason


# --------------------------------------------------------------------------
# spice_command
# --------------------------------------------------------------------------


def _opens(java_major: int) -> list[str]:
    return [f"--add-opens={t}=ALL-UNNAMED" for t in JAVA_ADD_OPENS] if java_major >= 9 else []


def test_command_java8_has_no_module_flags(tmp_path):
    jar = _fake_spice_dir(tmp_path) / "spice-1.0.jar"
    cmd = spice_command("java8", jar, Path("in.json"), Path("out.json"), Path("cache"), java_major=8)
    assert cmd == [
        "java8",
        "-Xmx8G",
        "-cp",
        str(jar),
        "edu.anu.spice.SpiceScorer",
        "in.json",
        "-cache",
        "cache",
        "-out",
        "out.json",
        "-subset",
        "-silent",
    ]


def test_command_java11_adds_opens_only(tmp_path):
    jar = _fake_spice_dir(tmp_path, nashorn=True) / "spice-1.0.jar"
    cmd = spice_command("java", jar, Path("in.json"), Path("out.json"), Path("c"), java_major=11)
    assert cmd[:2] == ["java", "-Xmx8G"]
    assert cmd[2 : 2 + len(JAVA_ADD_OPENS)] == _opens(11)
    for module in ("java.lang", "java.util", "java.math", "java.net", "java.text", "java.util.concurrent"):
        assert f"--add-opens=java.base/{module}=ALL-UNNAMED" in cmd
    assert cmd[cmd.index("-cp") + 1] == str(jar)  # Nashorn is built into Java 11


def test_command_java17_puts_nashorn_on_classpath(tmp_path):
    """Fake jar set + fake `java -version`: the command SPICE would run on Java 17."""
    java = _fake_java(tmp_path, 'openjdk version "17.0.15" 2025-04-15')
    folder = _fake_spice_dir(tmp_path, nashorn=True)
    jar = folder / "spice-1.0.jar"
    cmd = spice_command(java, jar, tmp_path / "in.json", tmp_path / "out.json", tmp_path / "cache")
    classpath = cmd[cmd.index("-cp") + 1].split(":")
    assert classpath[0] == str(jar)
    assert sorted(Path(p).name for p in classpath[1:]) == sorted(NASHORN_JARS)
    assert cmd[: 2 + len(JAVA_ADD_OPENS)] == [java, "-Xmx8G", *_opens(17)]
    assert cmd[cmd.index("-cp") + 2 :] == [
        "edu.anu.spice.SpiceScorer",
        str(tmp_path / "in.json"),
        "-cache",
        str(tmp_path / "cache"),
        "-out",
        str(tmp_path / "out.json"),
        "-subset",
        "-silent",
    ]


def test_command_threads_and_explicit_classpath(tmp_path):
    cmd = spice_command(
        "java",
        Path("s.jar"),
        Path("i"),
        Path("o"),
        Path("c"),
        java_major=21,
        extra_classpath=[Path("x.jar")],
        threads=2,
    )
    assert cmd[cmd.index("-cp") + 1] == "s.jar:x.jar"
    assert cmd[-2:] == ["-threads", "2"]


@pytest.mark.java
@pytest.mark.skipif(REAL_JAVA is None, reason="needs a Java runtime")
def test_command_line_is_accepted_by_the_real_jvm(tmp_path):
    """The real JVM takes our flags and reaches SPICE's code; it stops only at missing CoreNLP."""
    from aac_subsampling.evaluation.coco import pycocoevalcap_dir

    jar = pycocoevalcap_dir() / "spice" / "spice-1.0.jar"
    cmd = spice_command(
        REAL_JAVA,
        jar,
        tmp_path / "in.json",
        tmp_path / "out.json",
        tmp_path / "cache",
        extra_classpath=[],
    )
    cmd[cmd.index("-Xmx8G")] = "-Xmx64m"
    proc = subprocess.run(cmd, capture_output=True, timeout=60, check=False)
    err = proc.stderr.decode()
    assert "Unrecognized option" not in err and "Could not find or load main class" not in err
    if not all(p.is_file() for p in spice_module.corenlp_jar_paths()):
        assert "edu/stanford/nlp" in err  # SpiceParser needs CoreNLP, which is absent here


# --------------------------------------------------------------------------
# run_spice with a stand-in runner
# --------------------------------------------------------------------------


class FakeRunner:
    """Records the call and writes SPICE-shaped output (``All`` F-scores)."""

    def __init__(self, scores, returncode: int = 0):
        self.scores, self.returncode, self.calls = scores, returncode, []

    def __call__(self, command, **kwargs):
        self.calls.append((command, kwargs))
        items = json.loads(Path(command[command.index("edu.anu.spice.SpiceScorer") + 1]).read_text())
        if self.returncode == 0:
            out = Path(command[command.index("-out") + 1])
            out.write_text(
                json.dumps(
                    [
                        {"image_id": item["image_id"], "scores": {"All": {"f": s, "pr": s, "re": s}}}
                        for item, s in zip(items, self.scores)
                    ]
                )
            )
        else:
            kwargs["stdout"].write(b"Exception in thread main: out of memory\n")
        return subprocess.CompletedProcess(command, self.returncode)


def test_run_spice_builds_command_and_reads_scores(tmp_path):
    folder = _fake_spice_dir(tmp_path)
    runner = FakeRunner([0.5, "NaN"])
    refs = [["a dog barks", "dog barking"], ["rain falls"]]
    run = run_spice(
        refs,
        ["a dog", ""],
        java="java",
        run_dir=tmp_path,
        cache_dir=tmp_path / "cache",
        spice_dir=folder,
        java_major=8,
        runner=runner,
    )
    command, kwargs = runner.calls[0]
    assert command == spice_command(
        "java",
        folder / "spice-1.0.jar",
        tmp_path / "spice_input.json",
        tmp_path / "spice_output.json",
        tmp_path / "cache",
        java_major=8,
    )
    assert kwargs["cwd"] == str(folder)
    assert json.loads((tmp_path / "spice_input.json").read_text()) == [
        {"image_id": 0, "test": "a dog", "refs": refs[0]},
        {"image_id": 1, "test": "", "refs": refs[1]},
    ]
    assert run.per_clip[0] == 0.5 and np.isnan(run.per_clip[1]) and np.isnan(run.corpus)


def test_run_spice_failure_reports_log_tail(tmp_path):
    with pytest.raises(RuntimeError, match="SPICE failed \\(exit 1\\).*out of memory"):
        run_spice(
            [["x"]],
            ["y"],
            java="java",
            run_dir=tmp_path,
            cache_dir=tmp_path / "c",
            spice_dir=_fake_spice_dir(tmp_path),
            java_major=8,
            runner=FakeRunner([], returncode=1),
        )


# --------------------------------------------------------------------------
# evaluate_captions wiring: SPIDEr = (CIDEr + SPICE) / 2, failures -> None + reason
# --------------------------------------------------------------------------


class StubMeteor:
    """Stands in for the METEOR JVM (irrelevant to these tests, and slow to start)."""

    def __init__(self, *args, **kwargs):
        self.closed = False

    def score(self, references, hypotheses):
        n = len(hypotheses)
        return 0.0, [0.0] * n, [[0.0] * 23 for _ in range(n)]

    def close(self):
        self.closed = True


PREDS = {"c1": "a dog barks", "c2": "rain on a roof", "c3": ""}
REFS = {
    "c1": ["a dog is barking", "dogs bark loudly"],
    "c2": ["rain falls on a roof", "heavy rain"],
    "c3": ["birds sing", "a bird chirps"],
}


@pytest.mark.java
@pytest.mark.skipif(REAL_JAVA is None, reason="needs a Java runtime (PTB tokeniser)")
def test_spider_combines_cider_and_spice(monkeypatch):
    spice_scores = [0.2, 0.4, 0.0]

    def fake_run_spice(refs, preds, **kwargs):
        assert preds == ["a dog barks", "rain on a roof", ""]  # tokenised, sorted ids
        return SpiceRun(corpus=float(np.mean(spice_scores)), per_clip=spice_scores, command=[])

    monkeypatch.setattr(evaluate_module, "MeteorScorer", StubMeteor)
    monkeypatch.setattr(evaluate_module, "spice_status", lambda java: (True, "ok"))
    monkeypatch.setattr(evaluate_module, "run_spice", fake_run_spice)
    res = evaluate_module.evaluate_captions(PREDS, REFS, spice=True)
    assert res.unavailable == {}
    assert res.corpus["SPICE"] == pytest.approx(0.2)
    assert res.corpus["SPIDEr"] == pytest.approx((res.corpus["CIDEr"] + 0.2) / 2)
    expected = (res.per_clip["CIDEr"].to_numpy() + np.array(spice_scores)) / 2
    np.testing.assert_allclose(res.per_clip["SPIDEr"].to_numpy(), expected)


@pytest.mark.java
@pytest.mark.skipif(REAL_JAVA is None, reason="needs a Java runtime (PTB tokeniser)")
def test_spice_failure_auto_gives_none_and_true_raises(monkeypatch):
    def broken_run_spice(*args, **kwargs):
        raise RuntimeError("SPICE failed (exit 1): java.lang.OutOfMemoryError")

    monkeypatch.setattr(evaluate_module, "MeteorScorer", StubMeteor)
    monkeypatch.setattr(evaluate_module, "spice_status", lambda java: (True, "ok"))
    monkeypatch.setattr(evaluate_module, "run_spice", broken_run_spice)
    res = evaluate_module.evaluate_captions(PREDS, REFS, spice="auto")
    assert res.corpus["SPICE"] is None and res.corpus["SPIDEr"] is None
    assert "OutOfMemoryError" in res.unavailable["SPICE"]
    with pytest.raises(RuntimeError, match="OutOfMemoryError"):
        evaluate_module.evaluate_captions(PREDS, REFS, spice=True)


@pytest.mark.java
@pytest.mark.skipif(REAL_JAVA is None, reason="needs a Java runtime (PTB tokeniser)")
def test_spice_true_raises_when_unavailable(monkeypatch):
    monkeypatch.setattr(evaluate_module, "MeteorScorer", StubMeteor)
    monkeypatch.setattr(evaluate_module, "spice_status", lambda java: (False, "jars missing"))
    with pytest.raises(SpiceUnavailableError, match="jars missing"):
        evaluate_module.evaluate_captions(PREDS, REFS, spice=True)


# --------------------------------------------------------------------------
# fetch_corenlp with a local file:// URL
# --------------------------------------------------------------------------


def _fake_corenlp_zip(tmp_path: Path, *, good: bool = True) -> Path:
    code = _empty_jar(
        tmp_path / "build" / "code.jar",
        {"edu/stanford/nlp/pipeline/StanfordCoreNLP.class": b"\xca\xfe\xba\xbe"} if good else {"x": b"y"},
    )
    models = _empty_jar(tmp_path / "build" / "models.jar", {"edu/stanford/nlp/models/pos.tagger": b"m"})
    archive = tmp_path / "corenlp.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.write(code, f"stanford-corenlp-full-2015-12-09/{CORENLP_JARS[0]}")
        z.write(models, f"stanford-corenlp-full-2015-12-09/{CORENLP_JARS[1]}")
        z.writestr("stanford-corenlp-full-2015-12-09/README.txt", "readme")
    return archive


def test_fetch_corenlp_installs_both_jars(tmp_path):
    dest = tmp_path / "lib"
    code, models = fetch_corenlp(dest, url=_fake_corenlp_zip(tmp_path).as_uri())
    assert (code.name, models.name) == CORENLP_JARS
    assert zipfile.is_zipfile(code) and zipfile.is_zipfile(models)
    assert sorted(p.name for p in dest.iterdir()) == sorted(CORENLP_JARS)  # no leftovers


def test_fetch_corenlp_rejects_wrong_content(tmp_path):
    dest = tmp_path / "lib"
    with pytest.raises(RuntimeError, match="does not look like a CoreNLP"):
        fetch_corenlp(dest, url=_fake_corenlp_zip(tmp_path, good=False).as_uri())
    assert list(dest.iterdir()) == []


def test_fetch_corenlp_rejects_non_zip(tmp_path):
    page = tmp_path / "error.html"
    page.write_text("<html>moved</html>")
    with pytest.raises(RuntimeError, match="not a zip"):
        fetch_corenlp(tmp_path / "lib", url=page.as_uri())


# --------------------------------------------------------------------------
# timeout: a stuck SPICE is killed and reported, not waited on for ever
# --------------------------------------------------------------------------


def _sleeping_spice(monkeypatch, tmp_path):
    """Replace SPICE's command line by a process that records its pid and sleeps for a minute."""
    import sys

    pid_file = tmp_path / "pid"
    script = (
        f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); "
        "print('parsing', flush=True); time.sleep(60)"
    )
    monkeypatch.setattr(spice_module, "spice_command", lambda *args, **kwargs: [sys.executable, "-c", script])
    return pid_file


def test_spice_has_a_default_timeout():
    import inspect

    assert inspect.signature(run_spice).parameters["timeout"].default == spice_module.SPICE_TIMEOUT_S == 1800


def test_spice_past_its_timeout_is_killed_and_named(tmp_path, monkeypatch):
    import os
    import time

    pid_file = _sleeping_spice(monkeypatch, tmp_path)
    started = time.monotonic()
    with pytest.raises(RuntimeError, match=r"did not finish within its timeout of 1.5 s and was killed.*parsing"):
        run_spice(
            [["x"]],
            ["y"],
            java="java",
            run_dir=tmp_path,
            cache_dir=tmp_path / "c",
            spice_dir=_fake_spice_dir(tmp_path),
            java_major=8,
            timeout=1.5,
        )
    assert time.monotonic() - started < 30
    with pytest.raises(ProcessLookupError):  # killed and reaped, not left running
        os.kill(int(pid_file.read_text()), 0)


def test_spice_timeout_makes_spice_unavailable_with_that_reason(tmp_path, monkeypatch):
    """Through the metrics wiring: 'auto' gives no SPICE score and a reason naming the timeout."""
    import functools

    _sleeping_spice(monkeypatch, tmp_path)
    java = _fake_java(tmp_path, 'openjdk version "11.0.2"')
    monkeypatch.setattr(evaluate_module, "spice_status", lambda java: (True, "ok"))
    monkeypatch.setattr(
        evaluate_module, "run_spice", functools.partial(run_spice, spice_dir=_fake_spice_dir(tmp_path), timeout=1.0)
    )
    corpus, per_clip, reason = evaluate_module._spice_scores(
        [["x"]], ["y"], mode="auto", java=java, run_dir=tmp_path, cache_dir=tmp_path / "c"
    )
    assert corpus is None and per_clip is None
    assert "timeout of 1 s" in reason and "killed" in reason
