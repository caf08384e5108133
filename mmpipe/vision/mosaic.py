"""Full-frame stabilization: fill what the warp leaves empty from neighbouring frames.

The camera path ``C`` maps a shot's first frame to frame ``j``; the smooth path ``P`` is
where the viewer sees that content. Output frame ``i`` therefore sees input frame ``j``
through ``W_ij = P_i C_j^-1``: the frame's own warp (``j = i``) plus, for the pixels it
leaves empty, the other frames of the same shot, each warped once from the decoded
picture (one interpolation, as for the frame itself). Each frame comes as the
:class:`~mmpipe.media.frames.StabilizedView` that ``Stabilize(fill="none")`` attaches: its
decoded picture, ``P_i``, ``C_i^-1`` and its trust epoch; the frame itself may come
already warped, and then only its empty border is composited.

Neighbours are taken nearest in time first (``i - 1, i + 1, i - 2, ...``) within a window,
and only while pixels are still missing. A neighbour is used only if the motion between
it and frame ``i`` was measured on every frame in between (no scene cut, no bridged or
faint frame); it is brought to the frame's exposure by a gain measured where both
overlap, and the frame blends into its fill over a feathered edge so that no seam shows
where it ends. What no neighbour saw is filled by repeating the frame's own edge, so no
pixel stays black, or, given a ``generator`` (``mmpipe.vision.generated_border``), by the
learned inpainter, which sees the strip, what the neighbours filled and the picture next
to it (except on faint frames, a smooth sky or wall, where the repeated edge is the better
guess there too).

A global motion per frame is exact only for a flat or distant scene; with parallax or
moving things the neighbour's content lands a few pixels off the frame's own. So each
neighbour's alignment is refined per pixel near the border: dense optical flow (OpenCV
DIS) between the neighbour and the frame, measured on a band where both are seen (the
strip widened ``refine_band_px`` into the picture), continued into the empty part from the
nearest measured pixel and smoothed along the edge, then folded into the same single
interpolation (``cv2.remap`` of the decoded picture). The refinement is kept only where it
lowers the difference to the frame on the measured band; otherwise the global alignment
stays.

The empty part of a stabilized frame is a thin band along its edges, so only that band
is composited: it is cut into four strips (top, bottom, left, right), each a rectangle in
which every warp is computed with ``dsize`` of the strip alone. Frames come in either
layout of :class:`~mmpipe.media.frames.VideoFrame`; each plane is composited at its own
resolution (4:2:0 chroma at half size, with weights shrunk to match).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import cv2
import numpy as np

from mmpipe.media.frames import StabilizedView, yuv420p_planes
from mmpipe.vision.generated_border import BorderGenerator
from mmpipe.vision.motion import MotionFlag
from mmpipe.vision.warp import chroma_matrix, warp_frame

# Motion between two frames is trusted only if no frame in between has these flags: a
# cut, a frame whose motion was not measured, or one too faint to register precisely
# (there the frame's own edge, repeated, is the better guess: a smooth sky or wall).
_UNTRUSTED = MotionFlag.SCENE_CUT | MotionFlag.BRIDGED | MotionFlag.LOW_TEXTURE
_ENOUGH = 0.02  # a neighbour adding less weight than this to every pixel is skipped
_FILLED = 0.999  # weight of a pixel that needs nothing more
_IDENTITY = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


def trust_epochs(flags: list[int]) -> np.ndarray:
    """Per frame, how many frames up to and including it have untrusted motion ``[n]``.

    ``flags`` are a plan's per-frame :class:`~mmpipe.vision.motion.MotionFlag` bits; the
    motion between two frames was measured all the way exactly when their epochs are equal.
    """
    untrusted = np.array([bool(f & _UNTRUSTED) for f in flags], dtype=bool)
    return np.cumsum(untrusted, dtype=np.int64)


def view_warp(output: StabilizedView, source: StabilizedView) -> np.ndarray:
    """The 2x3 warp from ``source``'s decoded picture into ``output``'s frame: ``P_i C_j^-1``."""
    return (output.to_output @ source.from_input)[:2]


def trusted(a: StabilizedView, b: StabilizedView) -> bool:
    """Whether the motion between two frames was measured on every frame in between."""
    return a.trust_epoch == b.trust_epoch


@dataclass(frozen=True)
class MosaicOptions:
    """Tuning of the border fill."""

    window_frames: int = 12  # neighbours looked at on each side (the stage's latency)
    max_neighbours: int = 8  # neighbours warped into one strip at most
    feather_px: float = 6.0  # the frame blends into its fill over this width
    max_gain: float = 1.25  # exposure matching: largest gain (and 1 / smallest)
    refine: bool = True  # per-pixel alignment of each neighbour near the border (DIS flow)
    refine_band_px: int = 32  # how far into the picture the flow is measured
    refine_max_px: float = 12.0  # larger corrections are not trusted (clipped)
    generate_context_px: int = 32  # picture around a strip the generator sees (luma px)


@dataclass(frozen=True)
class _Plane:
    """One plane of a picture: its array and how many luma pixels one of its pixels spans."""

    pixels: np.ndarray
    step: int


@dataclass(frozen=True)
class _Band:
    """The frame around one strip, as every neighbour's refinement there compares with it."""

    box: tuple[int, int, int, int]  # the strip
    area: tuple[int, int, int, int]  # the strip widened into the picture
    half: tuple[int, int]  # (width, height) of the half-size images
    grey: np.ndarray  # the frame's luma/grey on ``area``, half size, uint8
    coverage: np.ndarray  # the frame's own coverage of ``area``, full size


