"""Training data for the speech denoiser: acquisition, preparation and on-the-fly mixing.

Acquisition (``acquire``) fetches Debian packages that carry real recorded speech and noise
with ``apt-get download`` and unpacks only their media with ``dpkg-deb`` (nothing is
installed). Preparation (``prepare``) decodes every file with PyAV (G.722 included), makes it
mono 48 kHz, trims silence at both ends, and stores each split as one int16 array plus an
index of clip offsets under ``DATA/prepared``. A user folder of wav/flac/ogg files can stand
in for either kind (``--speech DIR`` / ``--noise DIR``).

Validation is held out by speaker and by noise source (see ``VALIDATION``), never by clip.

``Mixer`` draws training examples on the fly: clean speech made of several clips with pauses,
EQ, optional synthetic reverberation, plus real or synthesized noise (babble, hum, wind,
clicks, rumble, tones, coloured noise) at -5..20 dB SNR, random level, optional band limit and
clipping. Everything is drawn from a ``numpy.random.Generator``, so a seed fixes the stream.

Usage::

    python -m mmpipe.train.denoiser_data --data ~/.cache/mmpipe/data   # acquire + prepare
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import shutil
import subprocess
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from math import gcd
from pathlib import Path

import numpy as np
from scipy import signal

from mmpipe.errors import MmpipeError

logger = logging.getLogger(__name__)

SAMPLE_RATE_HZ = 48_000
DEFAULT_DATA_DIR = Path.home() / ".cache" / "mmpipe" / "data"
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".g722", ".mp3", ".m4a")


@dataclass(frozen=True)
class Source:
    """One Debian package and which of its files are speech or noise."""

    package: str
    kind: str  # "speech" or "noise"
    members: str  # tar wildcard of the media inside the package
    license: str


SOURCES: tuple[Source, ...] = (
    Source(
        "asterisk-core-sounds-en-g722",
        "speech",
        "./usr/share/asterisk/sounds/*.g722",
        "CC-BY-SA-3.0",
    ),
    Source(
        "asterisk-core-sounds-es-g722",
        "speech",
        "./usr/share/asterisk/sounds/*.g722",
        "CC-BY-SA-3.0",
    ),
    Source(
        "asterisk-core-sounds-fr-g722",
        "speech",
        "./usr/share/asterisk/sounds/*.g722",
        "CC-BY-SA-3.0",
    ),
    Source(
        "asterisk-core-sounds-it-g722",
        "speech",
        "./usr/share/asterisk/sounds/*.g722",
        "CC-BY-SA-3.0",
    ),
    Source("tuxpaint-stamps-default", "speech", "*_desc_*.ogg", "GPL-2"),
    Source("klettres-data", "speech", "./usr/share/klettres/*.ogg", "GPL-2+"),
    Source(
        "sonic-pi-samples",
        "noise",
        "./usr/share/sonic-pi/samples/*.flac",
        "CC0-1.0 (131 files) / MIT",
    ),
    Source(
        "megaglest-data", "noise", "./usr/share/games/megaglest/tilesets/*/sounds/*", "CC-BY-SA-3.0"
    ),
)

# Held out for validation: whole speakers / languages / noise sources (path substrings).
VALIDATION: dict[str, tuple[str, ...]] = {
    "speech": (
        "fr_CA_f_June/",  # one asterisk voice
        "_desc_el.ogg",
        "_desc_da.ogg",
        "_desc_lt.ogg",
        "_desc_nl.ogg",  # tuxpaint languages
        "klettres/he/",
        "klettres/nb/",
        "klettres/nl/",  # klettres languages
    ),
    "noise": ("tilesets/jungle/", "tilesets/winter/", "tilesets/hell/", "tilesets/meadow/"),
}


def _is_validation(kind: str, path: str) -> bool:
    if any(key in path for key in VALIDATION[kind]):
        return True
    # sonic-pi and user noise folders: a stable sixth of the files, by name
    digest = hashlib.md5(path.encode()).digest()
    return kind == "noise" and "sonic-pi" in path and digest[0] % 6 == 0


def _held_out(kind: str, root: Path) -> list[str]:
    """Validation files under ``root``: the rules of ``VALIDATION`` for the packaged sources;
    for a user folder, whole first-level subfolders (speakers), about one in five by name
    hash and at least one when there are two or more."""
    paths = [str(p) for p in list_media(root)]
    if (root / ".unpacked").exists():
        return [p for p in paths if _is_validation(kind, p)]
    groups: dict[str, list[str]] = {}
    for p in paths:
        groups.setdefault(Path(p).relative_to(root).parts[0], []).append(p)
    if len(groups) < 2:
        return []
    order = sorted(groups, key=lambda g: hashlib.md5(g.encode()).hexdigest())
    chosen = [g for g in order if int(hashlib.md5(g.encode()).hexdigest(), 16) % 5 == 0]
    return [p for g in chosen or order[:1] for p in groups[g]]


def acquire(data_dir: Path) -> Path:
    """Download and unpack every package of ``SOURCES`` into ``data_dir/raw``; return that.

    Packages already unpacked (marker file present) are skipped. Needs ``apt-get`` with up
    to date lists (``apt-get update``) and ``dpkg-deb``; about 500 MB of downloads.
    """
    raw = data_dir / "raw"
    debs = data_dir / "deb"
    debs.mkdir(parents=True, exist_ok=True)
    for source in SOURCES:
        dest = raw / source.package
        marker = dest / ".unpacked"
        if marker.exists():
            continue
        if not list(debs.glob(f"{source.package}_*.deb")):
            logger.info("downloading %s", source.package)
            try:
                subprocess.run(
                    ["apt-get", "download", source.package],
                    cwd=debs,
                    check=True,
                    capture_output=True,
                    text=True,
                )
            except (OSError, subprocess.CalledProcessError) as error:
                detail = getattr(error, "stderr", "") or str(error)
                raise MmpipeError(
                    f"cannot download {source.package} ({detail.strip()}): run "
                    "`apt-get update` first, or train on your own folders (--speech/--noise)"
                ) from error
        (deb,) = debs.glob(f"{source.package}_*.deb")
        dest.mkdir(parents=True, exist_ok=True)
        tar = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
        subprocess.run(
            ["tar", "-x", "-C", str(dest), "--wildcards", source.members],
            stdin=tar.stdout,
            check=True,
        )
        tar.wait()
        marker.write_text(source.license + "\n")
    return raw


def decode_mono(path: Path, sample_rate_hz: int = SAMPLE_RATE_HZ) -> np.ndarray:
    """Decode any audio file PyAV reads (G.722 too) to mono float32 at ``sample_rate_hz``."""
    import av

    fmt = "g722" if path.suffix == ".g722" else None
    with av.open(str(path), format=fmt) as container:
        stream = container.streams.audio[0]
        rate = stream.codec_context.sample_rate or stream.rate
        chunks = []
        for frame in container.decode(stream):
            data = frame.to_ndarray()
            if data.dtype == np.int16:
                data = data.astype(np.float32) / 32768.0
            elif data.dtype == np.int32:
                data = data.astype(np.float32) / 2**31
            data = data.astype(np.float32)
            if frame.format.is_planar:
                chunks.append(data.mean(axis=0))
            else:
                chunks.append(data.reshape(-1, len(frame.layout.channels)).mean(axis=1))
    audio = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    return resample(audio, rate, sample_rate_hz)


def resample(audio: np.ndarray, rate_in_hz: int, rate_out_hz: int) -> np.ndarray:
    """Polyphase resampling of a 1-D signal (float32 out)."""
    if rate_in_hz == rate_out_hz:
        return audio.astype(np.float32)
    g = gcd(rate_in_hz, rate_out_hz)
    return signal.resample_poly(audio, rate_out_hz // g, rate_in_hz // g).astype(np.float32)


def _trim(audio: np.ndarray, threshold_db: float = -45.0, margin: int = 2400) -> np.ndarray:
    """Cut leading/trailing parts quieter than ``threshold_db`` below the peak (10 ms frames)."""
    if audio.size < 960:
        return audio
    frames = audio[: audio.size // 480 * 480].reshape(-1, 480)
    level = 10 * np.log10((frames**2).mean(axis=1) + 1e-12)
    loud = np.flatnonzero(level > level.max() + threshold_db)
    start = max(loud[0] * 480 - margin, 0)
    stop = min((loud[-1] + 1) * 480 + margin, audio.size)
    return audio[start:stop]


def _load_clip(args: tuple[str, str]) -> tuple[str, np.ndarray | None]:
    path, kind = args
    try:
        audio = decode_mono(Path(path))
    except Exception as error:  # a corrupt file in a package must not stop preparation
        logger.warning("skipping %s: %s", path, error)
        return path, None
    if kind == "speech":
        audio = _trim(audio)
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    if audio.size < SAMPLE_RATE_HZ // 5 or peak < 1e-4:
        return path, None
    return path, (audio / peak * 0.9 * 32767).astype(np.int16)


def list_media(root: Path) -> list[Path]:
    """Every audio file under ``root``, sorted (deterministic order)."""
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)


def prepare(
    data_dir: Path,
    speech_dirs: list[Path] | None = None,
    noise_dirs: list[Path] | None = None,
    workers: int = 2,
) -> Path:
    """Decode, resample and pack the corpus into ``data_dir/prepared``; return that folder.

    Without explicit folders, speech and noise come from ``acquire``'s packages. Writes
    ``{speech,noise}_{train,val}.npy`` (int16 at 48 kHz, clips back to back) and
    ``index.json`` (per split: clip offsets, lengths and source paths).
    """
    out = data_dir / "prepared"
    if (out / "index.json").exists():
        return out
    raw = data_dir / "raw"
    if speech_dirs is None:
        speech_dirs = [raw / s.package for s in SOURCES if s.kind == "speech"]
    if noise_dirs is None:
        noise_dirs = [raw / s.package for s in SOURCES if s.kind == "noise"]
    jobs = [
        (str(p), kind)
        for kind, dirs in (("speech", speech_dirs), ("noise", noise_dirs))
        for d in dirs
        for p in list_media(d)
    ]
    held_out = {
        p
        for kind, dirs in (("speech", speech_dirs), ("noise", noise_dirs))
        for d in dirs
        for p in _held_out(kind, d)
    }
    if not jobs:
        raise FileNotFoundError(f"no audio files found under {speech_dirs + noise_dirs}")
    tmp = out.with_suffix(".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    parts: dict[str, list[tuple[str, np.ndarray]]] = {
        f"{k}_{s}": [] for k in ("speech", "noise") for s in ("train", "val")
    }
    with ProcessPoolExecutor(workers) as pool:
        for (path, kind), (_, clip) in zip(
            jobs, pool.map(_load_clip, jobs, chunksize=16), strict=True
        ):
            if clip is not None:
                split = "val" if path in held_out else "train"
                parts[f"{kind}_{split}"].append((path, clip))
    index = {}
    for name, clips in parts.items():
        lengths = [len(c) for _, c in clips]
        offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(int).tolist()
        audio = np.concatenate([c for _, c in clips] or [np.zeros(0, np.int16)])
        np.save(tmp / f"{name}.npy", audio)
        index[name] = {
            "offsets": offsets,
            "lengths": lengths,
            "paths": [p for p, _ in clips],
            "minutes": sum(lengths) / SAMPLE_RATE_HZ / 60,
        }
        logger.info("%s: %d clips, %.1f min", name, len(clips), index[name]["minutes"])
    (tmp / "index.json").write_text(json.dumps(index))
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out


class ClipSet:
    """A split of prepared clips, memory-mapped: ``clip(i)`` is float32 in [-1, 1]."""

    def __init__(self, prepared: Path, name: str) -> None:
        index = json.loads((prepared / "index.json").read_text())[name]
        self.data = np.load(prepared / f"{name}.npy", mmap_mode="r")
        self.offsets = np.asarray(index["offsets"], dtype=np.int64)
        self.lengths = np.asarray(index["lengths"], dtype=np.int64)
        self.paths: list[str] = index["paths"]

    def __len__(self) -> int:
        return len(self.offsets)

    def clip(self, i: int) -> np.ndarray:
        start = self.offsets[i]
        return np.asarray(self.data[start : start + self.lengths[i]], dtype=np.float32) / 32768.0


# --------------------------------------------------------------------------- synthesis


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x.astype(np.float64) ** 2) + 1e-12))


def _coloured_noise(rng: np.random.Generator, n: int, slope_db_per_oct: float) -> np.ndarray:
    spec = np.fft.rfft(rng.standard_normal(n))
    freqs = np.maximum(np.fft.rfftfreq(n, 1 / SAMPLE_RATE_HZ), 20.0)
    spec *= (freqs / 1000.0) ** (slope_db_per_oct / 6.02)
    return np.fft.irfft(spec, n).astype(np.float32)


def _slow_envelope(rng: np.random.Generator, n: int, rate_hz: float, depth: float) -> np.ndarray:
    points = max(int(n / SAMPLE_RATE_HZ * rate_hz) + 2, 2)
    knots = 1.0 + depth * rng.uniform(-1, 1, points)
    return np.interp(np.linspace(0, points - 1, n), np.arange(points), knots).clip(0.02)


def synth_noise(rng: np.random.Generator, n: int, speech: ClipSet | None = None) -> np.ndarray:
    """One of several synthesized noises, ``n`` samples at 48 kHz, float32, arbitrary level."""
    kind = rng.choice(["babble", "hum", "wind", "clicks", "rumble", "tones", "coloured"])
    t = np.arange(n) / SAMPLE_RATE_HZ
    if kind == "babble" and speech is not None and len(speech):
        out = np.zeros(n, np.float32)
        for _ in range(rng.integers(3, 8)):
            talker = _speech_run(rng, speech, n, pause_s=(0.0, 0.2))
            out += talker / _rms(talker) * rng.uniform(0.5, 1.0)
        return out
    if kind == "hum":
        f0 = rng.choice([50.0, 60.0]) * rng.uniform(0.98, 1.02)
        amps = rng.uniform(0, 1, 12) * np.exp(-np.arange(12) * rng.uniform(0.1, 0.6))
        out = sum(
            a * np.sin(2 * np.pi * f0 * (k + 1) * t + rng.uniform(0, 6.3))
            for k, a in enumerate(amps)
        )
        return (out + 0.02 * _coloured_noise(rng, n, 0.0)).astype(np.float32)
    if kind == "wind":
        base = _coloured_noise(rng, n, -12.0)
        b, a = signal.butter(2, rng.uniform(150, 800), fs=SAMPLE_RATE_HZ)
        out = signal.lfilter(b, a, base) * _slow_envelope(rng, n, rng.uniform(0.5, 3), 0.95) ** 2
        return out.astype(np.float32)
    if kind == "clicks":
        out = 0.05 * _coloured_noise(rng, n, -3.0)
        for pos in rng.integers(0, n, rng.integers(5, 60)):
            length = int(rng.integers(20, 400))
            burst = rng.standard_normal(length) * np.exp(-np.arange(length) / (length / 5))
            out[pos : pos + length] += burst[: n - pos] * rng.uniform(0.5, 3)
        return out.astype(np.float32)
    if kind == "rumble":
        base = _coloured_noise(rng, n, -6.0)
        b, a = signal.butter(3, rng.uniform(200, 1500), fs=SAMPLE_RATE_HZ)
        env = _slow_envelope(rng, n, rng.uniform(0.1, 1.0), 0.8)
        return (signal.lfilter(b, a, base) * env).astype(np.float32)
    if kind == "tones":  # music-like: notes with harmonics and decays
        out = np.zeros(n, np.float32)
        beat = int(SAMPLE_RATE_HZ * rng.uniform(0.15, 0.6))
        for start in range(0, n, beat):
            f0 = 110.0 * 2 ** (rng.integers(0, 36) / 12)
            length = min(int(beat * rng.uniform(1, 3)), n - start)
            tt = np.arange(length) / SAMPLE_RATE_HZ
            note = sum(
                np.sin(2 * np.pi * f0 * h * tt) / h ** rng.uniform(0.7, 2)
                for h in range(1, 8)
                if f0 * h < 20_000
            )
            out[start : start + length] += note * np.exp(-tt * rng.uniform(2, 10))
        return out
    return _coloured_noise(rng, n, rng.uniform(-6, 3))


def synth_rir(rng: np.random.Generator, rt60_s: float) -> np.ndarray:
    """A synthetic room impulse response: direct path + exponentially decaying noise tail."""
    n = int(rt60_s * SAMPLE_RATE_HZ)
    t = np.arange(n) / SAMPLE_RATE_HZ
    tail = rng.standard_normal(n) * np.exp(-6.9 * t / rt60_s)
    b, a = signal.butter(1, rng.uniform(3000, 12000), fs=SAMPLE_RATE_HZ)
    tail = signal.lfilter(b, a, tail)
    onset = int(rng.uniform(0.001, 0.01) * SAMPLE_RATE_HZ)
    tail[:onset] = 0
    rir = tail / np.sqrt(np.sum(tail**2)) * rng.uniform(0.3, 1.5)
    rir[0] = 1.0
    return rir.astype(np.float32)


def _random_eq(rng: np.random.Generator, x: np.ndarray) -> np.ndarray:
    """Up to three random peaking filters (+-8 dB) and a gentle tilt."""
    for _ in range(rng.integers(0, 4)):
        f_hz = 10 ** rng.uniform(np.log10(80), np.log10(12000))
        gain = 10 ** (rng.uniform(-8, 8) / 40)
        w0 = 2 * np.pi * f_hz / SAMPLE_RATE_HZ
        alpha = np.sin(w0) / (2 * rng.uniform(0.5, 2.0))
        b = [1 + alpha * gain, -2 * np.cos(w0), 1 - alpha * gain]
        a = [1 + alpha / gain, -2 * np.cos(w0), 1 - alpha / gain]
        x = signal.lfilter(b, a, x)
    return x.astype(np.float32)


def _speech_run(
    rng: np.random.Generator, speech: ClipSet, n: int, pause_s: tuple[float, float] = (0.05, 0.5)
) -> np.ndarray:
    """``n`` samples of speech: random clips back to back with random pauses."""
    out = np.zeros(n, np.float32)
    pos = int(rng.uniform(0, 0.3) * SAMPLE_RATE_HZ)
    while pos < n:
        clip = speech.clip(int(rng.integers(len(speech))))
        clip = clip * 10 ** (rng.uniform(-6, 0) / 20)
        length = min(len(clip), n - pos)
        out[pos : pos + length] = clip[:length]
        pos += length + int(rng.uniform(*pause_s) * SAMPLE_RATE_HZ)
    return out


def _noise_run(rng: np.random.Generator, noise: ClipSet, n: int) -> np.ndarray:
    clip = noise.clip(int(rng.integers(len(noise))))
    if len(clip) < n:
        clip = np.tile(clip, n // len(clip) + 1)
    start = int(rng.integers(0, len(clip) - n + 1))
    return clip[start : start + n].copy()


def noise_onset_envelope(
    rng: np.random.Generator, n: int, onset_s: float | None = None
) -> np.ndarray:
    """Gain ``[n]`` of a noise that starts mid-stream: a floor 10-40 dB down (or 0) before
    the onset (at ``onset_s``, default random in the first 70 %), then a 10-300 ms rise
    to 1."""
    floor = 0.0 if rng.random() < 0.3 else 10 ** (-rng.uniform(10, 40) / 20)
    start = int(onset_s * SAMPLE_RATE_HZ) if onset_s is not None else int(rng.uniform(0, 0.7) * n)
    rise = max(1, int(rng.uniform(0.01, 0.3) * SAMPLE_RATE_HZ))
    ramp = np.clip((np.arange(n) - start) / rise, 0.0, 1.0)
    return (floor + (1.0 - floor) * ramp).astype(np.float32)


class Mixer:
    """Draws (noisy, clean) training pairs, float32 ``[n]`` at 48 kHz, from clip sets.

    The clean target keeps the direct path and the first 50 ms of any reverberation (so the
    model also shortens long tails), the same band limit as the mixture, and no clipping.
    With probability ``p_digital_silence`` a span of 0.01-1 s of both is set to exact zeros,
    at the start of the mixture in half the cases (the start of a stream or file, muted
    microphones, edits: a model whose state latched onto a silent start stayed worse for
    seconds after it). With probability ``p_noise_onset`` the noise follows
    :func:`noise_onset_envelope` (a car passing, wind getting up, a machine switched on:
    noise the model has to pick up mid-stream, not from the first frame). 0 (the default)
    draws nothing extra for either, so the fixed validation set does not depend on them.
    """

    def __init__(
        self,
        speech: ClipSet,
        noise: ClipSet,
        snr_db: tuple[float, float] = (-5, 20),
        p_synth_noise: float = 0.4,
        p_digital_silence: float = 0.0,
        p_noise_onset: float = 0.0,
    ) -> None:
        self.speech = speech
        self.noise = noise
        self.snr_db = snr_db
        self.p_synth_noise = p_synth_noise
        self.p_digital_silence = p_digital_silence
        self.p_noise_onset = p_noise_onset

    def draw(
        self, rng: np.random.Generator, n: int, snr_db: float | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """One pair ``(noisy, clean)``, each float32 ``[n]``."""
        clean = _random_eq(rng, _speech_run(rng, self.speech, n))
        if rng.random() < 0.3:
            rir = synth_rir(rng, rng.uniform(0.15, 0.9))
            early = rir[: int(0.05 * SAMPLE_RATE_HZ)]
            wet = signal.fftconvolve(clean, rir)[:n].astype(np.float32)
            clean = signal.fftconvolve(clean, early)[:n].astype(np.float32)
        else:
            wet = clean
        noise = np.zeros(n, np.float32)
        for _ in range(1 + int(rng.random() < 0.3)):
            if rng.random() < self.p_synth_noise or not len(self.noise):
                part = synth_noise(rng, n, self.speech)
            else:
                part = _random_eq(rng, _noise_run(rng, self.noise, n))
            noise += part / _rms(part) * rng.uniform(0.3, 1.0)
        snr = rng.uniform(*self.snr_db) if snr_db is None else snr_db
        noise *= _rms(clean) / _rms(noise) * 10 ** (-snr / 20)
        if self.p_noise_onset and rng.random() < self.p_noise_onset:
            noise *= noise_onset_envelope(rng, n)
        noisy = wet + noise
        if rng.random() < 0.2:  # band-limited recording: both sides lose the top
            b, a = signal.butter(
                6, rng.choice([4000, 8000, 11025, 16000]) * 0.95, fs=SAMPLE_RATE_HZ
            )
            noisy = signal.lfilter(b, a, noisy).astype(np.float32)
            clean = signal.lfilter(b, a, clean).astype(np.float32)
        gain = 10 ** (rng.uniform(-40, -8) / 20) / _rms(noisy)
        noisy, clean = noisy * gain, clean * gain
        if rng.random() < 0.1:
            limit = float(np.abs(noisy).max()) * rng.uniform(0.3, 0.8)
            noisy = np.clip(noisy, -limit, limit)
        peak = max(float(np.abs(noisy).max()), float(np.abs(clean).max()))
        if peak > 0.99:
            noisy, clean = noisy * 0.99 / peak, clean * 0.99 / peak
        if self.p_digital_silence and rng.random() < self.p_digital_silence:
            length = min(n, int(rng.uniform(0.01, 1.0) * SAMPLE_RATE_HZ))
            start = 0 if rng.random() < 0.5 else int(rng.integers(0, n - length + 1))
            noisy[start : start + length] = 0
            clean[start : start + length] = 0
        return noisy.astype(np.float32), clean.astype(np.float32)

    def batch(self, rng: np.random.Generator, batch: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``(noisy, clean)``, each float32 ``[batch, n]``."""
        pairs = [self.draw(rng, n) for _ in range(batch)]
        return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])


