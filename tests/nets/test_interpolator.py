"""The interpolator network: the untrained blend, flow projection, warps, config round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from mmpipe.nets.interpolator import (  # noqa: E402
    Interpolator,
    InterpolatorConfig,
    backward_warp,
    count_parameters,
    from_pretrained,
    initial_flows,
    save_pretrained,
)

TINY = InterpolatorConfig(channels=(8, 8, 8))


def random_model(config: InterpolatorConfig = TINY, seed: int = 0) -> Interpolator:
    """A tiny network whose every branch (head included) matters."""
    torch.manual_seed(seed)
    model = Interpolator(config)
    for p in model.parameters():
        if p.ndim > 1:
            torch.nn.init.normal_(p, std=0.05)
    torch.nn.init.normal_(model.head.weight, std=0.02)
    return model.eval()


def textured(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth random RGB picture ``[h, w, 3]`` in [0, 1] (values vary at every scale)."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    image = np.zeros((h, w, 3))
    for _ in range(6):
        k = rng.uniform(0.05, 0.35, size=2)
        image += (
            rng.uniform(0.05, 0.15, size=3)
            * np.sin(k[0] * xs + k[1] * ys + rng.uniform(0, 6))[..., None]
        )
    return np.clip(0.5 + image, 0, 1).astype(np.float32)


def near(x, value: float) -> bool:
    return bool(torch.allclose(x, torch.full_like(x, value), atol=1e-2))  # pixels


def nchw(image: np.ndarray):
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None]


def test_backward_warp_moves_content_by_the_flow() -> None:
    image = torch.arange(5 * 6, dtype=torch.float32).view(1, 1, 5, 6)
    flow = torch.zeros(1, 2, 5, 6)
    flow[:, 0] = 1.0  # sample one pixel to the right
    warped = backward_warp(image, flow)
    assert torch.allclose(warped[..., :-1], image[..., 1:])
    assert torch.allclose(warped[..., -1], image[..., -1])  # edges replicated


def test_flow_projection_finds_each_side_of_a_moving_object() -> None:
    """A square moves 8 px right over a still background (columns 10-19 -> 18-27; at t = 0.5
    it covers 14-23). Frame 0's fixed point finds its motion on the square's rear part,
    frame 1's on its front part (each side sees the part the other loses), and each flags
    the pixels where its iteration did not settle: the background the square uncovers (for
    frame 0) or covers (for frame 1)."""
    h, w = 32, 48
    flow01 = torch.zeros(1, 2, h, w)
    flow01[:, 0, 10:20, 10:20] = 8.0
    flow10 = torch.zeros(1, 2, h, w)
    flow10[:, 0, 10:20, 18:28] = -8.0
    t = torch.full((1, 1, 1, 1), 0.5)
    f_t0, f_t1, r0, r1 = initial_flows(flow01, flow10, t, steps=3)
    row = 15
    assert near(f_t0[0, 0, row, 14:20], -4.0)  # frame 0 sees the rear part
    assert near(f_t1[0, 0, row, 18:24], 4.0)  # frame 1 sees the front part
    assert near(r0[0, 0, row, 10:14], 8.0)  # uncovered: not in frame 0
    assert near(r1[0, 0, row, 24:28], 8.0)  # covered by the square in frame 1
    assert near(r0[0, 0, row, 14:], 0.0) and near(r1[0, 0, row, :24], 0.0)
    assert near(f_t0[0, :, :, 30:], 0.0) and near(f_t1[0, :, :, :8], 0.0)


def test_untrained_network_is_an_exact_blend_for_a_global_shift() -> None:
    """Head at zero: frames shifted by 4 px, exact flows -> the 2 px shift at t = 0.5."""
    h, w = 48, 64
    wide = textured(h, w + 8, seed=1)
    frame0, truth, frame1 = (wide[:, 4 - d : 4 - d + w] for d in (0, 2, 4))
    model = Interpolator(TINY).eval()
    flow01 = torch.zeros(1, 2, h, w)
    flow01[:, 0] = 4.0
    with torch.no_grad():
        out = model(nchw(frame0), nchw(frame1), flow01, -flow01, torch.tensor([0.5]))
    inner = (slice(None), slice(None), slice(4, -4), slice(8, -8))
    assert float((out - nchw(truth))[inner].abs().max()) < 1e-3


def test_identical_frames_come_back_for_any_network_and_t() -> None:
    h, w = 32, 48
    frame = nchw(textured(h, w, seed=2))
    zero = torch.zeros(1, 2, h, w)
    model = Interpolator(TINY).eval()
    for t in (0.2, 0.5, 0.9):
        with torch.no_grad():
            out = model(frame, frame, zero, zero, torch.tensor([t]))
        assert float((out - frame).abs().max()) < 1e-5
    trained_like = random_model()
    with torch.no_grad():
        out = trained_like(frame, frame, zero, zero, torch.tensor([0.5]))
    assert out.shape == frame.shape and float(out.min()) >= 0.0 and float(out.max()) <= 1.0


def test_batch_items_are_independent() -> None:
    model = random_model()
    h, w = 32, 32
    frames = torch.stack([nchw(textured(h, w, seed=s))[0] for s in range(4)])
    flows = torch.randn(4, 2, h, w)
    t = torch.tensor([0.3, 0.7])
    with torch.no_grad():
        both = model(frames[:2], frames[2:], flows[:2], flows[2:], t)
        one = model(frames[1:2], frames[3:4], flows[1:2], flows[3:4], t[1:])
    assert torch.allclose(both[1:], one, atol=1e-6)


def test_config_round_trip_and_size(tmp_path: Path) -> None:
    model = random_model()
    save_pretrained(model, tmp_path)
    loaded = from_pretrained(tmp_path)
    assert loaded.config == TINY and loaded.config.stride == 16
    for (name, a), b in zip(model.state_dict().items(), loaded.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    assert 150_000 < count_parameters(Interpolator()) < 1_000_000  # the shipped size class
