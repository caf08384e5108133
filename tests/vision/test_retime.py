"""Retiming: exact output rates, duration, scene cuts held, duplicates retimed, VFR."""

from __future__ import annotations

from fractions import Fraction

import pytest

from mmpipe.errors import ConfigError
from mmpipe.vision.retime import InputFrame, Pick, Retimer, retime


def frames_at(times: list[Fraction], **flags: set[int]) -> list[InputFrame]:
    cuts, dups = flags.get("cuts", set()), flags.get("duplicates", set())
    return [InputFrame(i, t, i in cuts, i in dups) for i, t in enumerate(times)]


def check_picks(picks: list[Pick], times: list[Fraction], rate: Fraction, snap: float) -> None:
    """Every pick refers to the input frames around its output time, at the right t."""
    for k, pick in enumerate(picks):
        s = times[0] + Fraction(k) / rate
        if pick.j is None:
            continue
        assert times[pick.i] < s < times[pick.j]
        assert pick.t == pytest.approx(float((s - times[pick.i]) / (times[pick.j] - times[pick.i])))
        assert snap < pick.t < 1 - snap


def test_24000_1001_to_60_counts_and_duration() -> None:
    period = Fraction(1001, 24000)
    times = [i * period for i in range(240)]
    rate = Fraction(60)
    picks = retime(frames_at(times), rate)
    duration = 240 * period
    assert len(picks) == round(duration * rate) == 601
    assert abs(Fraction(len(picks)) / rate - duration) <= Fraction(1, 2) / rate
    check_picks(picks, times, rate, 0.03)
    shown = [p for p in picks if p.j is None]
    assert picks[0] == Pick(0) and 0 < len(shown) < len(picks) // 2
    for k, pick in enumerate(picks):  # shown frames really fall on their output time
        s = Fraction(k) / rate
        if pick.j is None and s <= times[-1]:  # (after the last frame, it is held)
            assert abs(s - times[pick.i]) <= Fraction(3, 100) * period


def test_lowering_the_rate_picks_existing_frames() -> None:
    times = [Fraction(i, 60) for i in range(60)]
    picks = retime(frames_at(times), Fraction(30))
    assert picks == [Pick(2 * k) for k in range(30)]


def test_never_blends_across_a_cut() -> None:
    times = [Fraction(i, 24) for i in range(20)]
    picks = retime(frames_at(times, cuts={10}), Fraction(60))
    assert len(picks) == 50
    assert not any(p.j is not None and p.i < 10 <= p.j for p in picks)
    # between the last frame of shot A and the first of B: the nearer one, held
    around = [p for k, p in enumerate(picks) if times[9] < Fraction(k, 60) < times[10]]
    assert around and all(p.j is None and p.i in (9, 10) for p in around)
    assert any(p.j is not None for p in picks[:20]) and any(p.j is not None for p in picks[26:])


def test_duplicates_are_retimed_not_held() -> None:
    times = [Fraction(i, 30) for i in range(12)]
    picks = retime(frames_at(times, duplicates={5}), Fraction(30))
    assert len(picks) == 12
    assert picks[5] == Pick(4, 6, 0.5)  # the repeated picture replaced by motion
    assert all(5 not in (p.i, p.j) for p in picks)
    assert [p for k, p in enumerate(picks) if k != 5] == [Pick(k) for k in range(12) if k != 5]


def test_long_runs_of_identical_frames_are_a_held_picture() -> None:
    times = [Fraction(i, 30) for i in range(12)]
    picks = retime(frames_at(times, duplicates={3, 4, 5, 6}), Fraction(30), max_duplicate_run=2)
    assert picks == [Pick(k) for k in range(12)]


def test_variable_frame_rate_uses_the_real_timestamps() -> None:
    times = [Fraction(ms, 1000) for ms in (0, 33, 70, 100, 150, 166, 200, 233)]
    rate = Fraction(60)
    picks = retime(frames_at(times), rate, end_s=Fraction(266, 1000))
    assert len(picks) == 16
    check_picks(picks, times, rate, 0.03)
    assert picks[7] == Pick(
        3, 4, pytest.approx(float((Fraction(7, 60) - Fraction(1, 10)) / Fraction(1, 20)))
    )


def test_streaming_emits_as_soon_as_the_next_key_arrives() -> None:
    retimer = Retimer(Fraction(60))
    assert list(retimer.add(InputFrame(0, Fraction(0)))) == []
    made = list(retimer.add(InputFrame(1, Fraction(1, 30))))
    assert made == [(0, Pick(0)), (1, Pick(0, 1, 0.5))]
    assert retimer.oldest_needed() == 1
    assert list(retimer.finish(Fraction(2, 30))) == [(2, Pick(1)), (3, Pick(1, None, 0.0))]


def test_the_keys_around_a_key_say_whether_they_share_its_shot() -> None:
    """Duplicates are skipped, a cut or a held picture separates shots, and the key after
    a key is unknown until it arrives."""
    retimer = Retimer(Fraction(30))
    times = [Fraction(i, 30) for i in range(12)]
    flags = frames_at(times, cuts={4}, duplicates={2, 7, 8, 9})
    for frame in flags[:4]:
        list(retimer.add(frame))
    assert retimer.key_beside(0, after=False) is None
    assert retimer.key_beside(1, after=True) == (3, True)  # frame 2 repeats frame 1: not a key
    assert retimer.key_beside(3, after=False) == (1, True)
    assert retimer.key_beside(3, after=True) is None  # not arrived yet
    for frame in flags[4:7]:
        list(retimer.add(frame))
    assert retimer.key_beside(3, after=True) == (4, False)  # a cut
    assert retimer.key_beside(5, after=True) == (6, True)
    for frame in flags[7:]:
        list(retimer.add(frame))
    assert retimer.key_beside(6, after=True) == (7, False)  # 7-9: a held picture, longer than 2
    assert retimer.key_beside(10, after=False) == (9, True)


def test_bad_timing_is_refused() -> None:
    with pytest.raises(ConfigError):
        Retimer(Fraction(0))
    retimer = Retimer(Fraction(30))
    list(retimer.add(InputFrame(0, Fraction(1, 30))))
    with pytest.raises(ConfigError, match="timestamps must increase"):
        list(retimer.add(InputFrame(1, Fraction(1, 30))))