class Mosaic:
    """Renders full-frame output frames from a window of stabilized views.

    ``width_px``, ``height_px``, ``pixel_format`` and ``full_range`` describe the frames
    (as the stage's :class:`~mmpipe.pipeline.stage.VideoSpec` does).
    """

    def __init__(
        self,
        *,
        width_px: int,
        height_px: int,
        pixel_format: str,
        full_range: bool,
        options: MosaicOptions | None = None,
        generator: BorderGenerator | None = None,
    ) -> None:
        self.options = options or MosaicOptions()
        self._generator = generator
        self.size = (width_px, height_px)
        self.pixel_format = pixel_format
        self.full_range = full_range or pixel_format == "rgb24"
        self._ones = np.ones((height_px, width_px), np.float32)
        self._flow = None
        if self.options.refine:
            self._flow = cv2.DISOpticalFlow_create(cv2.DISOpticalFlow_PRESET_FAST)

    @property
    def window_frames(self) -> int:
        return self.options.window_frames

    def render(
        self,
        i: int,
        frames: Mapping[int, StabilizedView],
        warped: np.ndarray | None = None,
    ) -> np.ndarray:
        """Output frame ``i`` from the views ``frames`` (index -> view) around it.

        ``warped`` is frame ``i`` already stabilized: its source through ``P_i C_i^-1``,
        black outside (what ``Stabilize(fill="none")`` yields); it is left unchanged and
        only its border strips are composited on a copy. Without it the source is warped
        here. Returns a new image (``warped`` itself when it leaves nothing empty).
        """
        own = view_warp(frames[i], frames[i])
        boxes = _strips(own, self.size, self.options.feather_px)
        if warped is None:
            out = warp_frame(
                frames[i].source, own, pixel_format=self.pixel_format, full_range=self.full_range
            )
        else:
            out = warped.copy() if boxes else warped
        for k, box in enumerate(boxes):
            self._fill(i, frames, box, out, done=boxes[:k])
        return out

    def _fill(
        self,
        i: int,
        frames: Mapping[int, StabilizedView],
        box: tuple[int, int, int, int],
        out: np.ndarray,
        done: list[tuple[int, int, int, int]],
    ) -> None:
        """Composite one strip ``box`` (x0, y0, x1, y1, luma px, even) of ``out`` in place;
        the strips ``done`` are already composited."""
        own = view_warp(frames[i], frames[i])
        planes = self._planes(out)
        # the frame's own weight fades to 0 over feather_px towards what it leaves empty
        covered = (self._coverage(own, box) >= _FILLED).astype(np.uint8)
        distance = cv2.distanceTransform(covered, cv2.DIST_L2, 3)
        total = np.clip(distance / max(self.options.feather_px, 1.0), 0.0, 1.0)
        accum = [p.pixels[_region(box, p.step)].astype(np.float32) for p in planes]
        accum = [a * _shrunk(total, p.step, a.ndim) for a, p in zip(accum, planes, strict=True)]
        band = self._band(frames[i].source, own, box)
        used = 0
        for j in self._neighbours(i, frames):
            if used == self.options.max_neighbours or float(total.min()) >= _FILLED:
                break
            warp = view_warp(frames[i], frames[j])
            cover = self._coverage(warp, box)
            take = (1.0 - total) * cover
            if float(take.max()) < _ENOUGH:
                continue
            used += 1
            flow = None if band is None else self._refinement(band, frames[j].source, warp)
            warped = self._warped(frames[j].source, warp, box, flow)
            gains = self._gains(warped, accum, (cover >= 1.0) & (total >= 1.0), total)
            for a, w, p, gain in zip(accum, warped, planes, gains, strict=True):
                black = self._black(p)
                a += _shrunk(take, p.step, a.ndim) * (black + (w - black) * gain)
            total += take
        generate = self._generator is not None and not frames[i].faint
        if generate and float((1.0 - total).max()) >= _ENOUGH:
            edge = self._generated(out, accum, total, covered > 0, box, done, own)
        else:
            edge = self._warped(frames[i].source, own, box)
        for a, e, p in zip(accum, edge, planes, strict=True):
            a += _shrunk(1.0 - total, p.step, a.ndim) * e
            p.pixels[_region(box, p.step)] = np.clip(a + 0.5, 0, 255).astype(np.uint8)

    def _generated(
        self,
        out: np.ndarray,
        accum: list[np.ndarray],
        total: np.ndarray,
        covered: np.ndarray,
        box: tuple[int, int, int, int],
        done: list[tuple[int, int, int, int]],
        own: np.ndarray,
    ) -> list[np.ndarray]:
        """The strip ``box`` with what is not yet fully seen generated, per plane (float32).

        The generator sees the strip widened ``generate_context_px`` into the picture: the
        frame there (known where it reaches, ``own`` being its warp) and the strips already
        ``done``, the blend so far in the strip, known where its weight is full or the frame
        itself ``covered`` it."""
        assert self._generator is not None
        area = _widened(box, self.size, self.options.generate_context_px)
        ax0, ay0, ax1, ay1 = area
        x0, y0, x1, y1 = box
        strip = (x0 - ax0, y0 - ay0, x1 - ax0, y1 - ay0)  # the strip's place in the area
        planes = self._planes(out)
        region = []
        for a, p in zip(accum, planes, strict=True):
            pixels = p.pixels[_region(area, p.step)].copy()
            weight = _shrunk(total, p.step, a.ndim)
            blend = np.clip(a / np.maximum(weight, 1e-6) + 0.5, 0, 255)
            pixels[_region(strip, p.step)] = np.where(weight > 0, blend, 0).astype(np.uint8)
            region.append(pixels)
        known = self._coverage(own, area) >= _FILLED
        for bx0, by0, bx1, by1 in done:
            known[
                max(by0, ay0) - ay0 : max(min(by1, ay1) - ay0, 0),
                max(bx0, ax0) - ax0 : max(min(bx1, ax1) - ax0, 0),
            ] = True
        known[_region(strip, 1)] = (total >= _FILLED) | covered
        filled = self._generator.fill(region, known, _side(box, self.size))
        return [f[_region(strip, p.step)] for f, p in zip(filled, planes, strict=True)]

    def _coverage(self, matrix: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
        """Share of each pixel of the strip ``box`` that a frame warped by ``matrix`` covers."""
        x0, y0, x1, y1 = box
        shifted = np.asarray(matrix, dtype=np.float64) - np.array([[0, 0, x0], [0, 0, y0]])
        return cv2.warpAffine(
            self._ones, shifted, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR, borderValue=0.0
        )

    def _neighbours(self, i: int, frames: Mapping[int, StabilizedView]) -> Iterator[int]:
        """Frames of the window nearest ``i`` first, whose motion to ``i`` is trusted."""
        for step in range(1, self.options.window_frames + 1):
            for j in (i - step, i + step):
                if j in frames and trusted(frames[i], frames[j]):
                    yield j

    def _planes(self, image: np.ndarray) -> list[_Plane]:
        if self.pixel_format == "rgb24":
            return [_Plane(image, 1)]
        luma, u, v = yuv420p_planes(image)
        return [_Plane(luma, 1), _Plane(u, 2), _Plane(v, 2)]

    def _black(self, plane: _Plane) -> float:
        return 0.0 if plane.step > 1 or self.full_range else 16.0  # chroma: gains leave it

    def _warped(
        self,
        image: np.ndarray,
        matrix: np.ndarray,
        box: tuple[int, int, int, int],
        flow: np.ndarray | None = None,
    ) -> list[np.ndarray]:
        """Each plane of ``image`` warped into the strip ``box``, edges repeated (float32).

        ``flow`` ``[h, w, 2]`` (luma px, strip resolution) moves where each output pixel
        samples: output ``p`` shows what the global warp puts at ``p + flow(p)``.
        """
        out = []
        for plane in self._planes(image):
            plane_matrix = matrix if plane.step == 1 else chroma_matrix(matrix)
            x0, y0, x1, y1 = (c // plane.step for c in box)
            shifted = plane_matrix - np.array([[0, 0, x0], [0, 0, y0]])
            if flow is None:
                warped = cv2.warpAffine(
                    plane.pixels,
                    shifted,
                    (x1 - x0, y1 - y0),
                    flags=cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_REPLICATE,
                )
            else:
                warped = _remap(plane.pixels, shifted, flow, plane.step)
            out.append(warped.astype(np.float32))
        return out

    def _band(
        self, own_image: np.ndarray, own: np.ndarray, box: tuple[int, int, int, int]
    ) -> _Band | None:
        """What the refinement of every neighbour in the strip ``box`` measures against:
        the frame on the strip widened ``refine_band_px`` into the picture, at half size.
        None when refinement is off or the band is too thin."""
        if self._flow is None:
            return None
        area = _widened(box, self.size, self.options.refine_band_px)
        bx0, by0, bx1, by1 = area
        half = ((bx1 - bx0) // 2, (by1 - by0) // 2)
        if min(half) < 8:
            return None
        grey = cv2.resize(self._grey(own_image, own, area), half, interpolation=cv2.INTER_AREA)
        return _Band(box, area, half, grey, self._coverage(own, area))

    def _refinement(self, band: _Band, image: np.ndarray, matrix: np.ndarray) -> np.ndarray | None:
        """Per-pixel correction ``[h, w, 2]`` of a neighbour's warp into the strip ``box``.

        Measured by DIS flow (at half resolution) from the frame to the warped neighbour on
        ``band``, where both are seen; continued outwards from the nearest measured pixel
        and smoothed. None when it does not lower the difference to the frame on the
        measured band (or too little of it is seen).
        """
        assert self._flow is not None
        bx0, by0, bx1, by1 = band.area
        ours, half = band.grey, band.half
        theirs = cv2.resize(
            self._grey(image, matrix, band.area), half, interpolation=cv2.INTER_AREA
        )
        both = np.minimum(band.coverage, self._coverage(matrix, band.area))
        seen = cv2.resize(both, half, interpolation=cv2.INTER_AREA) >= _FILLED
        if seen.sum() < 64:
            return None
        limit = self.options.refine_max_px / 2
        flow = np.clip(_dis(self._flow, ours, theirs), -limit, limit)
        # continue the measured flow into the empty part from the nearest seen pixel
        _, labels = cv2.distanceTransformWithLabels(
            (~seen).astype(np.uint8), cv2.DIST_L2, 3, labelType=cv2.DIST_LABEL_PIXEL
        )
        rows, cols = np.nonzero(seen)
        position = np.zeros(labels.max() + 1, np.int64)
        position[labels[rows, cols]] = np.arange(len(rows))
        flow = flow[rows, cols][position[labels]]
        flow = cv2.GaussianBlur(flow, (0, 0), self.options.refine_band_px / 3)
        # keep it only if it brings the neighbour closer to the frame where both are seen
        moved = _remap(theirs, _IDENTITY, flow, 1)
        before = cv2.absdiff(theirs, ours)[seen].mean()
        after = cv2.absdiff(moved, ours)[seen].mean()
        if not after < before:
            return None
        flow = 2 * cv2.resize(flow, (bx1 - bx0, by1 - by0), interpolation=cv2.INTER_LINEAR)
        x0, y0, x1, y1 = band.box
        return np.ascontiguousarray(flow[y0 - by0 : y1 - by0, x0 - bx0 : x1 - bx0])

    def _grey(
        self, image: np.ndarray, matrix: np.ndarray, box: tuple[int, int, int, int]
    ) -> np.ndarray:
        """The picture's luma (YUV) or grey (RGB) warped into ``box``, uint8."""
        source = self._planes(image)[0].pixels
        if source.ndim == 3:
            source = cv2.cvtColor(source, cv2.COLOR_RGB2GRAY)
        x0, y0, x1, y1 = box
        shifted = np.asarray(matrix, np.float64) - np.array([[0, 0, x0], [0, 0, y0]])
        return cv2.warpAffine(
            source,
            shifted,
            (x1 - x0, y1 - y0),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )

    def _gains(
        self,
        warped: list[np.ndarray],
        accum: list[np.ndarray],
        both_seen: np.ndarray,
        total: np.ndarray,
    ) -> list[float | np.ndarray]:
        """Gains that bring a neighbour to the frame's exposure where both are fully seen.

        ``accum`` still holds the frame itself there (weight 1). RGB: one gain per
        channel; YUV: one on luma above black, chroma left alone.
        """
        gains: list[float | np.ndarray] = [1.0] * len(warped)
        if both_seen.sum() < 64:
            return gains
        limit, black = self.options.max_gain, self._black(_Plane(warped[0], 1))
        ours = accum[0][both_seen] - black
        theirs = warped[0][both_seen] - black
        ours_mean, theirs_mean = ours.mean(axis=0), theirs.mean(axis=0)
        usable = (theirs_mean > 1.0) & (ours_mean > 1.0)
        ratio = np.where(usable, ours_mean / np.maximum(theirs_mean, 1e-6), 1.0)
        gains[0] = np.clip(ratio, 1 / limit, limit).astype(np.float32)
        return gains


def _strips(
    matrix: np.ndarray, size: tuple[int, int], feather_px: float
) -> list[tuple[int, int, int, int]]:
    """Rectangles (x0, y0, x1, y1), even-aligned, holding what a warp leaves empty.

    The warped frame is a convex quadrilateral whose edges stay near the frame's edges;
    the rectangle inside all four of them, shrunk by ``feather_px``, needs no fill, and
    the four strips around it (top and bottom across the full width, left and right in
    between) hold the rest. None when the quadrilateral covers the whole frame.
    """
    width_px, height_px = size
    corners = np.array(
        [[0, 0], [width_px - 1, 0], [0, height_px - 1], [width_px - 1, height_px - 1]]
    )
    (tl, tr, bl, br) = corners @ np.asarray(matrix)[:, :2].T + np.asarray(matrix)[:, 2]
    if (
        max(tl[1], tr[1]) <= 0
        and min(bl[1], br[1]) >= height_px - 1
        and max(tl[0], bl[0]) <= 0
        and min(tr[0], br[0]) >= width_px - 1
    ):
        return []
    reach = feather_px + 1
    top = int(np.ceil(max(tl[1], tr[1], 0) + reach))
    bottom = int(np.floor(min(bl[1], br[1], height_px - 1) - reach))
    left = int(np.ceil(max(tl[0], bl[0], 0) + reach))
    right = int(np.floor(min(tr[0], br[0], width_px - 1) - reach))
    top = min(top + top % 2, height_px)
    bottom = max(bottom - bottom % 2, top)
    left = min(left + left % 2, width_px)
    right = max(right - right % 2, left)
    boxes = [
        (0, 0, width_px, top),
        (0, bottom, width_px, height_px),
        (0, top, left, bottom),
        (right, top, width_px, bottom),
    ]
    return [b for b in boxes if b[2] > b[0] and b[3] > b[1]]


def _side(box: tuple[int, int, int, int], size: tuple[int, int]) -> str:
    """Which edge of the frame the strip ``box`` (one of :func:`_strips`') runs along."""
    x0, y0, x1, _ = box
    if x1 - x0 == size[0]:
        return "top" if y0 == 0 else "bottom"
    return "left" if x0 == 0 else "right"


def _widened(
    box: tuple[int, int, int, int], size: tuple[int, int], band_px: int
) -> tuple[int, int, int, int]:
    """The strip ``box`` grown by ``band_px`` on the sides that face into the picture."""
    x0, y0, x1, y1 = box
    width_px, height_px = size
    return (
        max(x0 - band_px, 0) if x0 > 0 else 0,
        max(y0 - band_px, 0) if y0 > 0 else 0,
        min(x1 + band_px, width_px) if x1 < width_px else width_px,
        min(y1 + band_px, height_px) if y1 < height_px else height_px,
    )


def _dis(dis: cv2.DISOpticalFlow, ours: np.ndarray, theirs: np.ndarray) -> np.ndarray:
    """DIS flow from ``ours`` to ``theirs``; a thin band is padded (edges repeated) so that
    every level of DIS's pyramid, sized by the long side, keeps some rows."""
    height_px, width_px = ours.shape
    pad_y = max(0, max(32, width_px // 16) - height_px)
    pad_x = max(0, max(32, height_px // 16) - width_px)
    if pad_x or pad_y:
        ours, theirs = (
            cv2.copyMakeBorder(x, 0, pad_y, 0, pad_x, cv2.BORDER_REPLICATE) for x in (ours, theirs)
        )
    return dis.calc(ours, theirs, None)[:height_px, :width_px]


def _remap(pixels: np.ndarray, matrix: np.ndarray, flow: np.ndarray, step: int) -> np.ndarray:
    """``pixels`` seen through the 2x3 ``matrix`` (plane -> strip) and then ``flow``.

    Output pixel ``p`` of the strip samples ``pixels`` at ``matrix^-1 (p + flow(p))``: one
    interpolation. ``flow`` is in luma px at luma resolution; ``step`` 2 halves both.
    """
    if step > 1:
        height_px, width_px = flow.shape[:2]
        flow = cv2.resize(flow, (width_px // step, height_px // step), cv2.INTER_AREA) / step
    height_px, width_px = flow.shape[:2]
    inverse = cv2.invertAffineTransform(np.asarray(matrix, np.float64))
    xs = np.arange(width_px, dtype=np.float32)[None, :] + flow[..., 0]
    ys = np.arange(height_px, dtype=np.float32)[:, None] + flow[..., 1]
    map_x = (inverse[0, 0] * xs + inverse[0, 1] * ys + inverse[0, 2]).astype(np.float32)
    map_y = (inverse[1, 0] * xs + inverse[1, 1] * ys + inverse[1, 2]).astype(np.float32)
    return cv2.remap(pixels, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _region(box: tuple[int, int, int, int], step: int) -> tuple[slice, slice]:
    x0, y0, x1, y1 = (c // step for c in box)
    return np.s_[y0:y1, x0:x1]


def _shrunk(weight: np.ndarray, step: int, ndim: int) -> np.ndarray:
    """A luma-resolution weight at a plane's resolution, shaped to multiply its pixels."""
    if step > 1:
        height_px, width_px = weight.shape
        size = (width_px // step, height_px // step)
        weight = cv2.resize(weight, size, interpolation=cv2.INTER_AREA)
    return weight[:, :, None] if ndim == 3 else weight
