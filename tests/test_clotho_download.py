"""Clotho v1 fetch against a local HTTP server: verify, resume, checksum errors, offline behaviour."""

from __future__ import annotations

import csv
import hashlib
import logging
import socket
import threading
from collections import namedtuple
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import numpy as np
import py7zr
import pytest
import soundfile as sf

from aac_subsampling.data import download as download_module
from aac_subsampling.data.clotho import (
    CLOTHO_V1_FILES,
    ChecksumMismatchError,
    ClothoLayoutError,
    ClothoNotAvailableError,
    RemoteFile,
    _extract_archive,
    clotho_v1_present,
    describe_missing,
    fetch_clotho_v1,
    file_url,
    verify_clotho_layout,
)
from aac_subsampling.data.download import HTTP_RETRIES, DownloadError, download_file, md5sum
from aac_subsampling.experiment import preflight


@dataclass
class ServerState:
    """What the fake Zenodo serves and what it saw."""

    files: dict[str, bytes] = field(default_factory=dict)
    cut_next: dict[str, int] = field(default_factory=dict)  # name -> how many responses to cut halfway
    ignore_range: bool = False
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (name, Range header)
    # name -> answers to give before serving it: (HTTP status, Retry-After header or None)
    busy: dict[str, list[tuple[int, str | None]]] = field(default_factory=dict)


