"""The FillBorders stage: full-frame stabilization, its empty borders filled from neighbours.

``Stabilize(fill="none")`` warps every frame and attaches what the frame was made from (a
:class:`~mmpipe.media.frames.StabilizedView`: the decoded picture, ``P_i``, ``C_i^-1`` and
the trust epoch). This stage, directly after it, streams over a window of
``window_frames`` frames on each side and fills what the warp left empty from the
neighbours' decoded pictures (``method="mosaic"``, see :mod:`mmpipe.vision.mosaic`). The
frames are not warped again: only their empty border is composited. It holds at most
``2 * window_frames + 1`` frames, however long the clip, and yields each frame
``window_frames`` frames late, in order, with its view consumed (``stabilized`` None).

:func:`stabilize_stages` turns a user-facing ``fill`` (``none``, ``crop``, ``mosaic``) into
stages; `mmpipe.enhance`, `mmpipe.stabilize` and the CLI's ``--fill`` all go through it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields, replace

from mmpipe.errors import ConfigError
from mmpipe.media.frames import StabilizedView, VideoFrame
from mmpipe.pipeline.stage import VideoSpec
from mmpipe.stages.stabilize import Stabilize
from mmpipe.vision.mosaic import Mosaic, MosaicOptions
from mmpipe.vision.warp import FILLS as WARP_FILLS

METHODS = ("mosaic",)
FILLS = (*WARP_FILLS, *METHODS)  # what --fill and fill= accept


@dataclass(frozen=True)
class FillBordersConfig:
    """Options of :class:`FillBorders`.

    ``method``: ``mosaic`` (the neighbouring frames warped into the frame, nearest in time
    first, exposure matched and aligned per pixel near the border; what none of them saw
    repeats the frame's edge). ``window_frames``: neighbours looked at on each side (the
    stage's latency). ``max_neighbours``, ``feather_px``, ``refine``: as in
    :class:`~mmpipe.vision.mosaic.MosaicOptions`.
    """

    method: str = "mosaic"
    window_frames: int = MosaicOptions.window_frames
    max_neighbours: int = MosaicOptions.max_neighbours
    feather_px: float = MosaicOptions.feather_px
    refine: bool = MosaicOptions.refine

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ConfigError(f"unknown FillBorders method {self.method!r}; use one of {METHODS}")
        if self.window_frames < 1:
            raise ConfigError(f"window_frames must be at least 1, got {self.window_frames}")
        if self.max_neighbours < 1:
            raise ConfigError(f"max_neighbours must be at least 1, got {self.max_neighbours}")
        if self.feather_px < 0:
            raise ConfigError(f"feather_px must be 0 or more, got {self.feather_px}")


class FillBorders:
    """Fills the borders ``Stabilize(fill="none")`` leaves empty (implements ``VideoStage``).

    ``FillBorders()`` or ``FillBorders(window_frames=8)`` or
    ``FillBorders(FillBordersConfig(...))``; it must come directly after
    ``Stabilize(fill="none")`` (a `Pipeline` checks).
    """

    # Compositing works on either layout, like Stabilize's warp.
    pixel_formats = ("yuv420p", "rgb24")
    needs_stabilized = True  # frames must carry Stabilize(fill="none")'s view

    def __init__(self, config: FillBordersConfig | None = None, **options) -> None:
        known = {f.name for f in fields(FillBordersConfig)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ConfigError(f"unknown FillBorders options {unknown}; use some of {sorted(known)}")
        self.config = replace(config or FillBordersConfig(), **options)
        self._mosaic: Mosaic | None = None
        # the window, keyed by arrival position: frames and their views
        self._frames: dict[int, VideoFrame] = {}
        self._views: dict[int, StabilizedView] = {}
        self._received = 0
        self._next_out = 0

    @property
    def latency(self) -> int:
        return self.config.window_frames

    def configure(self, spec: VideoSpec) -> VideoSpec:
        """Prepare the compositing for the stream; frames keep their size and layout."""
        cfg = self.config
        options = MosaicOptions(
            window_frames=cfg.window_frames,
            max_neighbours=cfg.max_neighbours,
            feather_px=cfg.feather_px,
            refine=cfg.refine,
        )
        self._mosaic = Mosaic(
            width_px=spec.width_px,
            height_px=spec.height_px,
            pixel_format=spec.pixel_format,
            full_range=spec.full_range,
            options=options,
        )
        self._frames, self._views = {}, {}
        self._received = self._next_out = 0
        return spec

    def process(self, frame: VideoFrame) -> Iterator[VideoFrame]:
        """Take one stabilized frame; yield the one ``latency`` frames back, filled."""
        if self._mosaic is None:
            raise ConfigError("FillBorders.configure must run before its frames")
        if frame.stabilized is None:
            raise ConfigError(
                "FillBorders fills what Stabilize(fill='none') leaves empty: put it directly "
                f"after Stabilize(fill='none') (frame {frame.index} came without its view)"
            )
        self._frames[self._received] = frame
        self._views[self._received] = frame.stabilized
        self._received += 1
        while self._next_out + self.latency < self._received:
            yield self._render()

    def flush(self) -> Iterator[VideoFrame]:
        while self._next_out < self._received:
            yield self._render()
        self._frames, self._views = {}, {}

    def _render(self) -> VideoFrame:
        """The next frame, filled from the window; frames out of reach are let go."""
        assert self._mosaic is not None
        i = self._next_out
        frame = self._frames[i]
        image = self._mosaic.render(i, self._views, frame.image)
        self._next_out += 1
        for j in [j for j in self._frames if j < self._next_out - self.latency]:
            del self._frames[j], self._views[j]
        return replace(frame, image=image, stabilized=None)


def stabilize_stages(*, fill: str = "crop", **stabilize_options) -> list[Stabilize | FillBorders]:
    """The video stages of a user-facing ``fill``: ``none`` or ``crop`` ->
    ``[Stabilize(fill=fill)]``; ``mosaic`` -> ``[Stabilize(fill="none"),
    FillBorders(method="mosaic")]``. ``stabilize_options`` go to :class:`Stabilize`
    (``preset``, ``strength``, ``method``, ``plan``, ...)."""
    if fill in METHODS:
        return [Stabilize(fill="none", **stabilize_options), FillBorders(method=fill)]
    if fill not in WARP_FILLS:
        raise ConfigError(f"unknown fill {fill!r}; use one of {FILLS}")
    return [Stabilize(fill=fill, **stabilize_options)]
