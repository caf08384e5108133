"""The bundled samples exist, fit the budget and are what samples/README.md promises."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
CLIP = SAMPLES / "shaky_speech.mp4"
BUDGET_BYTES = 5_000_000


def test_samples_are_present_and_under_budget() -> None:
    for name in (
        "README.md",
        "make_samples.py",
        "shaky_speech.mp4",
        "shaky_speech.path.json",
        "speech_clean.wav",
        "speech_noisy.wav",
    ):
        assert (SAMPLES / name).is_file(), f"samples/{name} is missing"
    files = [p for p in SAMPLES.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    total = sum(p.stat().st_size for p in files)
    assert total < BUDGET_BYTES, f"samples/ holds {total} bytes, over the {BUDGET_BYTES} budget"


def test_clip_streams_match_readme() -> None:
    with av.open(str(CLIP)) as container:
        assert len(container.streams.video) == 1
        assert len(container.streams.audio) == 1
        video = container.streams.video[0]
        audio = container.streams.audio[0]
        assert video.codec_context.name == "h264"
        assert (video.codec_context.width, video.codec_context.height) == (1280, 720)
        assert video.codec_context.pix_fmt == "yuv420p"
        assert video.average_rate == Fraction(30000, 1001)
        assert audio.codec_context.name == "aac"
        assert audio.codec_context.sample_rate == 48_000
        assert audio.codec_context.channels in (1, 2)
        assert container.duration is not None
        assert 5.0 <= container.duration / av.time_base <= 6.0
        n_frames = sum(1 for _ in container.decode(video=0))
    path = json.loads((SAMPLES / "shaky_speech.path.json").read_text())
    assert n_frames == len(path["camera"])


def test_path_is_a_real_shake() -> None:
    path = json.loads((SAMPLES / "shaky_speech.path.json").read_text())
    camera = np.array(path["camera"])
    assert camera.shape[1] == 4  # (dx_px, dy_px, angle_rad, log_scale)
    assert (path["width_px"], path["height_px"], path["fps"]) == (1280, 720, "30000/1001")
    assert 3.0 < float(np.std(camera[:, 0])) < 20.0
    assert 3.0 < float(np.std(camera[:, 1])) < 20.0


def test_speech_references() -> None:
    clean, rate = sf.read(SAMPLES / "speech_clean.wav", dtype="float64")
    noisy, noisy_rate = sf.read(SAMPLES / "speech_noisy.wav", dtype="float64")
    assert rate == noisy_rate == 48_000
    assert clean.ndim == noisy.ndim == 1
    assert clean.shape == noisy.shape
    assert 5.0 <= len(clean) / rate <= 6.0
    snr_db = 10 * np.log10(np.sum(clean**2) / np.sum((noisy - clean) ** 2))
    assert snr_db == pytest.approx(5.0, abs=0.5)
