"""The command line: every bad input is one line on stderr and a non-zero exit."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import av
import pytest

from mmpipe.cli import main
from tests.clips import write_audio_only, write_clip


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_info_prints_streams_and_json(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    clip = write_clip(tmp_path / "in.mp4", rotation_deg=90)
    code, out, _ = run_cli(capsys, "info", clip)
    assert code == 0
    assert "h264 64x48" in out and "rotation 90 deg" in out and "48000 Hz" in out
    code, out, _ = run_cli(capsys, "info", clip, "--json")
    assert code == 0
    assert json.loads(out)["video"]["rotation_deg"] == 90


def test_enhance_writes_the_output(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    clip = write_clip(tmp_path / "in.mp4")
    code, out, err = run_cli(capsys, "enhance", clip, "-o", tmp_path / "out.mkv", "--crf", "20")
    assert code == 0, err
    assert "wrote" in out and (tmp_path / "out.mkv").stat().st_size > 0
    assert "render" in err  # the progress bar


def _zero_length(path: Path) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        container.start_encoding()  # a header, and not one frame
    return path


def _truncated(path: Path) -> Path:
    clip = write_clip(path.with_name("whole.mp4"), frames=30)
    path.write_bytes(clip.read_bytes()[: clip.stat().st_size // 2])
    return path


BAD_INPUTS = {
    "missing": (lambda d: d / "nope.mp4", "no such file"),
    "not media": (lambda d: (d / "notes.mp4").write_text("hello") and d / "notes.mp4", "not a"),
    "empty": (lambda d: (d / "empty.mp4").write_bytes(b"") or d / "empty.mp4", "empty"),
    "truncated": (lambda d: _truncated(d / "cut.mp4"), "truncated"),
    "no video": (lambda d: write_audio_only(d / "voice.m4a"), "no video stream"),
    "zero length": (lambda d: _zero_length(d / "zero.mp4"), "hold no data"),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture, case: str) -> None:
    make, expected = BAD_INPUTS[case]
    source = make(tmp_path)
    code, _, err = run_cli(capsys, "enhance", source, "-o", tmp_path / "out.mp4")
    assert code == 1
    assert err.count("\n") == 1 and err.startswith("mmpipe: error:") and expected in err, err
    assert not (tmp_path / "out.mp4").exists()
    assert not list(tmp_path.glob(".*partial*"))


def test_bad_outputs(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    clip = write_clip(tmp_path / "in.mp4")
    original = clip.read_bytes()
    (tmp_path / "file").write_text("x")
    cases = {
        clip: "the output is the input",
        tmp_path / "missing" / "out.mp4": "does not exist",
        tmp_path / "file" / "out.mp4": "does not exist",
        tmp_path / "out.avi": "cannot write .avi",
    }
    for output, expected in cases.items():
        code, _, err = run_cli(capsys, "enhance", clip, "-o", output)
        assert code == 1 and err.count("\n") == 1 and expected in err, err
    assert clip.read_bytes() == original


def test_usage_errors_are_one_line(capsys: pytest.CaptureFixture) -> None:
    for args in (["enhance", "in.mp4", "-o", "o.mp4", "--bogus"], ["frobnicate"], ["enhance"]):
        code, _, err = run_cli(capsys, *args)
        assert code == 2 and err.count("\n") == 1 and err.startswith("mmpipe: error:"), err
    code, _, err = run_cli(capsys, "enhance", "in.mp4", "-o", "o.mp4", "--crf", "99")
    assert code == 1 and "crf 99" in err


def test_installed_command_reports_errors_without_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mmpipe.cli", "info", str(tmp_path / "nope.mov")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert (
        result.stderr.strip()
        == f"mmpipe: error: {tmp_path / 'nope.mov'}: no such file; check the path"
    )


SAMPLE = Path(__file__).resolve().parents[1] / "samples" / "shaky_speech.mp4"


def test_a_reader_that_stops_early_gets_no_traceback() -> None:
    """``mmpipe info f | head -1``: the pipe closes before mmpipe writes."""
    process = subprocess.Popen(
        [sys.executable, "-m", "mmpipe.cli", "info", str(SAMPLE)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    process.stdout.close()  # before the interpreter has even started
    _, err = process.communicate(timeout=120)
    assert "Traceback" not in err and "BrokenPipe" not in err, err
    assert process.returncode == 1


def test_stabilize_and_analyze_bad_options(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    clip = write_clip(tmp_path / "in.mp4", size=(128, 96), frames=20)
    other = write_clip(tmp_path / "other.mp4", size=(128, 96), frames=10)
    (tmp_path / "junk.json").write_text("{not json")
    code, _, err = run_cli(capsys, "analyze", other, "--save-plan", tmp_path / "other.json")
    assert code == 0, err
    cases = [
        (["stabilize", clip, "-o", tmp_path / "o.mp4", "--strength", "2"], 1, "strength"),
        (["stabilize", clip, "-o", tmp_path / "o.mp4", "--preset", "boat"], 2, "invalid choice"),
        (["stabilize", clip, "-o", tmp_path / "o.mp4", "--fill", "diffuse"], 2, "invalid choice"),
        (
            ["stabilize", clip, "-o", tmp_path / "o.mp4", "--plan", tmp_path / "nope.json"],
            1,
            "cannot read motion plan",
        ),
        (
            ["stabilize", clip, "-o", tmp_path / "o.mp4", "--plan", tmp_path / "junk.json"],
            1,
            "motion plan",
        ),
        (
            ["stabilize", clip, "-o", tmp_path / "o.mp4", "--plan", tmp_path / "other.json"],
            1,
            "another clip",
        ),
        (["analyze", clip, "--plot", tmp_path / "plot.jpg"], 1, "PNG"),
        (["analyze", write_audio_only(tmp_path / "a.m4a")], 1, "no video stream"),
    ]
    for args, expected_code, expected in cases:
        code, _, err = run_cli(capsys, "--quiet", *args)
        assert code == expected_code and err.count("\n") == 1 and expected in err, (args, err)
    assert not (tmp_path / "o.mp4").exists()
    assert not list(tmp_path.glob(".*partial*"))


def test_analyze_reports_shake(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    clip = write_clip(tmp_path / "in.mp4", size=(128, 96), frames=20)
    code, out, err = run_cli(capsys, "analyze", clip, "--json", "--plot", tmp_path / "p.png")
    assert code == 0, err
    figures = json.loads(out)
    assert figures["frames"] == 20 and 0 <= figures["stability_score"] <= 1
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"


def test_enhance_backend_torch_runs_the_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    pytest.importorskip("torch")
    clip = write_clip(tmp_path / "in.mp4")
    out = tmp_path / "out.mp4"
    args = ("enhance", clip, "-o", out, "--no-stabilize", "--backend", "torch")
    code, _, err = run_cli(capsys, "--quiet", *args)
    assert code == 0, err
    assert out.stat().st_size > 0


def test_enhance_runs_on_the_exported_models_without_torch(tmp_path: Path) -> None:
    """The runtime path needs onnxruntime only: torch made unimportable, enhance still works."""
    src = write_clip(tmp_path / "in.mp4", frames=20, audio_channels=1)
    out = tmp_path / "out.mp4"
    script = (
        "import sys, importlib.abc\n"
        "class NoTorch(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name.split('.')[0] == 'torch':\n"
        "            raise ImportError('torch is not installed here')\n"
        "sys.meta_path.insert(0, NoTorch())\n"
        "from mmpipe.cli import main\n"
        f"code = main(['--quiet', 'enhance', {str(src)!r}, '-o', {str(out)!r}])\n"
        "assert 'torch' not in sys.modules\n"
        "sys.exit(code)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    info = av.open(str(out))
    assert [s.type for s in info.streams] == ["video", "audio"]
    info.close()
