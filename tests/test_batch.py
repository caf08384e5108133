"""Batches: many files, resumed after a kill, on local worker processes and on Ray."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest

import mmpipe
from mmpipe.batch import (
    BatchItem,
    FileResult,
    _local_threads,
    _temp_pattern,
    _UrlStore,
    find_inputs,
    options_key,
    process_file,
    run,
)
from mmpipe.errors import ConfigError, MediaError
from mmpipe.pipeline.runner import RunReport
from tests.clips import decoded_rgb, write_clip

FAST = mmpipe.EncodeSettings(preset="ultrafast")
GOOD = ("a.mp4", "b.mov", "sub/c.mkv")


def make_folder(root: Path, *, size: tuple[int, int] = (128, 96), frames: int = 20) -> Path:
    """Three good clips (one in a subfolder), a corrupt one and files that are not videos."""
    (root / "sub").mkdir(parents=True)
    for i, name in enumerate(GOOD):
        write_clip(root / name, size=size, frames=frames + i)
    (root / "bad.mp4").write_text("not a video")
    (root / "notes.txt").write_text("not a video either")
    write_clip(root / ".hidden.mp4", size=(64, 48), frames=4)
    return root


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_folder(tmp_path_factory.mktemp("batch") / "in")


def decoded_audio(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.concatenate([f.to_ndarray() for f in container.decode(audio=0)], axis=1)


def by_name(report: mmpipe.BatchReport) -> dict[str, str]:
    return {r.name: r.status for r in report.results}


def test_folder_mirrored_with_a_bad_file_reported(clips: Path, tmp_path: Path) -> None:
    events: list[mmpipe.BatchProgress] = []
    out = tmp_path / "out"
    report = mmpipe.batch(clips, out, recursive=True, encode=FAST, on_progress=events.append)
    assert by_name(report) == {
        "a.mp4": "processed",
        "b.mov": "processed",
        "bad.mp4": "failed",
        "sub/c.mkv": "processed",
    }
    assert not report.ok and len(report.failed) == 1
    assert "not a readable media file" in report.failed[0].reason
    assert "\n" not in report.failed[0].reason
    for i, name in enumerate(GOOD):
        assert len(decoded_rgb(out / name)) == 20 + i
        assert (out / Path(name).parent / f".{Path(name).name}.mmpipe.json").is_file()
    assert {e.event for e in events} == {"start", "frames", "done"}
    assert events[-1].files_done == events[-1].files_total == 4
    assert report.processed[0].frames_out == 20 and report.processed[0].peak_memory_mb > 0
    table = report.table()
    assert "4 files in" in table and "3 processed, 0 skipped, 1 failed" in table
    # without -r the subfolder is left out; a glob picks what it matches
    assert [i.name for i in find_inputs(clips, str(out))] == ["a.mp4", "b.mov", "bad.mp4"]
    assert [i.name for i in find_inputs(str(clips / "[ab].*"), str(out))] == ["a.mp4", "b.mov"]
    pattern = str(clips / "**" / "*.mkv")
    assert [i.name for i in find_inputs(pattern, str(out), recursive=True)] == ["sub/c.mkv"]


def test_resume_skips_verified_outputs_and_redoes_the_rest(clips: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first = mmpipe.batch(clips, out, recursive=True, encode=FAST)
    assert len(first.processed) == 3
    a, b, c = (out / name for name in GOOD)
    b_bytes = b.read_bytes()
    a.write_bytes(a.read_bytes()[: a.stat().st_size // 2])  # truncated after the fact
    (c.parent / ".c.mkv.mmpipe.json").unlink()  # output present, completeness unknown
    leftover = out / ".b.k3j5x_q1.partial.mov"  # a killed run's temporary file
    leftover.write_bytes(b"half an output")
    second = mmpipe.batch(clips, out, recursive=True, encode=FAST)
    assert by_name(second) == {
        "a.mp4": "processed",
        "b.mov": "skipped",
        "bad.mp4": "failed",
        "sub/c.mkv": "processed",
    }
    assert not leftover.exists()
    assert b.read_bytes() == b_bytes and len(decoded_rgb(a)) == 20
    # same size, other bytes: the hash catches it
    b.write_bytes(b_bytes[:-1] + bytes([b_bytes[-1] ^ 1]))
    assert by_name(mmpipe.batch(clips, out, recursive=True, encode=FAST))["b.mov"] == "processed"
    # other options, or a changed input: processed again
    third = mmpipe.batch(clips, out, encode=FAST, denoise=False)
    assert [r.status for r in third.results] == ["processed", "processed", "failed"]
    os.utime(clips / "a.mp4", ns=(1, 1))
    fourth = mmpipe.batch(clips, out, encode=FAST, denoise=False)
    assert [r.status for r in fourth.results] == ["processed", "skipped", "failed"]


def test_options_key_ignores_threads_only() -> None:
    job = mmpipe.api.enhance
    base = {"encode": FAST, "stabilize": True}
    same = {"encode": mmpipe.EncodeSettings(preset="ultrafast", threads=3), "stabilize": True}
    assert options_key(job, base) == options_key(job, same)
    assert options_key(job, base) != options_key(job, {**base, "stabilize": False})
    assert options_key(job, base) != options_key(mmpipe.api.denoise, base)


def test_outputs_never_overwrite_inputs(clips: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="would overwrite an input"):
        mmpipe.batch(clips, clips, encode=FAST)
    with pytest.raises(ConfigError, match="would overwrite an input"):
        mmpipe.batch(clips / "a.mp4", clips, encode=FAST)
    with pytest.raises(MediaError, match="no such file or folder"):
        mmpipe.batch(tmp_path / "missing", tmp_path / "out")
    with pytest.raises(MediaError, match="no videos found"):
        mmpipe.batch(clips / "sub" / "*.mp4", tmp_path / "out")
    with pytest.raises(ConfigError, match="unexpected keyword"):
        mmpipe.batch(clips, tmp_path / "out", stabilise=False)
    with pytest.raises(ConfigError, match="--jobs is for the local engine"):
        mmpipe.batch(clips, tmp_path / "out", engine="ray", jobs=2)
    (tmp_path / "a.avi").write_bytes(b"")
    (tmp_path / "a.mp4").write_bytes(b"")
    with pytest.raises(ConfigError, match="would both be written"):
        find_inputs(tmp_path, str(tmp_path / "out"))


def test_outputs_inside_the_input_folder_are_not_inputs(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    write_clip(folder / "a.mp4", size=(64, 48), frames=6)
    out = folder / "enhanced"
    assert len(mmpipe.batch(folder, out, recursive=True, encode=FAST).processed) == 1
    again = mmpipe.batch(folder, out, recursive=True, encode=FAST)
    assert [(r.name, r.status) for r in again.results] == [("a.mp4", "skipped")]


def test_one_batch_at_a_time_per_output_folder(clips: Path, tmp_path: Path) -> None:
    import fcntl

    out = tmp_path / "out"
    out.mkdir()
    with open(out / ".mmpipe-batch.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(ConfigError, match="another mmpipe batch is writing here"):
            mmpipe.batch(clips, out, encode=FAST)


def test_temp_names_match_the_runner_only(tmp_path: Path) -> None:
    import tempfile

    fd, name = tempfile.mkstemp(prefix=".a.", suffix=".partial.mp4", dir=tmp_path)
    os.close(fd)
    pattern = _temp_pattern("a.mp4")
    assert pattern.match(Path(name).name)
    assert not pattern.match("a.mp4") and not pattern.match(".a.x.abcdefgh.partial.mp4")
    assert not pattern.match(".a.abcdefgh.partial.mov")


# --- jobs that show what a worker does (they run in the worker processes) -------------------


def report_environment(input_path: str, output_path: str, *, on_progress=None, **options):
    """Write what bounds this worker's threads, instead of a video."""
    import cv2

    facts = {
        "cv2_threads": cv2.getNumThreads(),
        "omp": os.environ.get("OMP_NUM_THREADS"),
        "encode_threads": options["encode"].threads,
        "pid": os.getpid(),
    }
    Path(output_path).write_text(json.dumps(facts))
    return RunReport(output=Path(output_path), frames_in=1, frames_out=1)


