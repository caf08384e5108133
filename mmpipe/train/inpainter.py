"""Training recipe of the border inpainter: ``mmpipe train inpainter --minutes N``.

A conditional diffusion model (``mmpipe.nets.inpainter``): each step draws ``batch`` fresh
strips (``mmpipe.train.inpainter_data``, seeded by ``[seed, step, i]``, so a resumed run
sees the batches an uninterrupted one would; a share ``p_smooth`` of them blurred), noises
each true strip to a diffusion time ``t`` on the cosine schedule (half of them at ``t =
999``, where sampling starts, the rest uniform), and fits the network's ``x_0`` prediction
to the true strip by mean squared error on the hidden pixels. Learning rate: linear
warm-up, then a cosine over the total training time down to 5 %.

Every ``validate_every_s`` the model samples the fixed held-out strips with the runtime's
sampler (``mmpipe.runtime.inpainter``, DDIM with 1 and 4 steps) and is scored on the hidden
pixels beside the classical fills on the same strips (nearest known pixel, i.e. edge
replication, and OpenCV's Telea, logged once); when the 1-step PSNR improves,
``config.json`` + ``model.safetensors`` + ``validation.json`` go to ``out_dir``.

Usage::

    python -m mmpipe.train.inpainter --minutes 60 --threads 1 --seed 0 \\
        --work ~/.cache/mmpipe/train/inpainter --out models/inpainter
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from pathlib import Path

import cv2
import numpy as np

from mmpipe.runtime.inpainter import (
    TRAIN_TIMESTEPS,
    alphas_cumprod,
    load_inpainter,
    network_feeds,
)
from mmpipe.train.inpainter_data import DEFAULT_DATA_DIR, Strip, sampler, validation_strips
from mmpipe.train.runs import Training, add_run_options, import_torch, run_options

logger = logging.getLogger(__name__)

DEFAULT_WORK_DIR = Path.home() / ".cache" / "mmpipe" / "train" / "inpainter"
SCORED_STEPS = (1, 4)


def hole_scores(filled: list[np.ndarray], strips: list[Strip]) -> dict[str, float]:
    """PSNR (dB, over every hidden pixel and channel) and SSIM (luma, mean over hidden
    pixels) of ``filled`` strips against the truth."""
    from skimage.metrics import structural_similarity

    squared, count, ssims = 0.0, 0, []
    for image, strip in zip(filled, strips, strict=True):
        hidden = ~strip.known
        error = image[hidden].astype(np.float64) - strip.picture[hidden].astype(np.float64)
        squared += float(np.sum(error**2))
        count += error.size
        _, ssim_map = structural_similarity(
            image[..., 0], strip.picture[..., 0], data_range=255, gaussian_weights=True,
            sigma=1.5, full=True,
        )  # fmt: skip
        ssims.append(float(ssim_map[hidden].mean()))
    return {
        "psnr_db": 10 * math.log10(255.0**2 / max(squared / max(count, 1), 1e-10)),
        "ssim": float(np.mean(ssims)),
    }


def classical_fills(strips: list[Strip]) -> dict[str, list[np.ndarray]]:
    """The classical baselines on ``strips``: nearest known pixel, and Telea (radius 3)."""
    from mmpipe.runtime.inpainter import nearest_fill

    return {
        "nearest": [nearest_fill(s.picture, s.known) for s in strips],
        "telea": [
            cv2.inpaint(s.picture, (~s.known).astype(np.uint8), 3, cv2.INPAINT_TELEA)
            for s in strips
        ],
    }


def batch_tensors(strips: list[Strip], rng: np.random.Generator, stride: int, base: str) -> dict:
    """Network inputs of a training batch: condition, noisy strip, timestep, target, weight."""
    torch = import_torch()
    conditions = np.concatenate([network_feeds(s.picture, s.known, stride, base) for s in strips])
    target = np.stack([s.picture.transpose(2, 0, 1) for s in strips]).astype(np.float32)
    target = target / 127.5 - 1.0
    hidden = np.stack([~s.known for s in strips]).astype(np.float32)[:, None]
    n = len(strips)
    t = np.where(rng.random(n) < 0.5, TRAIN_TIMESTEPS - 1, rng.integers(0, TRAIN_TIMESTEPS, n))
    alpha = alphas_cumprod()[t].astype(np.float32)[:, None, None, None]
    noise = rng.standard_normal(target.shape).astype(np.float32)
    noisy = np.sqrt(alpha) * target + np.sqrt(1 - alpha) * noise
    arrays = {
        "condition": conditions,
        "noisy": noisy.astype(np.float32),
        "timestep": t.astype(np.float32),
        "target": target,
        "hidden": hidden,
    }
    return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in arrays.items()}


def ssim_map(a, b):
    """Per-pixel SSIM of two ``[B, 1, H, W]`` tensors in ``[-1, 1]`` (Gaussian window 11,
    sigma 1.5, edges reflected), as ``hole_scores`` measures it on uint8 luma."""
    torch = import_torch()
    import torch.nn.functional as F

    x = torch.arange(11, dtype=a.dtype) - 5
    g = torch.exp(-(x**2) / (2 * 1.5**2))
    g = g / g.sum()
    window = (g[:, None] * g[None, :])[None, None]

    def blur(t):
        return F.conv2d(F.pad(t, (5, 5, 5, 5), mode="reflect"), window)

    a, b = (a + 1) / 2, (b + 1) / 2  # SSIM is not shift-invariant: measure on [0, 1]
    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    c1, c2 = 0.01**2, 0.03**2
    return ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / (
        (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
    )


def sample_strips(model, strips: list[Strip], steps: int) -> list[np.ndarray]:
    """The model's fills of ``strips`` through the runtime sampler (torch backend)."""
    inpainter = load_inpainter("torch", model=model, steps=steps)
    return [inpainter.inpaint(s.picture, s.known) for s in strips]


