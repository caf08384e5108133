"""Full-frame stabilization: fill what the warp leaves empty from neighbouring frames.

The camera path ``C`` maps a shot's first frame to frame ``j``; the smooth path ``P`` is
where the viewer sees that content. Output frame ``i`` therefore sees input frame ``j``
through ``W_ij = P_i C_j^-1``: the frame's own warp (``j = i``) plus, for the pixels it
leaves empty, the other frames of the same shot, each warped once from the decoded
picture (one interpolation, as for the frame itself).

Neighbours are taken nearest in time first (``i - 1, i + 1, i - 2, ...``) within a window,
and only while pixels are still missing. A neighbour is used only if the motion between
it and frame ``i`` was measured on every frame in between (no scene cut, no bridged or
faint frame); it is brought to the frame's exposure by a gain measured where both overlap, and
blended in under a feathered edge so that no seam shows where the frame ends. What no
neighbour saw is filled by replicating the frame's own edge, so no pixel stays black.

Frames arrive in either layout of :class:`~mmpipe.media.frames.VideoFrame`; weights are
made at luma resolution and packed into the image's own layout, so compositing is
element-wise on the packed arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from mmpipe.media.frames import pack_yuv420p
from mmpipe.vision.motion import MotionFlag
from mmpipe.vision.transforms import frame_center, to_matrix
from mmpipe.vision.warp import warp_frame

# Motion between two frames is trusted only if no frame in between has these flags: a
# cut, a frame whose motion was not measured, or one too faint to register precisely
# (there the frame's own edge, repeated, is the better guess: a smooth sky or wall).
_UNTRUSTED = MotionFlag.SCENE_CUT | MotionFlag.BRIDGED | MotionFlag.LOW_TEXTURE
_COARSE = 8  # neighbours are chosen on a grid this many times coarser than the frame
_ENOUGH = 0.02  # a neighbour adding less than this to every coarse cell is skipped
_FILLED = 0.999  # weight of a pixel that needs nothing more


@dataclass(frozen=True)
class MosaicOptions:
    """Tuning of the border fill."""

    window_frames: int = 12  # neighbours looked at on each side (the stage's latency)
    max_neighbours: int = 8  # neighbours warped into one frame at most
    feather_px: float = 6.0  # the frame blends into its fill over this width
    max_gain: float = 1.25  # exposure matching: largest gain (and 1 / smallest)


class Mosaic:
    """Renders full-frame output frames from a window of input frames.

    ``raw`` and ``smooth`` are the measured and smoothed camera paths ``[n, 4]``;
    ``flags`` the plan's per-frame :class:`~mmpipe.vision.motion.MotionFlag` bits.
    """

    def __init__(
        self,
        raw: np.ndarray,
        smooth: np.ndarray,
        flags: list[int],
        *,
        width_px: int,
        height_px: int,
        pixel_format: str,
        full_range: bool,
        options: MosaicOptions | None = None,
    ) -> None:
        self.options = options or MosaicOptions()
        center = frame_center(width_px, height_px)
        self._to_output = to_matrix(smooth, center)  # P_i
        self._from_input = np.linalg.inv(to_matrix(raw, center))  # C_j^-1
        untrusted = np.array([bool(f & _UNTRUSTED) for f in flags], dtype=bool)
        self._untrusted_before = np.concatenate([[0], np.cumsum(untrusted)])
        self.size = (width_px, height_px)
        self._coarse_size = (-(-width_px // _COARSE), -(-height_px // _COARSE))
        self.pixel_format = pixel_format
        self.black_luma = 0 if full_range or pixel_format == "rgb24" else 16

    @property
    def window_frames(self) -> int:
        return self.options.window_frames

    def matrix(self, i: int, j: int) -> np.ndarray:
        """The 2x3 warp from input frame ``j`` to output frame ``i``."""
        return (self._to_output[i] @ self._from_input[j])[:2]

    def trusted(self, i: int, j: int) -> bool:
        """Whether the motion between frames ``i`` and ``j`` was measured all the way."""
        lo, hi = min(i, j), max(i, j)
        return self._untrusted_before[hi + 1] == self._untrusted_before[lo + 1]

    def render(self, i: int, frames: dict[int, np.ndarray]) -> np.ndarray:
        """Output frame ``i`` from the input images ``frames`` (index -> image) around it."""
        image = frames[i]
        own = self.matrix(i, i)
        warped_own = self._warp(image, own)
        own_cover = self._coverage(own)
        if float(own_cover.min()) >= _FILLED:
            return warped_own
        total = self._feathered(own_cover)  # luma-resolution weights, [H, W]
        accum = warped_own.astype(np.float32) * self._layout(total)
        used = 0
        for j in self._neighbours(i, frames):
            if used == self.options.max_neighbours or float(total.min()) >= _FILLED:
                break
            matrix = self.matrix(i, j)
            # skip, cheaply, a neighbour that sees none of what is still missing
            missing = cv2.resize(1.0 - total, self._coarse_size, interpolation=cv2.INTER_AREA)
            if float((missing * self._coverage(matrix, coarse=True)).max()) < _ENOUGH:
                continue
            used += 1
            cover = self._coverage(matrix)
            both_seen = (cover >= 1.0) & (total >= 1.0)
            take = (1.0 - total) * cover
            # edge-replicated, so that a partly covered pixel is not darkened by black
            warped = self._warp(frames[j], matrix, replicate_edges=True).astype(np.float32)
            accum += self._layout(take) * self._match_exposure(warped, warped_own, both_seen)
            total += take
        edge = self._warp(image, own, replicate_edges=True).astype(np.float32)
        accum += self._layout(1.0 - total) * edge
        return np.clip(accum + 0.5, 0, 255).astype(np.uint8)

    def _neighbours(self, i: int, frames: dict[int, np.ndarray]):
        """Frames of the window nearest ``i`` first, whose motion to ``i`` is trusted."""
        for step in range(1, self.options.window_frames + 1):
            for j in (i - step, i + step):
                if j in frames and self.trusted(i, j):
                    yield j

    def _warp(self, image: np.ndarray, matrix: np.ndarray, **options: bool) -> np.ndarray:
        return warp_frame(
            image,
            matrix,
            pixel_format=self.pixel_format,
            full_range=self.black_luma == 0,
            **options,
        )

    def _coverage(self, matrix: np.ndarray, *, coarse: bool = False) -> np.ndarray:
        """Share of each output pixel (or coarse cell) that a warped frame covers."""
        step = _COARSE if coarse else 1
        size = self._coarse_size if coarse else self.size
        scale = np.diag([1.0 / step, 1.0 / step, 1.0])
        scaled = (scale @ np.vstack([matrix, [0, 0, 1]]) @ np.linalg.inv(scale))[:2]
        ones = np.ones((size[1], size[0]), np.float32)
        return cv2.warpAffine(ones, scaled, size, flags=cv2.INTER_LINEAR, borderValue=0.0)

    def _feathered(self, cover: np.ndarray) -> np.ndarray:
        """The frame's own weight: its coverage, fading to 0 over ``feather_px`` towards
        the part it leaves empty (so no seam shows where the fill begins)."""
        covered = (cover >= _FILLED).astype(np.uint8)
        distance = cv2.distanceTransform(covered, cv2.DIST_L2, 3)
        return np.clip(distance / max(self.options.feather_px, 1.0), 0.0, 1.0)

    def _layout(self, luma_weight: np.ndarray) -> np.ndarray:
        """A luma-resolution weight map in the image's layout (float32)."""
        luma_weight = luma_weight.astype(np.float32, copy=False)
        if self.pixel_format == "rgb24":
            return luma_weight[:, :, None]
        width_px, height_px = self.size
        chroma = cv2.resize(
            luma_weight, (width_px // 2, height_px // 2), interpolation=cv2.INTER_AREA
        )
        return pack_yuv420p(luma_weight, chroma, chroma)

    def _match_exposure(
        self, warped: np.ndarray, reference: np.ndarray, both_seen: np.ndarray
    ) -> np.ndarray:
        """Scale a neighbour's levels to the frame's, measured where both are fully seen.

        RGB: a gain per channel; YUV: a gain on luma above black (chroma is left alone).
        """
        mask = both_seen[::4, ::4]
        if self.pixel_format == "rgb24":
            channels = [(np.s_[..., c], np.s_[::4, ::4, c]) for c in range(3)]
        else:
            rows = self.size[1]
            channels = [(np.s_[:rows], np.s_[:rows:4, ::4])]
        if mask.sum() < 64:
            return warped
        limit, black = self.options.max_gain, self.black_luma
        for whole, sample in channels:
            ours = float(reference[sample][mask].mean()) - black
            theirs = float(warped[sample][mask].mean()) - black
            if theirs > 1.0 and ours > 1.0:
                gain = float(np.clip(ours / theirs, 1 / limit, limit))
                warped[whole] = black + (warped[whole] - black) * gain
        return warped