def crash_on_c(input_path: str, output_path: str, *, on_progress=None, **options):
    """Die like a segfault or the out-of-memory killer on one file; write the others."""
    if Path(input_path).stem == "c":
        os.kill(os.getpid(), signal.SIGKILL)
    Path(output_path).write_bytes(Path(input_path).read_bytes())
    return RunReport(output=Path(output_path), frames_in=1, frames_out=1)


def copy_input(input_path: str, output_path: str, *, on_progress=None, **options):
    """A job that copies its input: fast, and its output is known."""
    Path(output_path).write_bytes(Path(input_path).read_bytes())
    return RunReport(output=Path(output_path), frames_in=1, frames_out=1)


def lose_worker_once(input_path: str, output_path: str, *, on_progress=None, **options):
    """The first attempt at each file loses its worker process; the retry succeeds."""
    marker = Path(output_path).with_suffix(".attempted")
    if not marker.exists():
        marker.touch()
        os._exit(1)
    Path(output_path).write_bytes(Path(input_path).read_bytes())
    return RunReport(output=Path(output_path), frames_in=1, frames_out=1)


def test_two_jobs_bound_each_workers_threads(clips: Path, tmp_path: Path) -> None:
    options = {"encode": FAST}
    two = run(report_environment, clips, tmp_path / "two", options=options, jobs=2, threads=1)
    facts = [json.loads(Path(r.target).read_text()) for r in two.processed]
    assert len(facts) == 3 and len({f["pid"] for f in facts}) == 2  # two workers, reused
    assert all(f["cv2_threads"] == f["encode_threads"] == 1 and f["omp"] == "1" for f in facts)
    one = run(report_environment, clips, tmp_path / "one", options=options)
    facts = [json.loads(Path(r.target).read_text()) for r in one.processed]
    assert {f["encode_threads"] for f in facts} == {0}  # one job: as `mmpipe enhance` does
    assert len({f["pid"] for f in facts}) == 1
    cpus = len(os.sched_getaffinity(0))
    assert _local_threads(1) == 0 and _local_threads(2) == max(1, cpus // 2)


def test_a_crashing_worker_fails_only_its_file(clips: Path, tmp_path: Path) -> None:
    report = run(crash_on_c, clips, tmp_path / "out", options={}, recursive=True, jobs=2)
    statuses = by_name(report)
    assert statuses["sub/c.mkv"] == "failed"
    assert "was killed (SIGKILL)" in report.failed[0].reason
    assert [statuses[n] for n in ("a.mp4", "b.mov", "bad.mp4")] == ["processed"] * 3


def test_fsspec_urls_in_and_out(clips: Path, tmp_path: Path) -> None:
    """file:// URLs go through the copy-in, upload-and-move path that s3:// etc. take."""
    out = f"file://{tmp_path}/out"
    report = mmpipe.batch(f"file://{clips}", out, recursive=True, jobs=2, encode=FAST)
    assert by_name(report)["sub/c.mkv"] == "processed" and len(report.processed) == 3
    assert report.processed[0].target == f"{out}/a.mp4"
    assert len(decoded_rgb(tmp_path / "out" / "sub" / "c.mkv")) == 22
    assert not list((tmp_path / "out").rglob("*.partial*"))
    again = mmpipe.batch(f"file://{clips}/*.mp4", out, encode=FAST)
    assert by_name(again) == {"a.mp4": "skipped", "bad.mp4": "failed"}


def test_url_store_on_the_memory_filesystem() -> None:
    fsspec = pytest.importorskip("fsspec")
    memory = fsspec.filesystem("memory")
    memory.pipe_file("/batch/out/.x.abcdefgh.partial.mp4", b"left by a killed run")
    store = _UrlStore("memory://batch/out/x.mp4")
    store.remove_leftovers()
    assert not memory.exists("/batch/out/.x.abcdefgh.partial.mp4")
    local = Path(__file__).parent / "clips.py"
    store.upload(local)
    size, digest = store.seal()
    store.write_record({"output": {"size": size, "sha256": digest}})
    assert memory.cat_file("/batch/out/x.mp4") == local.read_bytes()
    assert store.size() == size and store.digest() == digest
    assert store.read_record() == {"output": {"size": size, "sha256": digest}}
    names = sorted(Path(p).name for p in memory.ls("/batch/out", detail=False))
    assert names == [".x.mp4.mmpipe.json", "x.mp4"]
    store.remove_record()
    assert store.read_record() is None


def test_process_file_reports_instead_of_raising(tmp_path: Path) -> None:
    item = BatchItem("gone.mp4", str(tmp_path / "gone.mp4"), str(tmp_path / "out" / "gone.mp4"))
    result = process_file(item, mmpipe.api.enhance, {"encode": FAST})
    assert isinstance(result, FileResult) and result.status == "failed"
    assert "gone.mp4" in result.reason


# --- Ray: one local instance for the tests below ---------------------------------------------


@pytest.fixture(scope="module")
def ray_session():
    ray = pytest.importorskip("ray", reason="Ray is not installed: pip install -e '.[ray]'")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def test_jobs_2_and_ray_give_the_same_frames_and_sound(
    ray_session, clips: Path, tmp_path: Path
) -> None:
    local = mmpipe.batch(clips, tmp_path / "local", recursive=True, jobs=2, threads=1, encode=FAST)
    on_ray = mmpipe.batch(clips, tmp_path / "ray", recursive=True, engine="ray", encode=FAST)
    assert by_name(local) == by_name(on_ray)
    assert len(on_ray.processed) == 3 and on_ray.engine == "ray"
    assert "not a readable media file" in on_ray.failed[0].reason
    for name in GOOD:
        a, b = tmp_path / "local" / name, tmp_path / "ray" / name
        frames_a, frames_b = decoded_rgb(a), decoded_rgb(b)
        assert len(frames_a) == len(frames_b) > 0
        assert all(np.array_equal(x, y) for x, y in zip(frames_a, frames_b, strict=True))
        assert np.array_equal(decoded_audio(a), decoded_audio(b))
    # the Ray run resumes what the local one did
    resumed = mmpipe.batch(clips, tmp_path / "local", recursive=True, engine="ray", encode=FAST)
    assert len(resumed.skipped) == 3


def test_ray_resumes_a_killed_run_and_retries_lost_workers(
    ray_session, clips: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    first = run(lose_worker_once, clips, out, options={}, engine="ray", recursive=True)
    assert len(first.processed) == 4  # every file's first worker died; Ray retried each
    # what a run killed at any moment leaves: a partial temporary file, an output whose
    # record was never written, a complete output with its record
    (out / ".a.7x9q2m0z.partial.mp4").write_bytes(b"half")
    (out / ".b.mov.mmpipe.json").unlink()
    (out / "b.mov").write_bytes(b"half")
    for marker in out.rglob("*.attempted"):
        marker.unlink()
    again = run(lose_worker_once, clips, out, options={}, engine="ray", recursive=True)
    statuses = by_name(again)
    assert statuses["b.mov"] == "processed" and statuses["a.mp4"] == "skipped"
    assert (out / "b.mov").read_bytes() == (clips / "b.mov").read_bytes()
    assert not list(out.glob(".*.partial.*"))


def test_ray_run_killed_with_kill_9_then_resumed(ray_session, tmp_path: Path) -> None:
    """A CLI driver on the cluster, killed (-9) while an output is half written: the outputs
    under their names are complete, and the same batch on Ray finishes the job."""
    clips, out = tmp_path / "in", tmp_path / "out"
    clips.mkdir()
    names = ["a.mp4", "b.mp4", "c.mov", "d.mkv"]
    for name in names:
        write_clip(clips / name, size=(320, 240), frames=60)
    address = ray_session.get_runtime_context().gcs_address
    command = [sys.executable, "-m", "mmpipe.cli", "--quiet", "enhance", str(clips), "-o"]
    command += [str(out), "--engine", "ray", "--address", address]
    driver = subprocess.Popen(command, start_new_session=True, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not list(out.glob(".*.partial.*")):
        assert driver.poll() is None, driver.stderr.read() if driver.stderr else ""
        assert time.monotonic() < deadline, "no output was started"
        time.sleep(0.02)
    os.killpg(driver.pid, signal.SIGKILL)
    driver.wait()
    time.sleep(1.0)  # Ray stops the dead driver's tasks
    for output in (out / name for name in names):
        assert not output.exists() or len(decoded_rgb(output)) == 60
    resumed = mmpipe.batch(clips, out, engine="ray")
    assert resumed.ok and len(resumed.processed) >= 1
    assert all(len(decoded_rgb(out / name)) == 60 for name in names)
    assert not list(out.glob(".*.partial.*"))


def test_ray_reads_and_writes_fsspec_urls(ray_session, clips: Path, tmp_path: Path) -> None:
    out = f"file://{tmp_path}/out"
    report = run(copy_input, f"file://{clips}", out, options={}, engine="ray", recursive=True)
    assert len(report.processed) == 4
    for name in (*GOOD, "bad.mp4"):
        assert (tmp_path / "out" / name).read_bytes() == (clips / name).read_bytes()
    again = run(copy_input, f"file://{clips}", out, options={}, engine="ray", recursive=True)
    assert len(again.skipped) == 4


def test_ray_engine_without_ray_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, clips: Path, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray fails as if not installed
    with pytest.raises(ConfigError, match=r"pip install 'mmpipe\[ray\]'"):
        mmpipe.batch(clips, tmp_path / "out", engine="ray")


def test_ray_refuses_files_no_node_can_run(ray_session, clips: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no Ray node has 4 CPU"):
        mmpipe.batch(clips, tmp_path / "out", engine="ray", threads=4)
