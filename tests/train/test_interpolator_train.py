"""The interpolator recipe on a tiny generated picture folder: exact triplets, train, resume."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("skimage")

from mmpipe.train.interpolator import _batch, evaluate_clips, psnr_db, train  # noqa: E402
from mmpipe.train.interpolator_data import (  # noqa: E402
    network_inputs,
    renderer,
    validation_triplets,
)
from mmpipe.vision.synthetic import textured_image  # noqa: E402
from tests.train.helpers import picture_folder  # noqa: E402


def _write_clip(path: Path, frames: list[np.ndarray], codec: str = "mpeg2video") -> None:
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=Fraction(25))
        stream.width, stream.height = frames[0].shape[1], frames[0].shape[0]
        stream.pix_fmt = "yuv420p"
        stream.options = {"qscale": "2"} if codec == "mpeg2video" else {"crf": "12"}
        for image in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def _pan(n: int, h: int, w: int, step_px: int, seed: int) -> list[np.ndarray]:
    scene = textured_image(h, w + n * step_px, kind="scene", seed=seed)
    return [np.ascontiguousarray(scene[:, i * step_px : i * step_px + w]) for i in range(n)]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The layout ``acquire`` leaves, with generated pictures, stamps and footage."""
    root = tmp_path_factory.mktemp("data")
    images = picture_folder(root)
    stamps = images / "tuxpaint-stamps-default" / "usr/share/tuxpaint/stamps/things"
    stamps.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(12):
        rgba = np.zeros((60, 50, 4), np.uint8)
        rgba[..., :3] = rng.integers(0, 256, 3)
        cv2.ellipse(rgba, (25, 30), (20, 26), 0, 0, 360, (0, 0, 0, 255), -1)
        rgba[..., :3] = np.where(rgba[..., 3:] > 0, rng.integers(0, 256, (60, 50, 3)), 0)
        cv2.imwrite(str(stamps / f"stamp{i}.png"), rgba)
    _write_clip(images / "city" / "cityCC0.mpg", _pan(40, 96, 112, 1, seed=7))
    return root


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    h, w = flow.shape[:2]
    grid = np.dstack(np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32)))
    return cv2.remap(image, grid + flow, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def test_synthetic_triplets_carry_their_exact_motion(data_dir: Path) -> None:
    """Frame 0 (1) sampled along the exact flow from t gives the true frame where visible."""
    source = renderer(data_dir, validation=False, size=96)
    source.real_fraction = 0.0
    occluded, exact, still = [], [], []

    def blur(image: np.ndarray) -> np.ndarray:  # the fixture's pictures have 1 px detail
        return cv2.GaussianBlur(image.astype(np.float32), (0, 0), 1.5)

    for i in range(12):
        x = source.draw(np.random.default_rng([3, i]))
        assert x.frame0.shape == x.target.shape == (96, 96, 3) and 0.0 < x.t < 1.0
        for frame, flow, visible in (
            (x.frame0, x.flow_t0, x.visible0),
            (x.frame1, x.flow_t1, x.visible1),
        ):
            assert flow is not None and visible is not None and flow.shape == (96, 96, 2)
            inner = visible[4:-4, 4:-4] > 0
            error = np.abs(blur(warp(frame, flow)) - blur(x.target)).mean(axis=2)
            exact.append(error[4:-4, 4:-4][inner].mean())
            error = np.abs(blur(frame) - blur(x.target)).mean(axis=2)
            still.append(error[4:-4, 4:-4][inner].mean())
            occluded.append(1.0 - float(visible.mean()))
    assert max(exact) < 5.0  # sensor noise, brightness drift (a few %), resampling
    assert np.mean(exact) < 0.3 * np.mean(still)  # far better than assuming no motion
    assert max(occluded) > 0.02  # sprites and layers do hide things


def test_draws_are_seeded_and_real_triplets_have_no_exact_flow(data_dir: Path) -> None:
    source = renderer(data_dir, validation=False, size=64)
    a = source.draw(np.random.default_rng([0, 5]))
    b = source.draw(np.random.default_rng([0, 5]))
    c = source.draw(np.random.default_rng([1, 5]))
    assert np.array_equal(a.target, b.target) and not np.array_equal(a.target, c.target)
    source.real_fraction = 1.0
    real = source.draw(np.random.default_rng(0))
    assert real.flow_t0 is None and real.t == 0.5
    batch = network_inputs([a, real])
    assert batch["flow_mask"].tolist() == [1.0, 0.0]
    assert batch["frame0"].shape == (2, 3, 64, 64) and batch["flow01"].shape == (2, 2, 64, 64)
    assert batch["frame0"].max() <= 1.0 and batch["visible0"].shape == (2, 1, 64, 64)


def test_validation_set_is_fixed_and_held_out(data_dir: Path) -> None:
    first = validation_triplets(data_dir, count=3, size=64)
    again = validation_triplets(data_dir, count=3, size=64)
    for x, y in zip(first, again, strict=True):
        assert np.array_equal(x.target, y.target) and x.t == y.t


def test_batches_reuse_earlier_samples_deterministically(data_dir: Path) -> None:
    source = renderer(data_dir, validation=False, size=32)
    pool = {
        s: network_inputs([source.draw(np.random.default_rng([0, s, i])) for i in range(2)])
        for s in range(3)
    }
    one = _batch(pool[2], pool, 2, 0, reused=2)
    two = _batch(pool[2], pool, 2, 0, reused=2)
    assert one["frame0"].shape[0] == 4
    assert all(np.array_equal(one[k], two[k]) for k in one)
    assert np.array_equal(one["frame0"][:2], pool[2]["frame0"])


def test_train_logs_checkpoints_keeps_the_best_and_resumes(data_dir: Path, tmp_path: Path) -> None:
    work, out = tmp_path / "work", tmp_path / "out"
    kwargs = dict(
        work_dir=work,
        size=64,
        batch=2,
        fresh=1,
        reuse_steps=2,
        validation_count=2,
        warmup_steps=2,
    )
    scores = train(5, data_dir, out, seed=0, max_steps=3, **kwargs)
    assert set(scores) == {"psnr_db", "ssim"} and scores["psnr_db"] > 10
    lines = [json.loads(line) for line in (work / "log.jsonl").read_text().splitlines()]
    assert "classical_dis_baseline" in lines[0] and lines[0]["parameters"] > 100_000
    assert lines[-1]["step"] == 3 and "validation" in lines[-1]
    assert (out / "model.safetensors").is_file() and (out / "config.json").is_file()
    assert json.loads((out / "validation.json").read_text())["step"] == 3
    state = torch.load(work / "checkpoint.pt", weights_only=False)
    assert state["step"] == 3
    train(5, data_dir, out, seed=0, max_steps=2, **kwargs)  # resumes from step 3
    state = torch.load(work / "checkpoint.pt", weights_only=False)
    assert state["step"] == 5 and state["seed"] == 0


def test_evaluate_clips_scores_every_dropped_frame(tmp_path: Path) -> None:
    frames = _pan(7, 48, 64, 2, seed=3)
    _write_clip(tmp_path / "pan.mp4", frames, codec="libx264")

    def previous(frame0, frame1, flow01, flow10, t):
        return frame0

    def truth_from_flow(frame0, frame1, flow01, flow10, t):
        return warp(frame0, -t * flow01)

    results = evaluate_clips(
        tmp_path, {"repeat": previous, "flow": truth_from_flow}, names=("pan",)
    )
    assert results["pan"]["repeat"]["frames"] == 3  # frames 1, 3, 5 of 7
    assert results["pan"]["flow"]["psnr_db"] > results["pan"]["repeat"]["psnr_db"]
    brighter = np.full((4, 4, 3), 101, np.uint8)
    assert psnr_db(brighter, brighter - 1) == pytest.approx(20 * np.log10(255.0))
