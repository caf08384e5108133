"""`mmpipe interpolate` and `mmpipe enhance --fps`: outputs, and one-line errors."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

import mmpipe
from mmpipe.cli import main
from tests.clips import packet_bytes, write_clip


def run_cli(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    return write_clip(tmp_path / "in.mp4", size=(96, 64), frames=15, rate=Fraction(30000, 1001))


@pytest.mark.parametrize(
    ("options", "rate", "frames"),
    [
        (["--fps", "60"], Fraction(60), 30),
        (["--fps", "24000/1001"], Fraction(24000, 1001), 12),
        (["--factor", "2"], None, 30),  # twice the input's rate
    ],
)
def test_interpolate_writes_the_new_rate_and_copies_the_sound(
    clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture, options, rate, frames
) -> None:
    out = tmp_path / "out.mp4"
    code, stdout, err = run_cli(capsys, "interpolate", clip, "-o", out, *options)
    assert code == 0, err
    assert "wrote" in stdout and "render" in err
    info = mmpipe.probe(out)
    rate = rate or 2 * mmpipe.probe(clip).video.average_rate
    assert info.video.average_rate == rate and info.video.frame_count == frames
    assert info.video.duration_s == pytest.approx(mmpipe.probe(clip).video.duration_s, abs=0.04)
    assert packet_bytes(out, 1) == packet_bytes(clip, 1)  # audio copied, bit-exact


def test_slowmo_says_the_sound_is_dropped(
    clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture, caplog: pytest.LogCaptureFixture
) -> None:
    out = tmp_path / "slow.mp4"
    code, _, err = run_cli(capsys, "--quiet", "interpolate", clip, "-o", out, "--slowmo", "3")
    assert code == 0, err
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("audio stream #1 (aac) is not written" in w for w in warnings), warnings
    info = mmpipe.probe(out)
    assert info.video.frame_count == 45
    assert info.video.average_rate == mmpipe.probe(clip).video.average_rate
    assert not info.audio


def test_enhance_fps_converts_last(
    clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "out.mkv"
    code, _, err = run_cli(
        capsys,
        "enhance",
        clip,
        "-o",
        out,
        "--fps",
        "50",
        "--no-denoise",
        "--x264-preset",
        "ultrafast",
    )
    assert code == 0, err
    info = mmpipe.probe(out)
    assert info.video.average_rate == 50 and info.video.frame_count == 25
    assert len(info.audio) == 1


@pytest.mark.parametrize(
    ("options", "message", "status"),
    [
        (["--fps", "0"], "frame rate 0 is out of range", 1),
        (["--fps", "-24"], "frame rate -24 is out of range", 1),
        (["--fps", "sixty"], "frame rate 'sixty' is not a number", 1),
        (["--fps", "1/0"], "is not a number", 1),
        (["--factor", "0"], "factor 0 is out of range", 1),
        (["--slowmo", "1"], "slowmo 1 must be more than 1", 1),
        (["--fps", "60", "--factor", "2"], "not allowed with argument", 2),
        ([], "one of the arguments --fps --factor --slowmo is required", 2),
    ],
)
def test_bad_values_are_one_line_errors(
    clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture, options, message, status
) -> None:
    out = tmp_path / "out.mp4"
    code, _, err = run_cli(capsys, "interpolate", clip, "-o", out, *options)
    assert code == status
    assert err.startswith("mmpipe: error:") and message in err and err.count("\n") == 1, err
    assert not out.exists() and list(tmp_path.iterdir()) == [clip]


def test_enhance_with_a_bad_fps_is_one_line(
    clip: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    code, _, err = run_cli(capsys, "enhance", clip, "-o", tmp_path / "o.mp4", "--fps", "0")
    assert code == 1 and err.count("\n") == 1 and "frame rate 0 is out of range" in err
