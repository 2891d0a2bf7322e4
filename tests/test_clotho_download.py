"""Clotho v1 fetch against a local HTTP server: verify, resume, checksum errors, offline behaviour."""

from __future__ import annotations

import csv
import hashlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import numpy as np
import py7zr
import pytest
import soundfile as sf

from aac_subsampling.data.clotho import (
    CLOTHO_V1_FILES,
    ChecksumMismatchError,
    ClothoLayoutError,
    ClothoNotAvailableError,
    RemoteFile,
    clotho_v1_present,
    describe_missing,
    fetch_clotho_v1,
    file_url,
)
from aac_subsampling.data.download import download_file


@dataclass
class ServerState:
    """What the fake Zenodo serves and what it saw."""

    files: dict[str, bytes] = field(default_factory=dict)
    cut_next: dict[str, int] = field(default_factory=dict)  # name -> how many responses to cut halfway
    ignore_range: bool = False
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (name, Range header)


def make_handler(state: ServerState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # keep pytest output clean
            pass

        def do_GET(self) -> None:
            name = unquote(urlsplit(self.path).path.rsplit("/", 1)[-1])
            range_header = self.headers.get("Range")
            state.requests.append((name, range_header))
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
    dest = download_file(file_url("clotho_captions_development.csv", base), tmp_path / "c.csv", md5(data),
                         progress=False)
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
        f"development clip {i}.v1.wav" for i in range(3)]
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
    assert fetch_clotho_v1(root, base_url=closed_port_url, progress=False, files=remotes,
                           expected_counts=COUNTS) == root
    # and an existing copy elsewhere is used as is
    elsewhere = tmp_path / "empty root"
    assert fetch_clotho_v1(elsewhere, base_url=closed_port_url, existing=root, progress=False,
                           files=remotes, expected_counts=COUNTS) == root
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
        fetch_clotho_v1(tmp_path / "clotho", base_url=base, progress=False, files=remotes,
                        expected_counts={"development": 4, "evaluation": 2})
