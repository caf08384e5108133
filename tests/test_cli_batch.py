"""`mmpipe enhance FOLDER -o OUTDIR`: the table, the exit status, kills and resumes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mmpipe.cli import main
from tests.clips import decoded_rgb, write_clip
from tests.test_batch import make_folder

FAST = ("--x264-preset", "ultrafast")


def run_cli(capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_folder_table_and_exit_status(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    clips = make_folder(tmp_path / "in")
    out = tmp_path / "out"
    code, stdout, err = run_cli(capsys, "enhance", clips, "-o", out, "-r", *FAST)
    assert code == 1, err  # the corrupt file failed; the others were written
    rows = {line.split()[0]: line.split()[1] for line in stdout.splitlines()[1:-1]}
    assert rows == {
        "a.mp4": "processed",
        "b.mov": "processed",
        "bad.mp4": "failed",
        "sub/c.mkv": "processed",
    }
    assert "not a readable media file" in stdout and "3 processed, 0 skipped, 1 failed" in stdout
    # the bar over files, and the one over frames labelled with the current file and phase
    # (which phases show depends on how fast the files go)
    assert "files" in err and "a.mp4 analyze" in err
    assert len(decoded_rgb(out / "sub" / "c.mkv")) == 22
    code, stdout, err = run_cli(capsys, "--quiet", "enhance", clips, "-o", out, "-r", *FAST)
    assert code == 1 and stdout == ""
    assert err.startswith("mmpipe: error: bad.mp4: ") and err.count("\n") == 1, err


def test_glob_with_jobs_then_resume(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    clips = make_folder(tmp_path / "in")
    pattern = str(clips / "**" / "[abc].m*")  # every good clip, in the subfolder too
    args = ("enhance", pattern, "-o", tmp_path / "out", "-r", "--jobs", "2", *FAST)
    code, stdout, err = run_cli(capsys, *args)
    assert code == 0, err
    assert "3 processed, 0 skipped, 0 failed" in stdout
    code, stdout, err = run_cli(capsys, *args)
    assert code == 0 and "0 processed, 3 skipped, 0 failed" in stdout, err


def test_batch_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    clips = make_folder(tmp_path / "in")
    one = clips / "a.mp4"
    for args, expected_code, expected in [
        (["enhance", one, "-o", tmp_path / "o.mp4", "--jobs", "2"], 2, "--jobs is for a folder"),
        (["enhance", one, "-o", tmp_path / "o.mp4", "-r"], 2, "--recursive is for a folder"),
        (["enhance", clips, "-o", clips], 1, "would overwrite an input"),
        (["enhance", clips, "-o", tmp_path / "o", "--address", "x:1"], 1, "needs --engine ray"),
        (["enhance", clips, "-o", tmp_path / "o", "--jobs", "0"], 1, "jobs must be at least 1"),
        (["enhance", clips / "*.wmv", "-o", tmp_path / "o"], 1, "no videos found"),
    ]:
        code, _, err = run_cli(capsys, *args)
        assert code == expected_code and err.count("\n") == 1 and expected in err, (args, err)
    assert not (tmp_path / "o.mp4").exists()


# --- killed runs ----------------------------------------------------------------------------


def _slow_folder(root: Path) -> Path:
    """Clips that take a few seconds each, so that a kill lands in the middle of one."""
    root.mkdir()
    for name in ("a.mp4", "b.mp4", "c.mov", "d.mkv"):
        write_clip(root / name, size=(320, 240), frames=60)
    return root


def _start(clips: Path, out: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "mmpipe.cli", "--quiet", "enhance", str(clips)]
    command += ["-o", str(out), "--jobs", "2"]
    return subprocess.Popen(command, start_new_session=True, stderr=subprocess.PIPE, text=True)


def _wait_for_partial(
    out: Path, process: subprocess.Popen, *, finished: int = 0, timeout_s: float = 120.0
) -> None:
    """Until an output is half written (and ``finished`` others are complete)."""
    deadline = time.monotonic() + timeout_s
    while not list(out.glob(".*.partial.*")) or len(list(out.glob(".*.mmpipe.json"))) < finished:
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        assert time.monotonic() < deadline, "no output was started"
        time.sleep(0.02)


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()]


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def _outputs(out: Path) -> list[Path]:
    return sorted(p for p in out.iterdir() if not p.name.startswith("."))


def test_kill_9_at_any_moment_then_resume(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """The whole process group killed while an output is half written: nothing under an
    output's name is incomplete, and the same command finishes the job."""
    clips, out = _slow_folder(tmp_path / "in"), tmp_path / "out"
    process = _start(clips, out)
    _wait_for_partial(out, process, finished=1)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert list(out.glob(".*.partial.*"))  # killed mid-file: the half-written output is there
    for output in _outputs(out):  # whatever carries an output's name is complete
        assert len(decoded_rgb(output)) == 60
    # a record is written once its output is in place and flushed (a kill in between leaves
    # the output without one: it is then made again)
    recorded = len(list(out.glob(".*.mmpipe.json")))
    assert recorded >= 1
    code, stdout, err = run_cli(capsys, "enhance", clips, "-o", out, "--jobs", "2")
    assert code == 0, err
    assert f"{4 - recorded} processed, {recorded} skipped, 0 failed" in stdout
    assert [p.name for p in _outputs(out)] == ["a.mp4", "b.mp4", "c.mov", "d.mkv"]
    assert all(len(decoded_rgb(p)) == 60 for p in _outputs(out))
    assert not list(out.glob(".*.partial.*"))


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
def test_workers_stop_when_their_parent_is_killed(tmp_path: Path) -> None:
    clips, out = _slow_folder(tmp_path / "in"), tmp_path / "out"
    process = _start(clips, out)
    _wait_for_partial(out, process)
    workers = _children(process.pid)
    assert len(workers) == 2
    process.kill()  # only the parent: its workers notice and remove their partial outputs
    process.wait()
    deadline = time.monotonic() + 30
    while any(map(_running, workers)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(map(_running, workers))
    assert not list(out.glob(".*.partial.*"))
    assert all(len(decoded_rgb(p)) == 60 for p in _outputs(out))


def test_ctrl_c_stops_the_batch_cleanly(tmp_path: Path) -> None:
    clips, out = _slow_folder(tmp_path / "in"), tmp_path / "out"
    process = _start(clips, out)
    _wait_for_partial(out, process)
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130
    assert err.strip().splitlines()[-1].startswith("mmpipe: interrupted; finished outputs")
    assert not list(out.glob(".*.partial.*"))
    assert all(len(decoded_rgb(p)) == 60 for p in _outputs(out))
