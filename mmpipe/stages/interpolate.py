"""The Interpolate stage: a new, exact frame rate from in-between frames.

Streaming: each input frame is compared with the one before it (scene cut?
duplicate?) on a small grey copy, handed to a :class:`~mmpipe.vision.retime.Retimer`,
and every output frame that becomes decidable is emitted: an input frame as it is, or
one synthesized between the two input frames around its time. Output frame ``k`` has
``pts = start + k * step`` on a time base that holds both the input's first timestamp
and the output rate exactly (``1/lcm(input time base, rate numerator)``: 24000/1001 in,
60 out on a 1/24000 time base gives ``step`` 400), so the output lasts as long as the
input to within half an output frame and the audio, untouched, stays in sync.

Scene cuts (the 32-bin grey histograms of two frames differ by a Bhattacharyya distance
above ``cut_histogram_distance``, the test stabilization uses; or, when a frame between
them is needed, fewer than ``min_consistent_fraction`` of the pixels have a flow that
passes the forward-backward check and lands on the same grey level: 0.00-0.06 across the
cuts measured, 0.3 or more within shots, even with fast motion) are never interpolated
across: the nearer frame is held. Near-duplicate frames (mean absolute grey difference at most
``duplicate_mean_abs_diff`` on the small copy) are left out of the timing, up to
``max_duplicate_run`` in a row.

Large frames: flow is estimated on frames at most ``flow_width_px`` wide and all
per-pair reasoning runs at that size; only the final two warps and the blend run at
full resolution, per pixel, so cost is bounded and there are no tiles or seams.

Curved paths: a frame made between input frames ``i`` and ``j`` waits for the next time
key after ``j``, so that each pixel's path bends with the frames on either side of the
pair (:meth:`~mmpipe.vision.interpolate.PairSynthesis.use_neighbours`). A neighbouring
pair counts when frames are synthesized between its two frames too, so its flows cost
nothing extra (raising the rate, every pair is; lowering it, some are skipped and fewer
paths bend); neither side is used across a cut or a held picture. The stage holds back at most
``2 * max_duplicate_run + 3`` input frames (and keeps the one key before them, with any
duplicates of it, for its flow).

Methods: ``flow`` synthesizes with :class:`~mmpipe.vision.interpolate.PairSynthesis`.
The learned interpolator (``mmpipe/runtime/interpolator.py``) shares the signature of
:func:`~mmpipe.vision.interpolate.synthesize`; adding it as ``net`` means listing it in
``METHODS`` and, in ``_render``, calling its ``synthesize`` on the RGB frames with the
pair's work-scale flows brought to full size (``upscale_flow(pair.flow01, H, W)``,
:func:`~mmpipe.vision.flow.upscale_flow`); cut and duplicate handling, retiming and the consistency
check stay as they are.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass, fields, replace
from fractions import Fraction

import cv2
import numpy as np

from mmpipe.errors import ConfigError
from mmpipe.media.frames import VideoFrame, pack_yuv420p, yuv420p_planes
from mmpipe.pipeline.stage import VideoSpec
from mmpipe.vision.flow import dense_flow_small, downscale, to_grey
from mmpipe.vision.interpolate import PairSynthesis
from mmpipe.vision.retime import InputFrame, Pick, Retimer

logger = logging.getLogger(__name__)

METHODS = ("flow",)  # "net" (the learned interpolator) joins when its runtime lands
MAX_TIME_BASE_DENOMINATOR = 10**8
MAX_RATE = Fraction(1000)


def parse_rate(value: str | float | Fraction, what: str = "frame rate") -> Fraction:
    """A frame rate (or ratio) from ``60``, ``"29.97"``, ``"24000/1001"``, a Fraction; exact."""
    try:
        rate = Fraction(value) if not isinstance(value, float) else Fraction(str(value))
    except (ValueError, ZeroDivisionError, TypeError):
        raise ConfigError(
            f"{what} {value!r} is not a number; write e.g. 60, 29.97 or 30000/1001"
        ) from None
    if rate <= 0 or rate > MAX_RATE:
        raise ConfigError(f"{what} {value} is out of range; use a value in (0, {MAX_RATE}]")
    return rate


@dataclass(frozen=True)
class InterpolateConfig:
    """Options of :class:`Interpolate`.

    Exactly one of ``fps`` (the output rate: a Fraction, number or "24000/1001"; lower
    than the input's is allowed and resamples in time the same way), ``factor`` (output
    rate = ``factor`` x the input's average rate) and ``slowmo`` (slow motion: ``slowmo``
    times as many frames, played at the input's average rate, so the video lasts
    ``slowmo`` times longer; a pipeline then writes no audio, see ``mmpipe.interpolate``).
    ``method``: ``flow`` (classical optical flow). ``flow_width_px``: flow is estimated on
    frames shrunk to at most this width.
    """

    fps: Fraction | str | float | None = None
    factor: Fraction | str | float | None = None
    slowmo: Fraction | str | float | None = None
    method: str = "flow"
    flow_width_px: int = 640
    cut_histogram_distance: float = 0.5
    duplicate_mean_abs_diff: float = 0.5
    max_duplicate_run: int = 2
    min_consistent_fraction: float = 0.15

    def __post_init__(self) -> None:
        given = [name for name in ("fps", "factor", "slowmo") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ConfigError("give Interpolate exactly one of fps=, factor= and slowmo=")
        if self.fps is not None:
            object.__setattr__(self, "fps", parse_rate(self.fps))
        for name in ("factor", "slowmo"):
            value = getattr(self, name)
            if value is not None:
                ratio = parse_rate(value, name)
                if ratio > 64:
                    raise ConfigError(f"{name} {value} is too large; use at most 64")
                if name == "slowmo" and ratio <= 1:
                    raise ConfigError(f"slowmo {value} must be more than 1 (4: four times slower)")
                object.__setattr__(self, name, ratio)
        if self.method not in METHODS:
            raise ConfigError(f"unknown interpolation method {self.method!r}; use one of {METHODS}")
        if self.flow_width_px < 32:
            raise ConfigError("flow_width_px must be at least 32")
        if self.max_duplicate_run < 0:
            raise ConfigError("max_duplicate_run must be 0 or more")


def output_time_base(time_base: Fraction, rate: Fraction) -> Fraction:
    """A ``1/N`` time base holding ``time_base`` ticks and ``1/rate`` periods exactly.

    Falls back to ``1/rate.numerator`` (the output grid alone) when the exact one would
    be too fine for containers.
    """
    if time_base.numerator == 1:
        n = math.lcm(time_base.denominator, rate.numerator)
        if n <= MAX_TIME_BASE_DENOMINATOR:
            return Fraction(1, n)
    return Fraction(1, rate.numerator)


@dataclass(frozen=True, slots=True)
class _Held:
    """An input frame kept for synthesis, with its small grey copy."""

    frame: VideoFrame
    grey: np.ndarray


class Interpolate:
    """Frame-rate conversion stage (implements ``VideoStage``).

    ``Interpolate(fps=60)``, ``Interpolate(factor=2)`` or
    ``Interpolate(InterpolateConfig(...))``. Takes rgb24 and yuv420p frames. After a run,
    ``stats`` counts output frames ``shown`` as they are (held ones included),
    ``synthesized``, and ``held_at_cut`` because the flow found a cut the histogram test
    missed; and input frames: ``cuts`` (histogram test), ``duplicates`` merged, and
    ``out_of_order`` (a timestamp not after the previous one: left out, with a warning).
    """

    pixel_formats = ("yuv420p", "rgb24")
    retimes = True  # new pts on a new time base; ``latency`` counts input frames

    def __init__(self, config: InterpolateConfig | None = None, **options: object) -> None:
        known = {f.name for f in fields(InterpolateConfig)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ConfigError(f"unknown Interpolate options {unknown}; use some of {sorted(known)}")
        if config is None:
            config = InterpolateConfig(**options)  # type: ignore[arg-type]
        elif options:
            config = replace(config, **options)  # type: ignore[arg-type]
        self.config = config
        self._spec: VideoSpec | None = None
        self.stats: dict[str, int] = {}

    @property
    def latency(self) -> int:
        return 2 * self.config.max_duplicate_run + 3

    def configure(self, spec: VideoSpec) -> VideoSpec:
        """Set the output rate and time base; returns the spec of the frames yielded."""
        cfg = self.config
        slowmo = Fraction(cfg.slowmo) if cfg.slowmo is not None else Fraction(1)
        if cfg.fps is not None:
            rate = Fraction(cfg.fps)
        else:
            if spec.average_rate <= 0:
                raise ConfigError("the input's frame rate is unknown; give fps= instead")
            ratio = Fraction(cfg.factor) if cfg.factor is not None else Fraction(1)
            rate = (spec.average_rate * ratio).limit_denominator(1001)
        #: the output's frame rate; frames sample the input at ``rate * slowmo``
        self.rate = rate
        self.out_time_base = output_time_base(spec.time_base, rate)
        self.step = int(1 / (rate * self.out_time_base))
        self.scale = min(1.0, cfg.flow_width_px / spec.width_px)
        self._spec = spec
        self._retimer = Retimer(rate * slowmo, max_duplicate_run=cfg.max_duplicate_run)
        self._held: dict[int, _Held] = {}
        self._prev: _Held | None = None
        self._prev_hist: np.ndarray | None = None
        self._pairs: dict[tuple[int, int], PairSynthesis | None] = {}
        self._bent: tuple[int, int] | None = None  # the pair whose neighbours are set
        self._queue: list[tuple[int, Pick]] = []  # decided output frames not yet rendered
        self._start_pts = 0
        self.stats = dict.fromkeys(
            ("shown", "synthesized", "held_at_cut", "cuts", "duplicates", "out_of_order"), 0
        )
        self._last_time: Fraction | None = None
        frames = round(spec.duration_s * rate * slowmo) if spec.duration_s > 0 else 0
        return replace(
            spec,
            time_base=self.out_time_base,
            average_rate=rate,
            frame_count=frames,
            duration_s=spec.duration_s * float(slowmo),
            variable_frame_rate=False,
        )

    def process(self, frame: VideoFrame) -> Iterator[VideoFrame]:
        if self._spec is None:
            raise ConfigError("Interpolate.configure(spec) must be called before process()")
        time_s = Fraction(frame.pts) * frame.time_base
        if self._last_time is not None and time_s <= self._last_time:
            logger.warning(
                "frame %d at %.6f s is not after the previous frame; left out of the timing",
                frame.index,
                float(time_s),
            )
            self.stats["out_of_order"] += 1
            return
        self._last_time = time_s
        grey = self._small_grey(frame)
        held = _Held(frame, grey)
        hist = cv2.calcHist([grey], [0], None, [32], [0, 256])
        cv2.normalize(hist, hist, 1.0, 0.0, cv2.NORM_L1)
        cut = duplicate = False
        if self._prev is not None:
            distance = cv2.compareHist(self._prev_hist, hist, cv2.HISTCMP_BHATTACHARYYA)
            cut = distance > self.config.cut_histogram_distance
            if not cut:
                diff = float(cv2.absdiff(self._prev.grey, grey).mean())
                duplicate = diff <= self.config.duplicate_mean_abs_diff
        else:
            self._start_pts = round(frame.pts * frame.time_base / self.out_time_base)
        self.stats["cuts"] += cut
        self.stats["duplicates"] += duplicate
        self._prev, self._prev_hist = held, hist
        self._held[frame.index] = held
        self._queue.extend(self._retimer.add(InputFrame(frame.index, time_s, cut, duplicate)))
        yield from self._emit()

    def flush(self) -> Iterator[VideoFrame]:
        if self._spec is None or self._prev is None:
            return
        end = self._retimer.end_time()
        assert end is not None
        self._queue.extend(self._retimer.finish(end))
        yield from self._emit(final=True)
        self._held.clear()
        self._pairs.clear()
        self._bent = None
        self._prev = None

    def _emit(self, *, final: bool = False) -> Iterator[VideoFrame]:
        """Render the queued output frames in order, as far as each can be: a frame made
        between two inputs waits for the input after them (the path's bend) unless
        ``final``."""
        while self._queue:
            k, pick = self._queue[0]
            latest_key = self._retimer.oldest_needed()
            if pick.j is not None and not final and latest_key is not None and latest_key <= pick.j:
                break
            self._queue.pop(0)
            yield VideoFrame(
                image=self._render(pick),
                pts=self._start_pts + k * self.step,
                time_base=self.out_time_base,
                index=k,
                pixel_format=self._spec.pixel_format if self._spec else "rgb24",
            )
        first = self._queue[0][1].i if self._queue else self._retimer.oldest_needed()
        if first is not None:
            before = self._retimer.key_beside(first, after=False)
            oldest = before[0] if before is not None else first
            for index in [i for i in self._held if i < oldest]:
                del self._held[index]
            for key in [key for key in self._pairs if key[0] < oldest]:
                del self._pairs[key]

    def _render(self, pick: Pick) -> np.ndarray:
        a = self._held[pick.i]
        if pick.j is None:
            self.stats["shown"] += 1
            return a.frame.image
        b = self._held[pick.j]
        pair = self._pair_for(pick.i, pick.j)
        if pair is None:  # the flow failed its consistency check: treat as a cut
            self.stats["held_at_cut"] += 1
            return (a if pick.t < 0.5 else b).frame.image
        if self._bent != (pick.i, pick.j):
            pair.use_neighbours(self._neighbour(pick.i, before=True), self._neighbour(pick.j))
            self._bent = (pick.i, pick.j)
        self.stats["synthesized"] += 1
        if a.frame.pixel_format == "yuv420p":
            planes = pair.at_planes(
                list(yuv420p_planes(a.frame.image)), list(yuv420p_planes(b.frame.image)), pick.t
            )
            return pack_yuv420p(*planes)
        return pair.at(a.frame.image, b.frame.image, pick.t)

    def _neighbour(self, key: int, *, before: bool = False) -> PairSynthesis | None:
        """The pair of time key ``key`` and the key before (or after) it, when both are
        in one shot and frames are synthesized between them too (so its flows cost
        nothing extra); else None."""
        found = self._retimer.key_beside(key, after=not before)
        if found is None or not found[1]:
            return None
        pair_key = (found[0], key) if before else (key, found[0])
        synthesized = pair_key in self._pairs or any(
            (pick.i, pick.j) == pair_key for _, pick in self._queue
        )
        return self._pair_for(*pair_key) if synthesized else None

    def _pair_for(self, i: int, j: int) -> PairSynthesis | None:
        """The flows of input frames ``i`` and ``j`` (cached); None when they fail the
        consistency check (a scene cut the histogram test missed)."""
        if (i, j) not in self._pairs:
            a, b = self._held[i].grey, self._held[j].grey
            pair: PairSynthesis | None = PairSynthesis(
                a, b, dense_flow_small(a, b), dense_flow_small(b, a)
            )
            if pair.consistent_fraction < self.config.min_consistent_fraction:
                logger.debug("frames %d-%d: flow inconsistent, treated as a cut", i, j)
                pair = None
            self._pairs[i, j] = pair
        return self._pairs[i, j]

    def _small_grey(self, frame: VideoFrame) -> np.ndarray:
        if frame.pixel_format == "yuv420p":
            grey = yuv420p_planes(frame.image)[0]
        else:
            grey = to_grey(frame.image)
        return np.ascontiguousarray(downscale(grey, self.scale))