def make_handler(state: ServerState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # keep pytest output clean
            pass

        def do_GET(self) -> None:
            name = unquote(urlsplit(self.path).path.rsplit("/", 1)[-1])
            range_header = self.headers.get("Range")
            state.requests.append((name, range_header))
            if state.busy.get(name):
                status, retry_after = state.busy[name].pop(0)
                self.send_response(status)
                if retry_after is not None:
                    self.send_header("Retry-After", retry_after)
                self.send_header("Content-Length", "0")
                self.send_header("Connection", "close")
                self.end_headers()
                return
            if name not in state.files:
                self.send_error(404)
                return
            body = state.files[name]
            start = 0
            if range_header and not state.ignore_range:
                start = int(range_header.removeprefix("bytes=").split("-")[0])
                if start >= len(body):
                    self.send_error(416)
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            else:
                self.send_response(200)
            payload = body[start:]
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Connection", "close")
            self.end_headers()
            if state.cut_next.get(name, 0) > 0:
                state.cut_next[name] -= 1
                self.wfile.write(payload[: len(payload) // 2])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            self.wfile.write(payload)

    return Handler


@pytest.fixture()
def server() -> Iterator[tuple[str, ServerState]]:
    state = ServerState()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(state))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/files", state
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture()
def closed_port_url() -> str:
    """A URL on a port nothing listens on, so any request fails at once with 'connection refused'."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}/files"


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def test_zenodo_urls_and_published_checksums() -> None:
    assert len(CLOTHO_V1_FILES) == 6
    dev = next(f for f in CLOTHO_V1_FILES if f.name == "clotho_audio_development.7z")
    assert dev.md5 == "e3ce88561b317cc3825e8c861cae1ec6"
    assert file_url(dev.name) == "https://zenodo.org/record/3490684/files/clotho_audio_development.7z?download=1"


def test_good_file_is_downloaded_and_verified(server: tuple[str, ServerState], tmp_path: Path) -> None:
    base, state = server
    data = bytes(range(256)) * 1000
    state.files["clotho_captions_development.csv"] = data
    dest = download_file(
        file_url("clotho_captions_development.csv", base), tmp_path / "c.csv", md5(data), progress=False
    )
    assert dest.read_bytes() == data
    assert not (tmp_path / "c.csv.part").exists()
    # already there with the right md5: no second request
    download_file(file_url("clotho_captions_development.csv", base), dest, md5(data), progress=False)
    assert len(state.requests) == 1


def test_md5_mismatch_deletes_the_file_and_says_so(server: tuple[str, ServerState], tmp_path: Path) -> None:
    base, state = server
    state.files["bad.csv"] = b"corrupted bytes"
    wrong = "0" * 32
    with pytest.raises(ChecksumMismatchError) as info:
        download_file(file_url("bad.csv", base), tmp_path / "bad.csv", wrong, progress=False)
    message = str(info.value)
    assert "bad.csv" in message and wrong in message and md5(b"corrupted bytes") in message
    assert "deleted" in message
    assert not (tmp_path / "bad.csv").exists() and not (tmp_path / "bad.csv.part").exists()


def test_cut_transfer_is_resumed_with_a_range_request(server: tuple[str, ServerState], tmp_path: Path) -> None:
    base, state = server
    data = np.random.default_rng(0).bytes(300_000)
    state.files["big.7z"] = data
    state.cut_next["big.7z"] = 1
    dest = download_file(file_url("big.7z", base), tmp_path / "big.7z", md5(data), progress=False)
    assert dest.read_bytes() == data
    assert state.requests[0] == ("big.7z", None)
    assert state.requests[1] == ("big.7z", f"bytes={len(data) // 2}-")


def test_interrupted_call_leaves_part_and_next_call_resumes(server: tuple[str, ServerState], tmp_path: Path) -> None:
    base, state = server
    data = np.random.default_rng(1).bytes(100_000)
    state.files["big.7z"] = data
    state.cut_next["big.7z"] = 1
    with pytest.raises(Exception, match="interrupted"):
        download_file(file_url("big.7z", base), tmp_path / "big.7z", md5(data), progress=False, retries=0)
    assert (tmp_path / "big.7z.part").stat().st_size == len(data) // 2
    download_file(file_url("big.7z", base), tmp_path / "big.7z", md5(data), progress=False, retries=0)
    assert (tmp_path / "big.7z").read_bytes() == data
    assert state.requests[-1][1] == f"bytes={len(data) // 2}-"


def test_server_ignoring_range_restarts_from_scratch(server: tuple[str, ServerState], tmp_path: Path) -> None:
    base, state = server
    data = np.random.default_rng(2).bytes(50_000)
    state.files["x.7z"] = data
    state.ignore_range = True
    (tmp_path / "x.7z.part").write_bytes(data[:1000])
    download_file(file_url("x.7z", base), tmp_path / "x.7z", md5(data), progress=False)
    assert (tmp_path / "x.7z").read_bytes() == data
    assert state.requests[0][1] == "bytes=1000-"


# --- fetch_clotho_v1 with a tiny fake Clotho ---------------------------------------------------

COUNTS = {"development": 3, "evaluation": 2}


def fake_clotho(tmp_path: Path) -> tuple[dict[str, bytes], tuple[RemoteFile, ...]]:
    """Six tiny files shaped like the Zenodo record: two 7z archives and four CSVs."""
    build = tmp_path / "build"
    contents: dict[str, bytes] = {}
    remotes = []
    for split, count in COUNTS.items():
        folder = build / split
        folder.mkdir(parents=True)
        names = [f"{split} clip {i}.v1.wav" for i in range(count)]
        for name in names:
            sf.write(folder / name, np.zeros(441, dtype=np.float32), 44100, subtype="PCM_16")
        archive = build / f"clotho_audio_{split}.7z"
        with py7zr.SevenZipFile(archive, "w") as seven:
            seven.writeall(folder, arcname=split)
        captions = build / f"clotho_captions_{split}.csv"
        with open(captions, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["file_name"] + [f"caption_{k}" for k in range(1, 6)])
            for name in names:
                writer.writerow([name] + [f"a sound, number {k}" for k in range(5)])
        metadata = build / f"clotho_metadata_{split}.csv"
        metadata.write_text("file_name,keywords\n", encoding="utf-8")
        for path, kind in ((archive, "audio"), (captions, "captions"), (metadata, "metadata")):
            contents[path.name] = path.read_bytes()
            remotes.append(RemoteFile(path.name, md5(contents[path.name]), split, kind))
    return contents, tuple(remotes)


def test_fetch_downloads_extracts_and_verifies(server: tuple[str, ServerState], tmp_path: Path) -> None:
    base, state = server
    contents, remotes = fake_clotho(tmp_path)
    state.files.update(contents)
    root = tmp_path / "clotho"
    assert not clotho_v1_present(root, COUNTS, remotes)
    result = fetch_clotho_v1(root, base_url=base, progress=False, files=remotes, expected_counts=COUNTS)
    assert result == root
    assert sorted(p.name for p in (root / "development").glob("*.wav")) == [
        f"development clip {i}.v1.wav" for i in range(3)
    ]
    assert len(list((root / "evaluation").glob("*.wav"))) == 2
    assert clotho_v1_present(root, COUNTS, remotes)
    assert describe_missing(root, COUNTS, remotes) == ""
    assert {name for name, _ in state.requests} == set(contents)
    assert not list(root.glob(".extracting-*"))


def test_fetch_with_everything_present_touches_no_network(
    server: tuple[str, ServerState], closed_port_url: str, tmp_path: Path
) -> None:
    base, state = server
    contents, remotes = fake_clotho(tmp_path)
    state.files.update(contents)
    root = tmp_path / "clotho"
    fetch_clotho_v1(root, base_url=base, progress=False, files=remotes, expected_counts=COUNTS)
    # a second fetch, pointed at a dead port, succeeds because nothing is needed
    assert (
        fetch_clotho_v1(root, base_url=closed_port_url, progress=False, files=remotes, expected_counts=COUNTS) == root
    )
    # and an existing copy elsewhere is used as is
    elsewhere = tmp_path / "empty root"
    assert (
        fetch_clotho_v1(
            elsewhere, base_url=closed_port_url, existing=root, progress=False, files=remotes, expected_counts=COUNTS
        )
        == root
    )
    assert not elsewhere.exists()


def test_downloaded_archives_are_extracted_without_network(
    server: tuple[str, ServerState], closed_port_url: str, tmp_path: Path
) -> None:
    """Files put in place by hand (as the offline error message asks) are checked and unpacked offline."""
    contents, remotes = fake_clotho(tmp_path)
    root = tmp_path / "clotho"
    root.mkdir()
    for name, data in contents.items():
        (root / name).write_bytes(data)
    fetch_clotho_v1(root, base_url=closed_port_url, progress=False, files=remotes, expected_counts=COUNTS)
    assert clotho_v1_present(root, COUNTS, remotes)


def test_no_network_error_names_files_urls_and_destination(closed_port_url: str, tmp_path: Path) -> None:
    root = tmp_path / "clotho v1"
    with pytest.raises(ClothoNotAvailableError) as info:
        fetch_clotho_v1(root, base_url=closed_port_url, progress=False)
    message = str(info.value)
    for remote in CLOTHO_V1_FILES:
        assert file_url(remote.name, closed_port_url) in message
    assert str(root.resolve()) in message
    missing = describe_missing(root)
    assert "clotho_captions_development.csv" in missing and "development" in missing
    assert not clotho_v1_present(root)


def test_incomplete_existing_copy_is_reported(closed_port_url: str, tmp_path: Path) -> None:
    with pytest.raises(ClothoNotAvailableError, match="clotho_captions_evaluation.csv"):
        fetch_clotho_v1(tmp_path / "root", base_url=closed_port_url, existing=tmp_path, progress=False)


def test_wrong_counts_after_extraction_are_reported(server: tuple[str, ServerState], tmp_path: Path) -> None:
    base, state = server
    contents, remotes = fake_clotho(tmp_path)
    state.files.update(contents)
    with pytest.raises(ClothoLayoutError, match="expected 4"):
        fetch_clotho_v1(
            tmp_path / "clotho",
            base_url=base,
            progress=False,
            files=remotes,
            expected_counts={"development": 4, "evaluation": 2},
        )


# --- bad inputs: hand-placed files, busy servers, silent long steps, disk space -----------------


def test_hand_placed_archive_with_wrong_md5_is_moved_aside_not_deleted(closed_port_url: str, tmp_path: Path) -> None:
    """It may be someone's only copy (or a newer release): keep it under another name and say where."""
    contents, remotes = fake_clotho(tmp_path)
    root = tmp_path / "clotho"
    root.mkdir()
    for name, data in contents.items():
        (root / name).write_bytes(data)
    archive = root / "clotho_audio_development.7z"
    expected = next(r.md5 for r in remotes if r.name == archive.name)
    for attempt, suffix in enumerate((".md5-mismatch", ".md5-mismatch-1")):
        wrong = f"a copy from somewhere else, take {attempt}".encode()
        archive.write_bytes(wrong)
        with pytest.raises(ChecksumMismatchError) as info:
            fetch_clotho_v1(root, base_url=closed_port_url, progress=False, files=remotes, expected_counts=COUNTS)
        moved = root / (archive.name + suffix)
        message = str(info.value)
        assert f"moved aside to {moved}" in message and "not deleted" in message
        assert f"expected {expected}, found {md5(wrong)}" in message
        assert moved.read_bytes() == wrong and not archive.exists()
    assert (root / "clotho_audio_development.7z.md5-mismatch").read_bytes() == b"a copy from somewhere else, take 0"


def test_existing_file_with_wrong_md5_is_moved_aside_and_downloaded_again(
    server: tuple[str, ServerState], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    base, state = server
    state.files["c.csv"] = b"the published bytes"
    dest = tmp_path / "c.csv"
    dest.write_bytes(b"an edited copy")
    with caplog.at_level(logging.WARNING, logger="aac_subsampling.data.download"):
        download_file(file_url("c.csv", base), dest, md5(b"the published bytes"), progress=False)
    assert dest.read_bytes() == b"the published bytes"
    assert (tmp_path / "c.csv.md5-mismatch").read_bytes() == b"an edited copy"
    assert f"moved it aside to {tmp_path / 'c.csv.md5-mismatch'}" in caplog.text
    assert md5(b"an edited copy") in caplog.text


def test_http_429_is_retried_after_the_retry_after_pause(server: tuple[str, ServerState], tmp_path: Path) -> None:
    base, state = server
    state.files["f.csv"] = b"data"
    state.busy["f.csv"] = [(429, "7"), (429, "7")]
    waits: list[float] = []
    dest = download_file(file_url("f.csv", base), tmp_path / "f.csv", md5(b"data"), progress=False, sleep=waits.append)
    assert dest.read_bytes() == b"data" and waits == [7.0, 7.0] and len(state.requests) == 3


def test_5xx_without_retry_after_backs_off_exponentially(server: tuple[str, ServerState], tmp_path: Path) -> None:
    base, state = server
    state.files["f.csv"] = b"data"
    state.busy["f.csv"] = [(503, None), (502, None), (500, None)]
    waits: list[float] = []
    download_file(file_url("f.csv", base), tmp_path / "f.csv", md5(b"data"), progress=False, sleep=waits.append)
    assert waits == [2.0, 4.0, 8.0]


def test_other_http_errors_are_not_retried(server: tuple[str, ServerState], tmp_path: Path) -> None:
    base, state = server
    waits: list[float] = []
    with pytest.raises(DownloadError, match=r"HTTP 404 \(not found\)") as info:
        download_file(file_url("absent.csv", base), tmp_path / "a.csv", "0" * 32, progress=False, sleep=waits.append)
    assert info.value.status == 404 and waits == [] and len(state.requests) == 1


def test_persistent_429_is_reported_as_rate_limiting_not_as_no_network(
    server: tuple[str, ServerState], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Zenodo's rate limit used to read 'cannot be downloaded (no network?)'. The tries are bounded
    (HTTP_RETRIES retries) and the pauses are Retry-After's."""
    base, state = server
    contents, remotes = fake_clotho(tmp_path)
    state.files.update(contents)
    first = remotes[0].name
    state.busy[first] = [(429, "3")] * (HTTP_RETRIES + 5)
    waits: list[float] = []
    monkeypatch.setattr(download_module, "_sleep", waits.append)
    with pytest.raises(ClothoNotAvailableError) as info:
        fetch_clotho_v1(tmp_path / "clotho", base_url=base, progress=False, files=remotes, expected_counts=COUNTS)
    message = str(info.value)
    assert "the server answered HTTP 429 (too many requests)" in message
    assert f"{HTTP_RETRIES + 1} times in a row" in message and "no network" not in message
    assert waits == [3.0] * HTTP_RETRIES and len(state.requests) == HTTP_RETRIES + 1
    assert isinstance(info.value.__cause__, DownloadError) and info.value.__cause__.status == 429


def test_retry_after_beyond_the_wait_limit_gives_up_at_once(server: tuple[str, ServerState], tmp_path: Path) -> None:
    base, state = server
    state.busy["f.csv"] = [(429, "3600")]
    waits: list[float] = []
    too_long = r"HTTP 429 \(too many requests\).*asked for 3600 s more, past the 600 s limit"
    with pytest.raises(DownloadError, match=too_long):
        download_file(file_url("f.csv", base), tmp_path / "f.csv", "0" * 32, progress=False, sleep=waits.append)
    assert waits == [] and len(state.requests) == 1


def test_md5_and_extraction_progress_bars(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Both take minutes on the 4 GB archive: a bar when progress=True, silence when False."""
    contents, remotes = fake_clotho(tmp_path)
    archive = tmp_path / "build" / "clotho_audio_development.7z"
    expected = hashlib.md5(archive.read_bytes()).hexdigest()
    assert md5sum(archive, chunk_size=64, progress=False) == expected
    _extract_archive(archive, tmp_path / "quiet", "development", progress=False)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    assert md5sum(archive, chunk_size=64, progress=True) == expected
    assert "md5 clotho_audio_development.7z" in capsys.readouterr().err
    _extract_archive(archive, tmp_path / "loud", "development", progress=True)
    assert "unpack clotho_audio_development.7z" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "loud" / "development").iterdir()) == sorted(
        p.name for p in (tmp_path / "quiet" / "development").iterdir()
    )


def test_fetch_with_progress_off_prints_nothing(
    server: tuple[str, ServerState], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base, state = server
    contents, remotes = fake_clotho(tmp_path)
    state.files.update(contents)
    fetch_clotho_v1(tmp_path / "clotho", base_url=base, progress=False, files=remotes, expected_counts=COUNTS)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_layout_check_names_a_non_utf8_captions_csv(tmp_path: Path) -> None:
    contents, remotes = fake_clotho(tmp_path)
    root = tmp_path / "build"
    csv_path = root / "clotho_captions_evaluation.csv"
    csv_path.write_bytes(csv_path.read_bytes().replace(b"a sound", b"a s\xf6und", 1))
    with pytest.raises(ClothoLayoutError) as info:
        verify_clotho_layout(root, COUNTS, files=remotes)
    assert f"{csv_path}: byte" in str(info.value) and "must be UTF-8" in str(info.value)


DiskUsage = namedtuple("DiskUsage", "total used free")  # what shutil.disk_usage returns


def _absent_clotho(archives: bool) -> preflight.ClothoProbe:
    return preflight.ClothoProbe(
        present=lambda root: False,
        describe_missing=lambda root: "everything",
        downloads_needed=lambda root: [] if archives else ["https://zenodo.org/x/clotho_audio.7z"],
    )


def test_preflight_refuses_paper_without_disk_space_for_clotho(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Clotho v1 needs ~15 GB (archives, wavs, features); the paper profile used to start anyway."""
    asked: list[Path] = []
    free = {"bytes": 3.2e9}

    def fake_usage(path: str | Path) -> DiskUsage:
        asked.append(Path(path))
        return DiskUsage(100e9, 100e9 - free["bytes"], free["bytes"])

    monkeypatch.setattr(preflight.shutil, "disk_usage", fake_usage)
    root = tmp_path / "not made yet" / "clotho"
    probes = dict(network=lambda: True, cuda=lambda: (True, "CUDA device: fake"), java=lambda: (True, "openjdk 17"))
    report = preflight.run_checks("paper", root, None, clotho=lambda: _absent_clotho(False), **probes)
    (error,) = report.errors
    assert str(root) in error and "3.2 GB free" in error and "about 15 GB are needed" in error
    assert asked == [tmp_path]  # the nearest folder that exists
    archives_only = preflight.run_checks("paper", root, None, clotho=lambda: _absent_clotho(True), **probes)
    assert any("about 10 GB are needed" in e for e in archives_only.errors)
    free["bytes"] = 40e9
    assert preflight.run_checks("paper", root, None, clotho=lambda: _absent_clotho(False), **probes).ok
    asked.clear()
    present = preflight.ClothoProbe(lambda root: True, lambda root: "", lambda root: [])
    free["bytes"] = 1e9
    assert preflight.run_checks("paper", root, None, clotho=lambda: present, **probes).ok and asked == []
