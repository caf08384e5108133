"""The generated border's plumbing: orientation, layouts and the columns it generates."""

from __future__ import annotations

import numpy as np
import pytest

from mmpipe.media.frames import yuv420p_planes
from mmpipe.runtime.inpainter import Inpainter
from mmpipe.vision.generated_border import SIDES, BorderGenerator, _from_top, _to_top


class Recorder:
    """An inpainter stand-in: the nearest fill (what an untrained network returns), and
    what it was asked to do."""

    def __init__(self) -> None:
        self.calls: list[tuple[np.ndarray, np.ndarray]] = []
        self.inner = Inpainter(lambda noisy, condition, t: condition[:, :3], 4, "nearest")

    def inpaint(self, picture: np.ndarray, known: np.ndarray) -> np.ndarray:
        self.calls.append((picture.copy(), known.copy()))
        return self.inner.inpaint(picture, known)


@pytest.mark.parametrize("side", SIDES)
def test_turning_round_trips(side: str) -> None:
    image = np.arange(6 * 10).reshape(6, 10)
    assert (_from_top(_to_top(image, side), side) == image).all()
    edge = {"top": image[0], "bottom": image[-1], "left": image[:, 0], "right": image[:, -1]}
    assert sorted(_to_top(image, side)[0]) == sorted(edge[side])


@pytest.mark.parametrize("side", SIDES)
def test_the_frame_edge_reaches_the_inpainter_on_top(side: str) -> None:
    """A stripe pattern that runs across the edge continues into the generated part, and
    the inpainter always sees the unknown rows on top."""
    height_px, width_px = 40, 64
    grey = np.zeros((height_px, width_px), np.uint8)
    if side in ("top", "bottom"):
        grey[:, :] = (np.arange(width_px) // 8 % 2 * 200 + 20)[None, :]
    else:
        grey[:, :] = (np.arange(height_px) // 8 % 2 * 200 + 20)[:, None]
    known = np.ones((height_px, width_px), bool)
    cut = {"top": np.s_[:8], "bottom": np.s_[-8:], "left": np.s_[:, :8], "right": np.s_[:, -8:]}
    known[cut[side]] = False
    rgb = np.repeat(grey[..., None], 3, axis=2)
    hidden = rgb.copy()
    hidden[~known] = 0
    recorder = Recorder()
    (out,) = BorderGenerator(recorder).fill([hidden], known, side)  # type: ignore[arg-type]
    (_, seen) = recorder.calls[0]
    assert not seen[0].all() and seen[-1].all()
    assert np.abs(out[~known] - rgb[~known].astype(np.float32)).mean() < 12


def test_yuv420p_planes_come_back_at_their_resolutions() -> None:
    height_px, width_px = 24, 48
    rng = np.random.default_rng(0)
    packed = rng.integers(16, 235, (height_px * 3 // 2, width_px), dtype=np.uint8)
    planes = list(yuv420p_planes(packed))
    known = np.ones((height_px, width_px), bool)
    known[:, :6] = False
    out = BorderGenerator(Recorder()).fill(planes, known, "left")  # type: ignore[arg-type]
    assert [p.shape for p in out] == [p.shape for p in planes]
    assert all(p.dtype == np.float32 for p in out)


def test_only_the_columns_with_something_to_generate_are_sent() -> None:
    height_px, width_px = 16, 400
    known = np.ones((height_px, width_px), bool)
    known[:4, 100:140] = False  # at half resolution: columns 50..69
    recorder = Recorder()
    BorderGenerator(recorder, context_px=16).fill(  # type: ignore[arg-type]
        [np.full((height_px, width_px, 3), 128, np.uint8)], known, "top"
    )
    (picture, _) = recorder.calls[0]
    assert picture.shape[1] == 20 + 2 * 16


def test_nothing_unknown_calls_nothing() -> None:
    recorder = Recorder()
    planes = [np.full((8, 8, 3), 90, np.uint8)]
    (out,) = BorderGenerator(recorder).fill(planes, np.ones((8, 8), bool), "top")  # type: ignore[arg-type]
    assert recorder.calls == [] and np.abs(out - 90).max() <= 1
