"""The border inpainter as a runner: ``inpaint(picture, known) -> picture``.

``picture`` is a uint8 YUV strip ``[H, W, 3]`` at half the luma resolution (BT.601, full
range; what :func:`yuv_half` makes of a frame's region), ``known`` a boolean ``[H, W]``
mask of the pixels to keep. The network (``mmpipe.nets.inpainter``) predicts the clean
strip from the diffusion state and the condition; this module runs the sampler around it:
DDIM (``eta = 0``, "trailing" timesteps, so one step starts at ``t = 999``) on the cosine
noise schedule the network was trained with, from a noise field seeded by the strip's
size, so that the same strip of consecutive frames starts from the same noise. Known
pixels are copied back unchanged.

Backends: onnxruntime on ``export/inpainter.onnx`` (default) or torch on
``models/inpainter`` (development; needs torch).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from mmpipe.assets import exported_model, model_dir
from mmpipe.errors import ConfigError
from mmpipe.runtime.onnx import OnnxRunner
from mmpipe.runtime.torch_backend import import_torch, trained_model

CONTRACT_VERSION = "1"
INPUT_NAMES = ("noisy", "condition", "timestep")
TRAIN_TIMESTEPS = 1000
DEFAULT_STEPS = 1

Predictor = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def alphas_cumprod(steps: int = TRAIN_TIMESTEPS) -> np.ndarray:
    """The cosine schedule's cumulative alphas (diffusers' ``squaredcos_cap_v2``)."""

    def alpha_bar(t: float) -> float:
        return math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2

    betas = [
        min(1 - alpha_bar((i + 1) / steps) / alpha_bar(i / steps), 0.999) for i in range(steps)
    ]
    return np.cumprod(1.0 - np.array(betas, np.float64))


def ddim_timesteps(steps: int, train_steps: int = TRAIN_TIMESTEPS) -> np.ndarray:
    """``steps`` timesteps, "trailing" spacing: ``999, ...`` down to ``train_steps / steps - 1``."""
    if steps < 1:
        raise ConfigError(f"the inpainter needs at least one sampling step, got {steps}")
    return np.round(np.arange(train_steps, 0, -train_steps / steps)).astype(np.int64) - 1


def ddim_sample(
    predict_x0: Predictor, condition: np.ndarray, noise: np.ndarray, steps: int
) -> np.ndarray:
    """DDIM (``eta = 0``) from ``noise`` with a network that predicts ``x_0``; returns ``x_0``."""
    alphas = alphas_cumprod()
    timesteps = ddim_timesteps(steps)
    sample = noise.astype(np.float32)
    x0 = sample
    for k, t in enumerate(timesteps):
        x0 = np.clip(predict_x0(sample, condition, np.full(len(sample), t, np.float32)), -1, 1)
        if k + 1 == len(timesteps):
            break
        a_t, a_prev = alphas[t], alphas[timesteps[k + 1]]
        eps = (sample - math.sqrt(a_t) * x0) / math.sqrt(1 - a_t)
        sample = (math.sqrt(a_prev) * x0 + math.sqrt(1 - a_prev) * eps).astype(np.float32)
    return x0


def nearest_fill(picture: np.ndarray, known: np.ndarray) -> np.ndarray:
    """``picture`` with every unknown pixel replaced by its nearest known pixel (L2)."""
    if known.all() or not known.any():
        return picture.copy()
    _, labels = cv2.distanceTransformWithLabels(
        (~known).astype(np.uint8), cv2.DIST_L2, 3, labelType=cv2.DIST_LABEL_PIXEL
    )
    rows, cols = np.nonzero(known)
    position = np.zeros(labels.max() + 1, np.int64)
    position[labels[rows, cols]] = np.arange(len(rows))
    return picture[rows, cols][position[labels]]


BASES = ("telea", "nearest")


def base_fill(picture: np.ndarray, known: np.ndarray, base: str) -> np.ndarray:
    """The classical fill the network corrects: ``telea`` (OpenCV, radius 3) or ``nearest``."""
    if base == "nearest":
        return nearest_fill(picture, known)
    if base == "telea":
        return cv2.inpaint(picture, (~known).astype(np.uint8), 3, cv2.INPAINT_TELEA)
    raise ConfigError(f"unknown inpainter base fill {base!r}; use one of {BASES}")


def network_feeds(picture: np.ndarray, known: np.ndarray, stride: int, base: str) -> np.ndarray:
    """The condition ``[1, 4, H', W']`` of one strip, padded to ``stride`` by edge replication."""
    _check(picture, known)
    h, w = known.shape
    filled = base_fill(picture, known.astype(bool), base).astype(np.float32) / 127.5 - 1.0
    condition = np.concatenate([filled, known[..., None].astype(np.float32)], axis=2)
    condition = np.pad(condition, ((0, -h % stride), (0, -w % stride), (0, 0)), mode="edge")
    return np.ascontiguousarray(condition.transpose(2, 0, 1)[None], np.float32)


def _check(picture: np.ndarray, known: np.ndarray) -> None:
    if picture.ndim != 3 or picture.shape[2] != 3 or picture.dtype != np.uint8:
        raise ConfigError(
            f"the inpainter needs a uint8 [H, W, 3] picture, got {picture.dtype} {picture.shape}"
        )
    if known.shape != picture.shape[:2]:
        raise ConfigError("the known mask must have the picture's height and width")


def strip_noise(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """The starting noise of a strip: the same for every strip of this shape."""
    return np.random.default_rng([seed, *shape]).standard_normal(shape).astype(np.float32)


class Inpainter:
    """Generates the unknown pixels of YUV strips with a network ``predict_x0``."""

    def __init__(
        self, predict_x0: Predictor, stride: int, base: str, steps: int = DEFAULT_STEPS
    ) -> None:
        ddim_timesteps(steps)  # validates
        if base not in BASES:
            raise ConfigError(f"unknown inpainter base fill {base!r}; use one of {BASES}")
        self.predict_x0, self.stride, self.base, self.steps = predict_x0, stride, base, steps

    def inpaint(self, picture: np.ndarray, known: np.ndarray) -> np.ndarray:
        """``picture`` with its unknown pixels generated (see the module docstring)."""
        _check(picture, known)
        known = known.astype(bool)
        if known.all():
            return picture.copy()
        if not known.any():
            raise ConfigError("the inpainter needs some known pixels to continue")
        condition = network_feeds(picture, known, self.stride, self.base)
        noise = strip_noise((1, 3, *condition.shape[2:]))
        x0 = ddim_sample(self.predict_x0, condition, noise, self.steps)
        h, w = known.shape
        out = np.rint((x0[0, :, :h, :w].transpose(1, 2, 0) + 1.0) * 127.5)
        out = np.clip(out, 0, 255).astype(np.uint8)
        out[known] = picture[known]
        return out


def load_inpainter(
    backend: str = "onnx",
    path: Path | None = None,
    *,
    steps: int = DEFAULT_STEPS,
    threads: int = 1,
    model=None,
) -> Inpainter:
    """The inpainter on ``backend`` ("onnx": ``export/inpainter.onnx``; "torch":
    ``models/inpainter`` or an in-memory ``model``); ``path`` overrides the shipped file."""
    if backend == "onnx":
        runner = OnnxRunner(
            path or exported_model("inpainter"),
            threads=threads,
            expect={"model": "inpainter", "contract_version": CONTRACT_VERSION},
        )

        def predict(noisy: np.ndarray, condition: np.ndarray, t: np.ndarray) -> np.ndarray:
            feeds = {"noisy": noisy, "condition": condition, "timestep": t}
            return runner.run(feeds)["x0"]

        metadata = runner.metadata
        return Inpainter(predict, int(metadata["stride"]), metadata["base"], steps)
    if backend != "torch":
        raise ConfigError(f"unknown backend {backend!r}: use 'onnx' or 'torch'")
    torch = import_torch(threads)
    from mmpipe.nets.inpainter import from_pretrained

    net = model or trained_model("inpainter", path or model_dir("inpainter"), from_pretrained)

    def predict_torch(noisy: np.ndarray, condition: np.ndarray, t: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            x0 = net(torch.from_numpy(noisy), torch.from_numpy(condition), torch.from_numpy(t))
        return x0.numpy()

    return Inpainter(predict_torch, net.config.stride, net.config.base, steps)


def yuv_half(region: np.ndarray | tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
    """A region at half luma resolution as ``[H/2, W/2, 3]`` YUV: from RGB ``[H, W, 3]``
    (BT.601 full range) or from 4:2:0 planes ``(Y [H, W], U, V [H/2, W/2])``."""
    if isinstance(region, tuple):
        y, u, v = region
        small = cv2.resize(y, (u.shape[1], u.shape[0]), interpolation=cv2.INTER_AREA)
        return np.dstack([small, u, v])
    h, w = region.shape[:2]
    yuv = cv2.cvtColor(region, cv2.COLOR_RGB2YUV)
    return cv2.resize(yuv, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
