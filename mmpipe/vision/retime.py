"""Retiming: which input frames make each output frame at a new, exact frame rate.

Output frame ``k`` is shown at ``start + k / rate`` (``start`` is the first input
frame's time), for ``k < round(duration * rate)``, so the output lasts as long as the
input to within half an output frame. Each output frame is one :class:`Pick`:

- ``Pick(i)``: show input frame ``i`` as it is, when the output time falls on it (to
  within ``snap`` of the input interval), or when the two input frames around it are
  in different shots (a scene cut: the nearer one is held, never a blend across the
  cut);
- ``Pick(i, j, t)``: synthesize between input frames ``i`` and ``j`` at ``t`` in (0, 1).

Timing uses the real timestamps (variable frame rate is retimed, not assumed away).
A near-duplicate input frame (a phone that repeated a picture) is not a time key: its
neighbours are interpolated across it, so motion does not stop and start. Only short
runs count as duplicates (``max_duplicate_run``); a longer run is a held picture and
keeps its timing.

:class:`Retimer` works one input frame at a time (streaming, bounded memory);
:func:`retime` runs it over a whole list.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import NamedTuple

from mmpipe.errors import ConfigError

DEFAULT_SNAP = 0.03  # share of an input interval within which an input frame is shown as is
DEFAULT_MAX_DUPLICATE_RUN = 2  # longer runs of identical frames are a held picture


class Pick(NamedTuple):
    """How to make one output frame: input ``i`` alone, or ``i``..``j`` at ``t``."""

    i: int
    j: int | None = None
    t: float = 0.0


@dataclass(frozen=True, slots=True)
class InputFrame:
    """What the retimer needs of an input frame.

    ``time_s`` is exact (a Fraction of seconds); ``cut`` says the frame starts a new
    shot; ``duplicate`` that it repeats the previous frame.
    """

    index: int
    time_s: Fraction
    cut: bool = False
    duplicate: bool = False


class Retimer:
    """Streaming retimer: ``add`` input frames in order, then ``finish(end_s)``.

    Both yield the :class:`Pick` of each output frame that became decidable, paired
    with its output index ``k`` (shown at ``start + k / rate``).
    """

    def __init__(
        self,
        rate: Fraction,
        *,
        snap: float = DEFAULT_SNAP,
        max_duplicate_run: int = DEFAULT_MAX_DUPLICATE_RUN,
    ) -> None:
        if rate <= 0:
            raise ConfigError(f"output frame rate must be positive, got {rate}")
        if not 0.0 <= snap < 0.5:
            raise ConfigError(f"snap must be in [0, 0.5), got {snap}")
        self.rate = Fraction(rate)
        self.snap = snap
        self.max_duplicate_run = max_duplicate_run
        self.start: Fraction | None = None
        self.next_k = 0
        self._key: InputFrame | None = None  # the latest time key
        # recent time keys in order: (index, reached from the key before without a hold)
        self._recent_keys: list[tuple[int, bool]] = []
        # (a pair, a key each side, and a held picture's burst of keys)
        self._recent_limit = max_duplicate_run + 6
        self._pending: list[InputFrame] = []  # duplicates awaiting the run length verdict
        self._holding = False  # in a run of duplicates too long to merge: a held picture
        self._last_time: Fraction | None = None
        self._last_interval: Fraction | None = None

    def output_time(self, k: int) -> Fraction:
        assert self.start is not None
        return self.start + Fraction(k) / self.rate

    def oldest_needed(self) -> int | None:
        """The smallest input index a future pick can refer to (older ones can be freed)."""
        return None if self._key is None else self._key.index

    def key_beside(self, index: int, *, after: bool) -> tuple[int, bool] | None:
        """The time key after (or before) key ``index`` and whether the two are in one shot
        (no cut or held picture between them); None while the one after has not arrived,
        for the first key's one before, and for keys no longer recent."""
        for (earlier, _), (later, joined) in itertools.pairwise(self._recent_keys):
            if (earlier if after else later) == index:
                return (later if after else earlier), joined
        return None

    def add(self, frame: InputFrame) -> Iterator[tuple[int, Pick]]:
        """Take the next input frame; yield the output frames it makes decidable."""
        if self._last_time is not None:
            if frame.time_s <= self._last_time:
                raise ConfigError(
                    f"input frame {frame.index} at {float(frame.time_s):.6f}s is not after the "
                    "previous one; timestamps must increase"
                )
            self._last_interval = frame.time_s - self._last_time
        self._last_time = frame.time_s
        if self._key is None:
            self.start = frame.time_s
            self._key = frame
            self._recent_keys.append((frame.index, False))
            return
        if frame.duplicate and not frame.cut:
            if self._holding:
                yield from self._advance(frame, hold=True)
                return
            self._pending.append(frame)
            if len(self._pending) > self.max_duplicate_run:  # a held picture: keep its timing
                for held in self._pending:
                    yield from self._advance(held, hold=True)
                self._pending = []
                self._holding = True
            return
        self._pending = []  # any duplicates are merged: interpolate across them
        self._holding = False
        yield from self._advance(frame, hold=frame.cut)

    def finish(self, end_s: Fraction) -> Iterator[tuple[int, Pick]]:
        """Yield the remaining output frames up to the end of the input at ``end_s``."""
        if self._key is None or self.start is None:
            return
        for held in self._pending:  # trailing duplicates: nothing after them to aim for
            yield from self._advance(held, hold=True)
        self._pending = []
        total = round((end_s - self.start) * self.rate)
        while self.next_k < max(total, 1):
            yield self.next_k, Pick(self._key.index)
            self.next_k += 1

    def end_time(self) -> Fraction | None:
        """The input's end estimated from the last frame plus the last interval."""
        if self._last_time is None:
            return None
        return self._last_time + (self._last_interval or 1 / self.rate)

    def _advance(self, frame: InputFrame, *, hold: bool) -> Iterator[tuple[int, Pick]]:
        """Output frames before ``frame`` (the next time key), from the current key to it."""
        key = self._key
        assert key is not None
        span = frame.time_s - key.time_s
        while (s := self.output_time(self.next_k)) < frame.time_s:
            t = (s - key.time_s) / span
            if t <= self.snap:
                pick = Pick(key.index)
            elif t >= 1 - self.snap:
                pick = Pick(frame.index)
            elif hold:
                pick = Pick(key.index if t < Fraction(1, 2) else frame.index)
            else:
                pick = Pick(key.index, frame.index, float(t))
            yield self.next_k, pick
            self.next_k += 1
        self._key = frame
        self._recent_keys = [*self._recent_keys[1 - self._recent_limit :], (frame.index, not hold)]


def retime(
    frames: Sequence[InputFrame],
    rate: Fraction,
    *,
    end_s: Fraction | None = None,
    snap: float = DEFAULT_SNAP,
    max_duplicate_run: int = DEFAULT_MAX_DUPLICATE_RUN,
) -> list[Pick]:
    """The pick of every output frame for ``frames`` at ``rate`` (see the module doc).

    ``end_s`` is the end of the input (default: last frame plus the last interval).
    """
    retimer = Retimer(rate, snap=snap, max_duplicate_run=max_duplicate_run)
    picks: list[Pick] = []
    for frame in frames:
        picks.extend(p for _, p in retimer.add(frame))
    end = end_s if end_s is not None else retimer.end_time()
    if end is not None:
        picks.extend(p for _, p in retimer.finish(end))
    return picks