def train(
    minutes: float,
    data_dir: Path = DEFAULT_DATA_DIR,
    out_dir: Path = Path("models/inpainter"),
    seed: int = 0,
    resume: bool = True,
    *,
    work_dir: Path = DEFAULT_WORK_DIR,
    threads: int = 1,
    batch: int = 16,
    learning_rate: float = 1e-3,
    warmup_steps: int = 200,
    checkpoint_every_s: float = 240.0,
    validate_every_s: float = 400.0,
    validation_count: int = 96,
    config=None,
    init_from: Path | None = None,
    p_smooth: float = 0.15,
    ssim_weight: float = 0.03,
    max_steps: int | None = None,
) -> dict:
    """Train (or continue training) the inpainter for ``minutes`` of wall time.

    ``out_dir`` receives the best weights; ``work_dir`` the checkpoint and ``log.jsonl``.
    With ``resume`` an existing checkpoint is continued. ``config`` (an ``InpainterConfig``)
    selects the variant of a new run; ``init_from`` (a model folder) starts a new run from
    its weights, with the output layer zeroed, so that step 0 is the base fill exactly and
    the trunk keeps what it learnt (e.g. when changing ``base``). ``max_steps`` stops early
    (tests). Returns the last validation scores.
    """
    torch = import_torch()
    from mmpipe.nets.inpainter import (
        Inpainter,
        InpainterConfig,
        count_parameters,
        save_pretrained,
    )

    torch.set_num_threads(threads)
    cv2.setNumThreads(threads)
    torch.manual_seed(seed)
    source = sampler(data_dir, validation=False, p_smooth=p_smooth)
    val_strips = validation_strips(data_dir, count=validation_count)

    model = Inpainter(config or InpainterConfig())
    training = Training(
        work_dir, out_dir, save_pretrained, seed=seed, resume=resume, best_key="best_psnr"
    )
    if training.state is None and init_from is not None:
        from safetensors.torch import load_file

        model.load_state_dict(load_file(str(init_from / "model.safetensors")))
        torch.nn.init.zeros_(model.unet.conv_out.weight)
        torch.nn.init.zeros_(model.unet.conv_out.bias)
        logger.info("started from the weights of %s, output layer zeroed", init_from)
    model = training.start(model, learning_rate=learning_rate, minutes=minutes)
    stride = model.config.stride

    def train_step(step: int, progress: float) -> tuple:
        strips = [source.draw(np.random.default_rng([seed, step, i])) for i in range(batch)]
        inputs = batch_tensors(
            strips, np.random.default_rng([seed, step, batch]), stride, model.config.base
        )
        x0 = model(inputs["noisy"], inputs["condition"], inputs["timestep"])
        hidden = inputs["hidden"]
        count = hidden.sum().clamp(min=1)
        squared = ((x0 - inputs["target"]) ** 2 * hidden).sum() / (3 * count)
        structure = ((1 - ssim_map(x0[:, :1], inputs["target"][:, :1])) * hidden).sum() / count
        return squared + ssim_weight * structure, {
            "mse": float(squared.detach()),
            "one_minus_ssim": float(structure.detach()),
        }

    def validation_scores() -> tuple[dict, float]:
        scores = {
            f"steps_{n}": hole_scores(sample_strips(model, val_strips, n), val_strips)
            for n in SCORED_STEPS
        }
        logger.info(
            "step %d: %s",
            training.step,
            "  ".join(f"{k}: {v['psnr_db']:.2f} dB {v['ssim']:.4f}" for k, v in scores.items()),
        )
        return scores, scores["steps_1"]["psnr_db"]

    if training.step == 0:
        classical = {k: hole_scores(v, val_strips) for k, v in classical_fills(val_strips).items()}
        training.log(
            {
                "classical": classical,
                "parameters": count_parameters(model),
                "config": model.config.__dict__,
                "validation_count": validation_count,
            }
        )
        logger.info("classical: %s", json.dumps(classical))
    return training.run(
        train_step,
        validation_scores,
        warmup_steps=warmup_steps,
        validate_every_s=validate_every_s,
        checkpoint_every_s=checkpoint_every_s,
        max_steps=max_steps,
    )


def main(argv: list[str] | None = None) -> None:
    from mmpipe.nets.inpainter import InpainterConfig

    parser = argparse.ArgumentParser(description="Train the mmpipe border inpainter.")
    add_run_options(
        parser,
        data_dir=DEFAULT_DATA_DIR,
        out_dir=Path("models/inpainter"),
        work_dir=DEFAULT_WORK_DIR,
    )
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--base", choices=("telea", "nearest"), default="telea")
    parser.add_argument("--init-from", type=Path, help="a model folder to start a new run from")
    parser.add_argument(
        "--ssim-weight", type=float, default=0.03, help="weight of (1 - SSIM) of luma in the loss"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    train(
        args.minutes,
        **run_options(args),
        batch=args.batch,
        config=InpainterConfig(base=args.base),
        init_from=args.init_from,
        ssim_weight=args.ssim_weight,
    )


if __name__ == "__main__":
    main()
