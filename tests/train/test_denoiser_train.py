"""The training recipe on a tiny folder of generated wav files: prepare, mix, train, resume."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

torch = pytest.importorskip("torch")
pytest.importorskip("pesq")
pytest.importorskip("pystoi")

from mmpipe.nets.denoiser import DenoiserConfig  # noqa: E402
from mmpipe.train.denoiser import train  # noqa: E402
from mmpipe.train.denoiser_data import (  # noqa: E402
    ClipSet,
    Mixer,
    noise_onset_envelope,
    prepare,
    synth_noise,
)
from mmpipe.train.speech_metrics import si_sdr_db  # noqa: E402


def vowel(rng: np.random.Generator, rate_hz: int, seconds: float) -> np.ndarray:
    """A crude voiced sound: a gliding harmonic series under a syllable envelope."""
    t = np.arange(int(rate_hz * seconds)) / rate_hz
    f0 = rng.uniform(100, 220) * (1 + 0.1 * np.sin(2 * np.pi * t))
    phase = 2 * np.pi * np.cumsum(f0) / rate_hz
    x = sum(np.sin(k * phase) / k for k in range(1, 20))
    return (0.3 * x * np.sin(np.pi * t / seconds) ** 2 / 3).astype(np.float32)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    rng = np.random.default_rng(0)
    for speaker in ("alice", "bob"):
        for i in range(4):
            path = root / "speech" / speaker / f"{i}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, vowel(rng, 16_000, 1.0), 16_000)  # also exercises resampling
    for i in range(3):
        path = root / "noise" / f"n{i}.flac"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, (0.1 * rng.standard_normal(44_100)).astype(np.float32), 44_100)
    prepare(root, [root / "speech"], [root / "noise"], workers=1)
    return root


def test_prepare_splits_and_resamples(corpus: Path) -> None:
    index = json.loads((corpus / "prepared" / "index.json").read_text())
    assert len(index["speech_train"]["paths"]) == len(index["speech_val"]["paths"]) == 4
    speakers = {
        split: {Path(p).parent.name for p in index[f"speech_{split}"]["paths"]}
        for split in ("train", "val")
    }
    assert not speakers["train"] & speakers["val"]  # held out by speaker
    assert index["noise_train"]["paths"] and index["noise_val"]["paths"]
    clips = ClipSet(corpus / "prepared", "speech_train")
    assert 0.5 * 48_000 < len(clips.clip(0)) <= 48_000  # trimmed, now at 48 kHz


def test_mixer_is_seeded_and_hits_the_snr(corpus: Path) -> None:
    prepared = corpus / "prepared"
    mixer = Mixer(ClipSet(prepared, "speech_train"), ClipSet(prepared, "noise_train"))
    a = mixer.batch(np.random.default_rng(3), 2, 48_000)
    b = mixer.batch(np.random.default_rng(3), 2, 48_000)
    np.testing.assert_array_equal(a[0], b[0])
    noisy, clean = mixer.draw(np.random.default_rng(4), 48_000, snr_db=100.0)
    assert noisy.shape == clean.shape == (48_000,) and noisy.dtype == np.float32
    assert np.abs(noisy).max() <= 1.0
    assert si_sdr_db(noisy, clean) > 5  # almost no noise (reverb/clipping may still differ)


@pytest.mark.parametrize("option", ["p_digital_silence", "p_noise_onset"])
def test_extra_mixing_is_opt_in(corpus: Path, option: str) -> None:
    prepared = corpus / "prepared"
    sets = ClipSet(prepared, "speech_train"), ClipSet(prepared, "noise_train")
    plain = Mixer(*sets).draw(np.random.default_rng(5), 48_000)
    never = Mixer(*sets, **{option: 0.0}).draw(np.random.default_rng(5), 48_000)
    np.testing.assert_array_equal(plain[0], never[0])  # the validation stream is unchanged


def test_digital_silence_zeroes_both_sides_often_from_the_start(corpus: Path) -> None:
    prepared = corpus / "prepared"
    mixer = Mixer(
        ClipSet(prepared, "speech_train"), ClipSet(prepared, "noise_train"), p_digital_silence=1.0
    )
    starts = 0
    for seed in range(8):
        noisy, clean = mixer.draw(np.random.default_rng(seed), 48_000)
        silent = (noisy == 0) & (clean == 0)
        runs = np.diff(np.flatnonzero(np.diff(np.concatenate([[0], silent, [0]]))))[::2]
        assert runs.max() >= 0.01 * 48_000
        starts += bool(silent[: int(0.01 * 48_000)].all())
    assert 0 < starts < 8  # some mixtures start silent, not all


def test_noise_onset_envelope_starts_the_noise_late() -> None:
    envelope = noise_onset_envelope(np.random.default_rng(7), 48_000, onset_s=0.5)
    assert envelope[:24_000].max() <= 10 ** (-10 / 20) + 1e-6  # 10 dB down or more
    assert envelope[-1] == 1.0 and np.all(np.diff(envelope) >= 0)
    assert envelope[24_000 + int(0.3 * 48_000)] == 1.0  # risen within 300 ms


def test_synth_noise_kinds_are_finite() -> None:
    rng = np.random.default_rng(0)
    for _ in range(12):
        noise = synth_noise(rng, 9_600)
        assert noise.shape == (9_600,) and np.isfinite(noise).all()


def test_train_writes_weights_log_and_resumes(corpus: Path, tmp_path: Path) -> None:
    tiny = DenoiserConfig(n_bands=16, hidden=16, n_layers=1, df_bins=16, df_order=2)
    kwargs = {
        "work_dir": tmp_path / "work",
        "batch": 2,
        "segment_s": 0.5,
        "validation_count": 5,
        "config": tiny,
        "keep_snapshots": True,
    }
    out = tmp_path / "model"
    scores = train(0.05, corpus, out, seed=1, resume=False, **kwargs)
    assert {"pesq_wb", "stoi", "si_sdr_db", "per_snr", "noise_onset"} <= scores.keys()
    assert (out / "model.safetensors").exists() and (out / "config.json").exists()
    first = torch.load(tmp_path / "work" / "checkpoint.pt", weights_only=False)["step"]
    train(0.02, corpus, out, seed=1, resume=True, **kwargs)
    second = torch.load(tmp_path / "work" / "checkpoint.pt", weights_only=False)["step"]
    assert second > first
    snapshots = sorted((tmp_path / "work" / "snapshots").iterdir())
    assert [s.name for s in snapshots][-2:] == [f"step{first:07d}", f"step{second:07d}"]
    assert (snapshots[-1] / "model.safetensors").exists()
    log = [json.loads(line) for line in (tmp_path / "work" / "log.jsonl").read_text().splitlines()]
    assert "noisy_input" in log[0] and "validation" in log[-1]


def test_warm_start_of_a_lookahead_variant(corpus: Path, tmp_path: Path) -> None:
    causal = DenoiserConfig(n_bands=16, hidden=16, n_layers=1, df_bins=16, df_order=2)
    ahead = DenoiserConfig(**{**causal.__dict__, "lookahead": 2, "df_lookahead": 1})
    kwargs = {"batch": 2, "segment_s": 0.5, "validation_count": 5}
    train(
        0.02,
        corpus,
        tmp_path / "causal",
        resume=False,
        work_dir=tmp_path / "w1",
        config=causal,
        **kwargs,
    )
    train(
        0.02,
        corpus,
        tmp_path / "ahead",
        resume=False,
        work_dir=tmp_path / "w2",
        config=ahead,
        init_from=tmp_path / "causal",
        **kwargs,
    )
    log = [json.loads(line) for line in (tmp_path / "w2" / "log.jsonl").read_text().splitlines()]
    assert log[1]["init_from"] == str(tmp_path / "causal") and "validation" in log[1]
    saved = json.loads((tmp_path / "ahead" / "config.json").read_text())
    assert saved["lookahead"] == 2 and saved["df_lookahead"] == 1
    assert torch.load(tmp_path / "w2" / "checkpoint.pt", weights_only=False)["config"] == (
        ahead.__dict__
    )
