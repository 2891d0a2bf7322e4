"""Feature cache: one extraction per clip, reuse, invalidation by settings and by source, resumption."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from aac_subsampling.data.feature_cache import (
    FeatureCacheError,
    FeatureStore,
    cache_dir,
    cache_features,
    npy_name,
)
from aac_subsampling.method.config import FeatureConfig
from aac_subsampling.method.features import extract_features

NAMES = ["Santa Motor.wav", "Train: 10.15 to York.wav", "a.b.c.wav", "plain.wav", "café ambience.wav"]


@dataclass(frozen=True)
class FakeClip:
    file_name: str
    audio_path: Path


@pytest.fixture()
def clips(tmp_path: Path) -> list[FakeClip]:
    folder = tmp_path / "audio"
    folder.mkdir()
    rng = np.random.default_rng(0)
    out = []
    for i, name in enumerate(NAMES):
        sf.write(folder / name, 0.1 * rng.standard_normal(22050 + 512 * i), 44100, subtype="PCM_16")
        out.append(FakeClip(name, folder / name))
    return out


def test_extracts_once_then_reuses(clips: list[FakeClip], tmp_path: Path) -> None:
    cfg = FeatureConfig()
    per_caption = [clip for clip in clips for _ in range(5)]  # one item per caption: still once per clip
    store = cache_features(per_caption, tmp_path / "cache", cfg, workers=1, progress=False)
    assert store.stats is not None and (store.stats.extracted, store.stats.reused) == (len(NAMES), 0)
    for i, clip in enumerate(clips):
        expected = extract_features(clip.audio_path, cfg)
        np.testing.assert_array_equal(store.load(clip.file_name), expected)
        assert store.n_frames(clip.file_name) == expected.shape[0] == 1 + (22050 + 512 * i) // 512
    again = cache_features(clips, tmp_path / "cache", cfg, workers=1, progress=False)
    assert again.stats is not None and (again.stats.extracted, again.stats.reused) == (0, len(NAMES))
    reopened = FeatureStore.open(tmp_path / "cache", cfg)
    assert sorted(reopened.file_names) == sorted(NAMES)
    with pytest.raises(KeyError, match="not cached.wav"):
        reopened.load("not cached.wav")


def test_layout_uses_hashed_names_and_a_manifest(clips: list[FakeClip], tmp_path: Path) -> None:
    cfg = FeatureConfig()
    cache_features(clips, tmp_path / "cache", cfg, workers=1, progress=False)
    folder = cache_dir(tmp_path / "cache", cfg)
    assert sorted(p.name for p in folder.glob("*.npy")) == sorted(npy_name(n) for n in NAMES)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["config"] == cfg.cache_key()
    entry = manifest["clips"]["Train: 10.15 to York.wav"]
    assert entry["npy"] == npy_name("Train: 10.15 to York.wav") and entry["n_mels"] == 64
    assert {"n_frames", "source_size", "source_mtime_ns"} <= set(entry)


def test_changing_a_feature_setting_re_extracts(clips: list[FakeClip], tmp_path: Path) -> None:
    hamming = cache_features(clips, tmp_path / "cache", FeatureConfig(), workers=1, progress=False)
    hann = cache_features(clips, tmp_path / "cache", FeatureConfig(window="hann"), workers=1, progress=False)
    assert hann.stats is not None and hann.stats.extracted == len(NAMES)
    assert hann.directory != hamming.directory
    assert not np.array_equal(hann.load(NAMES[0]), hamming.load(NAMES[0]))
    assert cache_dir(tmp_path, FeatureConfig(peak_normalise=True)) != cache_dir(tmp_path, FeatureConfig())


def test_changed_source_is_re_extracted(clips: list[FakeClip], tmp_path: Path) -> None:
    cfg = FeatureConfig()
    cache_features(clips, tmp_path / "cache", cfg, workers=1, progress=False)
    sf.write(clips[0].audio_path, np.zeros(44100, dtype=np.float32), 44100, subtype="PCM_16")
    store = cache_features(clips, tmp_path / "cache", cfg, workers=1, progress=False)
    assert store.stats is not None and (store.stats.extracted, store.stats.reused) == (1, len(NAMES) - 1)
    assert store.n_frames(clips[0].file_name) == 87


def test_interrupted_run_continues(clips: list[FakeClip], tmp_path: Path) -> None:
    """Simulate an interruption: some npy files missing, some records lost, the manifest gone."""
    cfg = FeatureConfig()
    first = cache_features(clips, tmp_path / "cache", cfg, workers=1, progress=False)
    folder = first.directory
    os.remove(folder / npy_name(NAMES[0]))  # never written
    manifest = json.loads((folder / "manifest.json").read_text())
    del manifest["clips"][NAMES[1]]  # written, but its record was not flushed
    (folder / "manifest.json").write_text(json.dumps(manifest))
    store = cache_features(clips, tmp_path / "cache", cfg, workers=1, progress=False)
    assert store.stats is not None
    assert (store.stats.extracted, store.stats.adopted, store.stats.reused) == (1, 1, len(NAMES) - 2)
    # no manifest at all: everything present is adopted, nothing extracted
    os.remove(folder / "manifest.json")
    rebuilt = cache_features(clips, tmp_path / "cache", cfg, workers=1, progress=False)
    assert rebuilt.stats is not None and (rebuilt.stats.extracted, rebuilt.stats.adopted) == (0, len(NAMES))
    np.testing.assert_array_equal(rebuilt.load(NAMES[0]), extract_features(clips[0].audio_path, cfg))
    assert not list(folder.glob("*.tmp-*"))


def test_parallel_workers_and_failures_named(clips: list[FakeClip], tmp_path: Path) -> None:
    bad = tmp_path / "audio" / "broken: clip.wav"
    bad.write_bytes(b"not a wav")
    with pytest.raises(FeatureCacheError, match="broken: clip.wav") as info:
        cache_features(
            [*clips, FakeClip(bad.name, bad)], tmp_path / "cache", FeatureConfig(), workers=2, progress=False
        )
    assert list(info.value.failures) == ["broken: clip.wav"]
    store = cache_features(clips, tmp_path / "cache", FeatureConfig(), workers=2, progress=False)
    assert store.stats is not None and (store.stats.extracted, store.stats.reused) == (0, len(NAMES))


def test_changed_content_with_same_size_and_mtime_is_re_extracted(clips: list[FakeClip], tmp_path: Path) -> None:
    """Size and mtime are only a pre-check: a wav rewritten with other samples of the same length,
    its mtime put back (cp -p, rsync -t, a restored backup), must not reuse its stale features."""
    cfg = FeatureConfig()
    cache_features(clips, tmp_path / "cache", cfg, workers=1, progress=False)
    target = clips[1].audio_path
    before = target.stat()
    n = sf.info(str(target)).frames
    sf.write(target, 0.3 * np.sin(np.arange(n) / 7.0), 44100, subtype="PCM_16")
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (target.stat().st_size, target.stat().st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    store = cache_features(clips, tmp_path / "cache", cfg, workers=2, progress=False)
    assert store.stats is not None and (store.stats.extracted, store.stats.reused) == (1, len(NAMES) - 1)
    np.testing.assert_array_equal(store.load(clips[1].file_name), extract_features(target, cfg))
    manifest = json.loads((store.directory / "manifest.json").read_text())
    assert manifest["clips"][clips[1].file_name]["source_sha1"] == hashlib.sha1(target.read_bytes()).hexdigest()


def test_record_without_content_hash_is_re_extracted(clips: list[FakeClip], tmp_path: Path) -> None:
    """A manifest written before content hashes existed cannot vouch for its features."""
    cfg = FeatureConfig()
    folder = cache_features(clips, tmp_path / "cache", cfg, workers=1, progress=False).directory
    manifest = json.loads((folder / "manifest.json").read_text())
    for entry in manifest["clips"].values():
        del entry["source_sha1"]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    store = cache_features(clips, tmp_path / "cache", cfg, workers=1, progress=False)
    assert store.stats is not None and store.stats.extracted == len(NAMES)


def test_non_finite_and_truncated_clips_are_failures_named_by_clip(clips: list[FakeClip], tmp_path: Path) -> None:
    """Both used to slip through: NaN aborted the whole run with a librosa error naming no clip, a
    truncated wav was cached at part of its length. Now each is a failure listed by file name."""
    nan_clip = tmp_path / "audio" / "nan: inside.wav"
    samples = np.zeros(22050, dtype=np.float32)
    samples[5] = np.nan
    sf.write(nan_clip, samples, 44100, subtype="FLOAT")
    cut = tmp_path / "audio" / "cut short.wav"
    data = clips[0].audio_path.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    bad = [FakeClip(nan_clip.name, nan_clip), FakeClip(cut.name, cut)]
    for workers in (1, 2):
        with pytest.raises(FeatureCacheError) as info:
            cache_features(
                [*clips, *bad], tmp_path / f"cache{workers}", FeatureConfig(), workers=workers, progress=False
            )
        assert sorted(info.value.failures) == ["cut short.wav", "nan: inside.wav"]
        assert "non-finite" in info.value.failures["nan: inside.wav"]
        assert "truncated" in info.value.failures["cut short.wav"]
        assert len(FeatureStore.open(tmp_path / f"cache{workers}", FeatureConfig())) == len(NAMES)