VALIDATION_SNRS_DB = (-5.0, 0.0, 5.0, 10.0, 15.0)


def validation_set(
    prepared: Path,
    count: int = 40,
    seconds: float = 4.0,
    seed: int = 1234,
    *,
    noise_onset: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The fixed validation mixtures ``(noisy [count, n], clean [count, n], snr_db [count])``.

    Held-out speakers and noises only; ``noise_onset``: every noise starts mid-mixture
    (``Mixer.p_noise_onset = 1``). Cached in ``prepared/validation_seed{seed}_{count}.npz``
    (``..._onset.npz``).
    """
    path = prepared / f"validation_seed{seed}_{count}{'_onset' if noise_onset else ''}.npz"
    if path.exists():
        data = np.load(path)
        return data["noisy"], data["clean"], data["snr_db"]
    mixer = Mixer(
        ClipSet(prepared, "speech_val"),
        ClipSet(prepared, "noise_val"),
        p_noise_onset=1.0 if noise_onset else 0.0,
    )
    rng = np.random.default_rng(seed)
    n = int(seconds * SAMPLE_RATE_HZ)
    snrs = np.array([VALIDATION_SNRS_DB[i % len(VALIDATION_SNRS_DB)] for i in range(count)])
    pairs = [mixer.draw(rng, n, snr_db=float(s)) for s in snrs]
    noisy = np.stack([p[0] for p in pairs])
    clean = np.stack([p[1] for p in pairs])
    np.savez(path, noisy=noisy, clean=clean, snr_db=snrs)
    return noisy, clean, snrs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--speech", type=Path, nargs="*", help="own speech folders")
    parser.add_argument("--noise", type=Path, nargs="*", help="own noise folders")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.speech is None or args.noise is None:
        acquire(args.data)
    prepared = prepare(args.data, args.speech, args.noise, workers=args.workers)
    validation_set(prepared)


if __name__ == "__main__":
    main()
