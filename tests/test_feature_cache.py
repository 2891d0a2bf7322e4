"""Feature cache: one extraction per clip, reuse, invalidation by settings and by source, resumption."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from aac_subsampling.config import FeatureConfig
from aac_subsampling.data.feature_cache import (
    FeatureCacheError,
    FeatureStore,
    cache_dir,
    cache_features,
    npy_name,
)
from aac_subsampling.features import extract_features

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
        cache_features([*clips, FakeClip(bad.name, bad)], tmp_path / "cache", FeatureConfig(), workers=2,
                       progress=False)
    assert list(info.value.failures) == ["broken: clip.wav"]
    store = cache_features(clips, tmp_path / "cache", FeatureConfig(), workers=2, progress=False)
    assert store.stats is not None and (store.stats.extracted, store.stats.reused) == (0, len(NAMES))
