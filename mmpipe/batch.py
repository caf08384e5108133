"""Many files through one single-file job: resumable batches on local processes or Ray.

`run` finds the videos of a folder, glob pattern or fsspec URL, mirrors their relative paths
under an output folder and runs a single-file job (``mmpipe.api.enhance``, passed in by the
API: this module sits below it) on each, in ``jobs`` worker processes (one file at a time
each) or as one Ray task per file. A bad file never stops the batch: it is reported, with
its one-line reason, in the `BatchReport`.

Resume. The runner writes every output to a hidden temporary file and renames it only when
complete. After the rename, the output is flushed to disk and hashed, and a small record is
written beside it (``.NAME.mmpipe.json``, also atomically): the input's identity (relative
name, size, modification time or fsspec key), the options' hash, the mmpipe version and the
output's size and SHA-256. A later run skips a file only when its record matches all of these
and the output on disk still has that size and hash; anything else (no record, other options,
a changed input, a truncated or replaced output) is processed again. Temporary files of a
killed run (the runner's ``.STEM.XXXXXXXX.partial.SUFFIX`` names) are never taken for outputs
and are removed before their file is processed again. One batch at a time may write to a
local output folder (an advisory lock, ``.mmpipe-batch.lock``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import hashlib
import inspect
import json
import logging
import os
import pickle
import queue
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path, PurePosixPath
from typing import Any

from mmpipe.errors import ConfigError, MediaError, MmpipeError
from mmpipe.media.writer import VIDEO_SUFFIXES as WRITABLE_SUFFIXES
from mmpipe.media.writer import EncodeSettings
from mmpipe.pipeline.runner import Progress, RunReport, temp_affixes, temp_name, temp_output

log = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]
Job = Callable[..., RunReport]

# What counts as a video in a folder or glob pattern (compared case-insensitively). Outputs
# keep the suffix when mmpipe can write it, otherwise they are .mp4.
INPUT_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv", ".3gp", ".avi", ".webm", ".mts", ".m2ts")
FALLBACK_SUFFIX = ".mp4"
ENGINES = ("local", "ray")
RECORD_FORMAT = 1
RECORD_SUFFIX = ".mmpipe.json"
LOCK_NAME = ".mmpipe-batch.lock"
RAY_MAX_RETRIES = 3  # a Ray task is run again this many times when its worker dies
DEFAULT_MEMORY_MB = 2048  # declared per file to Ray; a 720p enhance peaks near 0.5 GB
PROGRESS_INTERVAL_S = 0.1  # local workers report a file's frames at most this often
STOP_TIMEOUT_S = 10.0  # after Ctrl-C, how long workers get to remove their partial output
_CHUNK = 1 << 20
_MAGIC = re.compile(r"[*?[]")


@dataclass(frozen=True)
class BatchItem:
    """One file of a batch: its name relative to its input folder, where it is and goes."""

    name: str  # relative, "/"-separated: mirrored under the output folder
    source: str  # a local path or an fsspec URL
    target: str  # a local path or an fsspec URL


@dataclass(frozen=True)
class FileResult:
    """What happened to one file: ``status`` is "processed", "skipped" or "failed"."""

    name: str
    source: str
    target: str
    status: str
    reason: str = ""  # why it failed (one line), or why it was skipped
    frames_out: int = 0
    elapsed_s: float = 0.0
    peak_memory_mb: float = 0.0  # peak resident memory of the process that ran it
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class BatchProgress:
    """Reported to ``on_progress``: ``event`` "start", "frames" or "done" for file ``name``.

    "frames" carries the file's own `Progress` (local engine only); "done" its `FileResult`.
    ``files_done`` counts finished files (processed, skipped or failed) of ``files_total``.
    """

    event: str
    name: str
    files_done: int
    files_total: int
    elapsed_s: float
    frames: Progress | None = None
    result: FileResult | None = None


BatchProgressCallback = Callable[[BatchProgress], None]


@dataclass
class BatchReport:
    """The outcome of a batch: one `FileResult` per input file, in name order."""

    results: list[FileResult]
    elapsed_s: float = 0.0
    engine: str = "local"

    @property
    def processed(self) -> list[FileResult]:
        return [r for r in self.results if r.status == "processed"]

    @property
    def skipped(self) -> list[FileResult]:
        return [r for r in self.results if r.status == "skipped"]

    @property
    def failed(self) -> list[FileResult]:
        return [r for r in self.results if r.status == "failed"]

    @property
    def ok(self) -> bool:
        """True when no file failed."""
        return not self.failed

    def table(self) -> str:
        """A plain-text summary: one row per file, then the totals."""
        width = max([4, *(len(r.name) for r in self.results)])
        rows = [f"{'file':<{width}}  {'result':<9}  {'frames':>6}  {'time':>7}  reason / notes"]
        for r in self.results:
            done = r.status == "processed"
            frames = f"{r.frames_out:>6}" if done else f"{'-':>6}"
            seconds = f"{r.elapsed_s:>6.1f}s" if done else f"{'-':>7}"
            why = "; ".join([r.reason, *r.notes] if r.reason else r.notes)
            rows.append(f"{r.name:<{width}}  {r.status:<9}  {frames}  {seconds}  {why}")
        rows.append(
            f"{len(self.results)} file{'s' * (len(self.results) != 1)} in "
            f"{self.elapsed_s:.1f} s ({self.engine}): "
            f"{len(self.processed)} processed, {len(self.skipped)} skipped, "
            f"{len(self.failed)} failed"
        )
        return "\n".join(row.rstrip() for row in rows)


def is_batch_input(spec: str) -> bool:
    """Whether a command-line input means a batch: a folder, a glob pattern or a URL.

    An existing file is never a batch, even when its name holds glob characters.
    """
    if os.path.isfile(spec):
        return False
    return os.path.isdir(spec) or _is_url(spec) or bool(_MAGIC.search(spec))


def run(
    job: Job,
    inputs: PathLike | Sequence[PathLike],
    out_dir: PathLike,
    *,
    options: dict[str, Any],
    recursive: bool = False,
    jobs: int = 1,
    engine: str = "local",
    address: str | None = None,
    threads: int | None = None,
    memory_mb: int = DEFAULT_MEMORY_MB,
    on_progress: BatchProgressCallback | None = None,
) -> BatchReport:
    """Run ``job(input, output, on_progress=..., **options)`` on every video of ``inputs``.

    ``inputs``: a folder, a glob pattern, a file, an fsspec URL of any of these, or a list of
    them; ``recursive`` includes subfolders (and lets ``**`` span folders). Outputs mirror the
    relative paths under ``out_dir`` (a folder or an fsspec URL). ``engine="local"`` runs
    ``jobs`` child processes at a time; ``engine="ray"`` one Ray task per file on the cluster
    at ``address`` (or the running / a new local Ray instance). ``threads``: the threads (and
    Ray CPUs) of each file; default: the machine's CPUs divided by ``jobs`` (automatic with one
    job), 1 on Ray. ``memory_mb``: the memory each file declares to Ray.
    """
    if engine not in ENGINES:
        raise ConfigError(f"unknown engine {engine!r}; use one of {', '.join(ENGINES)}")
    if jobs < 1:
        raise ConfigError(f"jobs must be at least 1, got {jobs}")
    if engine == "ray" and jobs != 1:
        raise ConfigError(
            "--jobs is for the local engine; on Ray the cluster's CPUs and --threads per file "
            "set how many files run at once"
        )
    if engine == "local" and address is not None:
        raise ConfigError("--address needs --engine ray")
    if threads is not None and threads < 1:
        raise ConfigError(f"threads must be at least 1, got {threads}")
    if memory_mb < 1:
        raise ConfigError(f"memory_mb must be positive, got {memory_mb}")
    _check_options(job, options)
    started = time.monotonic()
    out = str(out_dir)
    items = find_inputs(inputs, out, recursive=recursive)
    results: dict[str, FileResult] = {}

    def emit(event: str, name: str, **extra: Any) -> None:
        if event == "done":
            results[name] = extra["result"]
        if on_progress is not None:
            elapsed = time.monotonic() - started
            on_progress(BatchProgress(event, name, len(results), len(items), elapsed, **extra))

    with _output_folder(out):
        if engine == "ray":
            _run_ray(items, job, options, threads or 1, memory_mb, address, emit)
        else:
            per_file = threads if threads is not None else _local_threads(jobs)
            _run_local(items, job, options, jobs, per_file, emit)
    ordered = [results[item.name] for item in items]
    return BatchReport(ordered, elapsed_s=time.monotonic() - started, engine=engine)


def _check_options(job: Job, options: dict[str, Any]) -> None:
    """Unknown options fail here, once, rather than in every worker."""
    try:
        inspect.signature(job).bind("input", "output", on_progress=None, **options)
    except TypeError as exc:
        raise ConfigError(f"{job.__name__}: {exc}; see help({job.__name__})") from None


# --- finding the inputs ---------------------------------------------------------------------


def find_inputs(
    inputs: PathLike | Sequence[PathLike], out_dir: str, *, recursive: bool = False
) -> list[BatchItem]:
    """The videos of ``inputs`` and where each one's output goes under ``out_dir``.

    Hidden files and folders are left out, and so is ``out_dir`` when it lies inside an
    input folder. Raises `ConfigError` when an output would overwrite an input or two inputs
    would share an output, `MediaError` when an input does not exist or holds no video.
    """
    specs = [inputs] if isinstance(inputs, str | os.PathLike) else list(inputs)
    if not specs:
        raise ConfigError("no inputs given; pass a folder, a glob pattern or files")
    found: dict[str, str] = {}  # source -> name
    for spec in map(str, specs):
        base, listed = (_list_url if _is_url(spec) else _list_local)(spec, recursive)
        if _inside(out_dir, base) and _same_key(out_dir) != _same_key(base):
            # the outputs of an earlier run inside an input folder are not inputs
            listed = [(s, n) for s, n in listed if not _inside(s, out_dir)]
        if not listed:
            hint = "" if recursive else "; add -r (recursive=True) to look in subfolders"
            raise MediaError(f"{spec}: no videos found ({' '.join(INPUT_SUFFIXES)}){hint}")
        for source, name in listed:
            found.setdefault(source, name)
    items: dict[str, BatchItem] = {}
    for source, name in sorted(found.items(), key=lambda pair: (pair[1], pair[0])):
        target = _join(out_dir, _output_name(name))
        if target in items:
            raise ConfigError(
                f"{items[target].source} and {source} would both be written to {target}; "
                "process them in separate batches"
            )
        items[target] = BatchItem(name=name, source=source, target=target)
    sources = {_same_key(i.source) for i in items.values()}
    for item in items.values():
        if _same_key(item.target) in sources:
            raise ConfigError(
                f"{out_dir}: the output {item.target} would overwrite an input; "
                "choose another output folder"
            )
    return sorted(items.values(), key=lambda item: item.name)


def _is_video(name: str) -> bool:
    base = PurePosixPath(name).name
    return not base.startswith(".") and PurePosixPath(base).suffix.lower() in INPUT_SUFFIXES


def _list_local(spec: str, recursive: bool) -> tuple[str, list[tuple[str, str]]]:
    """The folder ``spec`` starts in, and its videos as (absolute path, relative name)."""
    path = Path(spec)
    if path.is_file():
        listed = [(str(path.resolve()), path.name)] if _is_video(path.name) else []
        return str(path.parent.resolve()), listed
    if path.is_dir():
        base = path
        pattern = "**/*" if recursive else "*"
        candidates = glob.glob(pattern, root_dir=path, recursive=recursive)
    elif _MAGIC.search(spec):
        base = _magic_free_prefix(spec)
        candidates = [os.path.relpath(p, base) for p in glob.glob(spec, recursive=recursive)]
    else:
        raise MediaError(f"{spec}: no such file or folder; check the path")
    listed = []
    for relative in candidates:
        name = PurePosixPath(Path(relative).as_posix())
        if any(part.startswith(".") for part in name.parts) or not _is_video(str(name)):
            continue
        source = base / relative
        if source.is_file():
            listed.append((str(source.resolve()), str(name)))
    return str(base.resolve()), listed


def _magic_free_prefix(pattern: str) -> Path:
    """The folder a glob pattern starts in: its leading parts without glob characters."""
    parts = Path(pattern).parts
    prefix = []
    for part in parts[:-1]:
        if _MAGIC.search(part):
            break
        prefix.append(part)
    return Path(*prefix) if prefix else Path(".")


def _list_url(spec: str, recursive: bool) -> tuple[str, list[tuple[str, str]]]:
    """The folder URL ``spec`` starts in, and its videos as (URL, relative name)."""
    fs, path = _filesystem(spec)
    if _MAGIC.search(path):
        base = str(_magic_free_prefix(path).as_posix())
        paths = [p for p in fs.glob(path) if fs.isfile(p)]
    elif fs.isdir(path):
        base = path.rstrip("/")
        paths = fs.find(path, maxdepth=None if recursive else 1)
    elif fs.isfile(path):
        base, paths = str(PurePosixPath(path).parent), [path]
    else:
        raise MediaError(f"{spec}: no such file or folder; check the URL")
    listed = []
    for p in paths:
        name = PurePosixPath(p).relative_to(base)
        if any(part.startswith(".") for part in name.parts) or not _is_video(str(name)):
            continue
        listed.append((fs.unstrip_protocol(p), str(name)))
    return fs.unstrip_protocol(base), listed


def _output_name(name: str) -> str:
    path = PurePosixPath(name)
    if path.suffix.lower() in WRITABLE_SUFFIXES:
        return name
    return str(path.with_suffix(FALLBACK_SUFFIX))


def _join(folder: str, name: str) -> str:
    if _is_url(folder):
        return folder.rstrip("/") + "/" + name
    return str(Path(folder).resolve() / name)


def _inside(location: str, folder: str) -> bool:
    """Whether ``location`` lies in ``folder`` (outputs of an earlier run inside an input)."""
    if _is_url(location) != _is_url(folder):
        return False
    if _is_url(folder):
        return location.startswith(folder.rstrip("/") + "/")
    return Path(location).resolve().is_relative_to(Path(folder).resolve())


def _same_key(location: str) -> str:
    return location if _is_url(location) else os.path.realpath(location)


def _is_url(location: str) -> bool:
    return "://" in location


def _filesystem(url: str) -> tuple[Any, str]:
    try:
        from fsspec.core import url_to_fs
    except ImportError:
        raise ConfigError(
            f"{url}: URLs need fsspec; install it with pip install 'mmpipe[ray]'"
        ) from None
    try:
        return url_to_fs(url)
    except (ImportError, ValueError) as exc:
        raise ConfigError(f"{url}: cannot open this URL ({exc}); check the protocol") from exc


# --- one file ---------------------------------------------------------------------------------


def options_key(job: Job, options: dict[str, Any]) -> str:
    """A hash of what decides an output's content: the job and its options.

    Thread counts only change how fast an output is made, so they are left out.
    """

    def plain(value: Any) -> Any:
        if isinstance(value, EncodeSettings):
            return {"crf": value.crf, "preset": value.preset}
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return dataclasses.asdict(value)
        return value

    data = {
        "job": f"{job.__module__}.{job.__qualname__}",
        "options": {k: plain(v) for k, v in sorted(options.items())},
    }
    text = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def process_file(
    item: BatchItem,
    job: Job,
    options: dict[str, Any],
    threads: int = 0,
    on_progress: Callable[[Progress], None] | None = None,
) -> FileResult:
    """Process one file, or skip it when its verified output is already there.

    Runs in a worker (a child process or a Ray task). Every error becomes a failed
    `FileResult` with a one-line reason; only KeyboardInterrupt and SystemExit propagate.
    ``threads`` > 0 bounds the encoder's and OpenCV's threads (0: their own choice).
    """
    started = time.monotonic()

    def result(status: str, reason: str = "", report: RunReport | None = None) -> FileResult:
        return FileResult(
            name=item.name,
            source=item.source,
            target=item.target,
            status=status,
            reason=reason,
            frames_out=report.frames_out if report else 0,
            elapsed_s=time.monotonic() - started,
            peak_memory_mb=_peak_memory_mb(),
            notes=tuple(report.notes) if report else (),
        )

    try:
        store = _store(item.target)
        store.remove_leftovers()
        source_id = _identity(item.source, item.name)
        key = options_key(job, options)
        if _complete(store, source_id, key):
            return result("skipped", "complete (verified)")
        store.remove_record()
        if threads > 0:
            _bound_threads(threads)
            if "encode" in options:
                encode = options["encode"] or EncodeSettings()
                options = {**options, "encode": dataclasses.replace(encode, threads=threads)}
        report = _produce(item, store, job, options, on_progress)
        size, digest = store.seal()
        store.write_record(
            {
                "format": RECORD_FORMAT,
                "mmpipe": _version(),
                "input": source_id,
                "options": key,
                "output": {"size": size, "sha256": digest},
            }
        )
        return result("processed", report=report)
    except MmpipeError as exc:
        return result("failed", _one_line(str(exc)))
    except OSError as exc:  # copying from or to a URL, writing the record
        reason = f"{exc}; check the path or URL, permissions and free space"
        return result("failed", _one_line(reason))
    except Exception as exc:  # a bad file never stops the batch; the reason is reported
        log.exception("%s: unexpected error", item.source)
        return result("failed", _one_line(f"unexpected {type(exc).__name__}: {exc}"))


def _produce(
    item: BatchItem,
    store: _Store,
    job: Job,
    options: dict[str, Any],
    on_progress: Callable[[Progress], None] | None,
) -> RunReport:
    """Run the job; URLs are copied to a local temporary folder and back."""
    if not _is_url(item.source) and not _is_url(item.target):
        Path(item.target).parent.mkdir(parents=True, exist_ok=True)
        return job(item.source, item.target, on_progress=on_progress, **options)
    with tempfile.TemporaryDirectory(prefix="mmpipe-batch-") as scratch:
        source = item.source
        if _is_url(source):
            fs, path = _filesystem(source)
            source = str(Path(scratch) / ("in" + PurePosixPath(path).suffix))
            fs.get_file(path, source)
        if not _is_url(item.target):
            Path(item.target).parent.mkdir(parents=True, exist_ok=True)
            return job(source, item.target, on_progress=on_progress, **options)
        local = Path(scratch) / ("out" + PurePosixPath(item.target).suffix)
        report = job(source, local, on_progress=on_progress, **options)
        assert isinstance(store, _UrlStore)
        store.upload(local)
        return report


def _complete(store: _Store, source_id: dict[str, Any], key: str) -> bool:
    record = store.read_record()
    if record is None:
        return False
    expected = {"format": RECORD_FORMAT, "mmpipe": _version(), "input": source_id, "options": key}
    if any(record.get(k) != v for k, v in expected.items()):
        return False
    output = record.get("output") or {}
    if store.size() != output.get("size"):
        return False
    return store.digest() == output.get("sha256")


def _identity(source: str, name: str) -> dict[str, Any]:
    """What identifies an input: its relative name, size and modification time (or key)."""
    if _is_url(source):
        fs, path = _filesystem(source)
        return {"name": name, "size": fs.size(path), "key": fs.ukey(path)}
    try:
        stat = os.stat(source)
    except OSError as exc:
        raise MediaError(f"{source}: cannot read ({exc.strerror}); check the path") from exc
    return {"name": name, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _bound_threads(threads: int) -> None:
    import cv2

    cv2.setNumThreads(threads)


def _peak_memory_mb() -> float:
    """This process's peak resident memory (Linux: VmHWM; ru_maxrss would include the
    parent's peak from before the worker's exec), 0 where it cannot be read."""
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    try:
        import resource
    except ImportError:  # Windows
        return 0.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # bytes on macOS


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _version() -> str:
    from mmpipe import __version__

    return __version__


def _temp_pattern(name: str) -> re.Pattern[str]:
    prefix, suffix = temp_affixes(name)
    return re.compile(rf"^{re.escape(prefix)}[a-z0-9_]{{8}}{re.escape(suffix)}$")


def _digest_stream(stream: Any) -> tuple[int, str]:
    digest, size = hashlib.sha256(), 0
    while chunk := stream.read(_CHUNK):
        digest.update(chunk)
        size += len(chunk)
    return size, digest.hexdigest()


class _Store(ABC):
    """Where one output and its record live, with the operations resume needs."""

    def __init__(self, target: str) -> None:
        self.target = target
        name = PurePosixPath(target.replace(os.sep, "/")).name
        self.record_name = f".{name}{RECORD_SUFFIX}"
        self.leftovers = (_temp_pattern(name), _temp_pattern(self.record_name))

    @abstractmethod
    def remove_leftovers(self) -> None:
        """Remove temporary files an interrupted run left for this output or its record."""

    @abstractmethod
    def read_record(self) -> dict[str, Any] | None:
        """The output's record, or None when there is none or it cannot be read."""

    @abstractmethod
    def remove_record(self) -> None:
        """Remove the record (before the output is made again)."""

    @abstractmethod
    def write_record(self, record: dict[str, Any]) -> None:
        """Write the record atomically, after the output is in place."""

    @abstractmethod
    def size(self) -> int | None:
        """The output's size in bytes, None when it is missing."""

    @abstractmethod
    def digest(self) -> str:
        """The output's SHA-256 (hex)."""

    @abstractmethod
    def seal(self) -> tuple[int, str]:
        """Make the fresh output durable; return its size and SHA-256."""


class _LocalStore(_Store):
    def __init__(self, target: str) -> None:
        super().__init__(target)
        self.path = Path(target)
        self.record = self.path.with_name(self.record_name)

    def remove_leftovers(self) -> None:
        if not self.path.parent.is_dir():
            return
        for entry in os.scandir(self.path.parent):
            if any(p.match(entry.name) for p in self.leftovers) and entry.is_file():
                log.info("removing %s, left by an interrupted run", entry.path)
                Path(entry.path).unlink(missing_ok=True)

    def read_record(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.record.read_text())
        except (OSError, ValueError):
            return None

    def remove_record(self) -> None:
        self.record.unlink(missing_ok=True)

    def write_record(self, record: dict[str, Any]) -> None:
        with temp_output(self.record) as tmp:
            with open(tmp, "w") as f:
                json.dump(record, f, indent=1)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.record)
        _fsync_folder(self.path.parent)

    def size(self) -> int | None:
        try:
            return self.path.stat().st_size
        except OSError:
            return None

    def digest(self) -> str:
        with open(self.path, "rb") as f:
            return _digest_stream(f)[1]

    def seal(self) -> tuple[int, str]:
        """Flush the renamed output to disk (so a record never outlives its data); hash it."""
        with open(self.path, "rb") as f:
            size, digest = _digest_stream(f)
            os.fsync(f.fileno())
        _fsync_folder(self.path.parent)
        return size, digest


class _UrlStore(_Store):
    def __init__(self, target: str) -> None:
        super().__init__(target)
        self.fs, self.path = _filesystem(target)
        self.folder = str(PurePosixPath(self.path).parent)
        self.record = f"{self.folder}/{self.record_name}"
        self.sealed: tuple[int, str] | None = None

    def remove_leftovers(self) -> None:
        if not self.fs.isdir(self.folder):
            return
        for path in self.fs.ls(self.folder, detail=False):
            if any(p.match(PurePosixPath(path).name) for p in self.leftovers):
                self.fs.rm_file(path)

    def read_record(self) -> dict[str, Any] | None:
        try:
            return json.loads(self.fs.cat_file(self.record))
        except (OSError, ValueError):
            return None

    def remove_record(self) -> None:
        if self.fs.exists(self.record):
            self.fs.rm_file(self.record)

    def write_record(self, record: dict[str, Any]) -> None:
        self._put(json.dumps(record, indent=1).encode(), self.record)

    def size(self) -> int | None:
        try:
            return self.fs.size(self.path)
        except (OSError, ValueError):
            return None

    def digest(self) -> str:
        with self.fs.open(self.path, "rb") as f:
            return _digest_stream(f)[1]

    def upload(self, local: Path) -> None:
        """Copy a finished local output to a temporary name, then move it into place."""
        with open(local, "rb") as f:
            self.sealed = _digest_stream(f)
        self.fs.makedirs(self.folder, exist_ok=True)
        tmp = self._temp_name(PurePosixPath(self.path).name)
        try:
            self.fs.put_file(str(local), tmp)
            self.fs.mv(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                self.fs.rm_file(tmp)
            raise

    def seal(self) -> tuple[int, str]:
        assert self.sealed is not None, "upload() comes first"
        return self.sealed

    def _put(self, data: bytes, path: str) -> None:
        tmp = self._temp_name(PurePosixPath(path).name)
        self.fs.pipe_file(tmp, data)
        self.fs.mv(tmp, path)

    def _temp_name(self, name: str) -> str:
        return f"{self.folder}/{temp_name(name)}"


def _store(target: str) -> _Store:
    return _UrlStore(target) if _is_url(target) else _LocalStore(target)


def _fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (POSIX; other systems cannot open folders)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as exc:  # e.g. file systems that do not sync folders
        log.debug("cannot sync folder %s: %s", folder, exc)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _output_folder(out_dir: str) -> Iterator[None]:
    """Create a local output folder and hold its batch lock (URLs: nothing to hold)."""
    if _is_url(out_dir):
        yield
        return
    folder = Path(out_dir)
    if folder.exists() and not folder.is_dir():
        raise MediaError(f"{folder}: is a file; give a folder for the outputs of a batch")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise MediaError(f"{folder}: cannot create the output folder ({exc.strerror})") from exc
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; concurrent batches are the user's call
        yield
        return
    with open(folder / LOCK_NAME, "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(
                f"{folder}: another mmpipe batch is writing here; wait for it to finish or "
                "choose another output folder"
            ) from None
        except OSError as exc:  # a file system without locks
            log.warning("%s: cannot lock the output folder (%s)", folder, exc.strerror)
        yield


# --- the local engine: `jobs` worker processes, one file at a time each --------------------

# A worker is a fresh interpreter (not multiprocessing's spawn/forkserver, which would import
# the caller's __main__ again); the thread variables are set before numpy is imported.
_WORKER_CODE = (
    "import sys; from mmpipe.batch import _worker_main; _worker_main(int(sys.argv[1]), "
    "int(sys.argv[2]))"
)
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def _local_threads(jobs: int) -> int:
    """Threads per file for ``jobs`` parallel files: automatic for one, else a CPU share."""
    if jobs == 1:
        return 0
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, (cpus or 1) // jobs)


@dataclass
class _Worker:
    """A worker process and its two pipes; ``item`` is the file it is working on."""

    process: subprocess.Popen
    tasks: Connection  # to the worker; closing it asks the worker to stop
    results: Connection  # from the worker: ("frames", Progress) and ("done", FileResult)
    item: BatchItem | None = None


def _start_worker(threads: int) -> _Worker:
    task_read, task_write = os.pipe()
    result_read, result_write = os.pipe()
    env = dict(os.environ)
    if threads:
        env.update({name: str(threads) for name in _THREAD_VARIABLES})
    try:
        process = subprocess.Popen(
            [sys.executable, "-c", _WORKER_CODE, str(task_read), str(result_write)],
            pass_fds=(task_read, result_write),
            env=env,
        )
    except BaseException:
        for fd in (task_write, result_read):
            os.close(fd)
        raise
    finally:
        os.close(task_read)
        os.close(result_write)
    worker = _Worker(process, Connection(task_write, readable=False), Connection(result_read))
    worker.tasks.send(("path", list(sys.path)))
    return worker


def _run_local(
    items: list[BatchItem],
    job: Job,
    options: dict[str, Any],
    jobs: int,
    threads: int,
    emit: Callable[..., None],
) -> None:
    waiting = deque(items)
    workers: list[_Worker] = []
    try:
        while True:
            for worker in workers:
                if worker.item is None and waiting:
                    _assign(worker, waiting.popleft(), job, options, threads, emit)
            while waiting and len(workers) < jobs:
                workers.append(_start_worker(threads))
                _assign(workers[-1], waiting.popleft(), job, options, threads, emit)
            busy = {w.results: w for w in workers if w.item is not None}
            if not busy:
                break
            for conn in wait(list(busy)):
                worker = busy[conn]
                assert worker.item is not None
                try:
                    kind, payload = conn.recv()
                except (EOFError, OSError):
                    kind, payload = "died", None
                if kind == "frames":
                    emit("frames", worker.item.name, frames=payload)
                    continue
                if kind != "done":
                    workers.remove(worker)
                    _close(worker)
                    payload = _died(worker.item, worker.process.wait())
                name, worker.item = worker.item.name, None
                emit("done", name, result=payload)
    except BaseException:
        _stop(workers)
        raise
    for worker in workers:
        _close(worker)
        worker.process.wait()


def _assign(
    worker: _Worker,
    item: BatchItem,
    job: Job,
    options: dict[str, Any],
    threads: int,
    emit: Callable[..., None],
) -> None:
    worker.item = item
    # a worker that died already is reported when its result pipe ends
    with contextlib.suppress(OSError):
        worker.tasks.send(("file", (item, job, options, threads)))
    emit("start", item.name)


def _close(worker: _Worker) -> None:
    for conn in (worker.tasks, worker.results):
        with contextlib.suppress(OSError):
            conn.close()


def _worker_main(task_fd: int, result_fd: int) -> None:
    """A local worker process: process the files it is sent, one at a time.

    When the parent closes the task pipe (Ctrl-C) or dies, the worker interrupts itself, so
    the runner removes its partial output before the process ends.
    """
    signal.signal(signal.SIGINT, _interrupt_once)
    # notes reach the parent in each FileResult; only errors are logged here
    logging.basicConfig(format="mmpipe: %(levelname)s: %(message)s", level=logging.ERROR)
    tasks, results = Connection(task_fd, writable=False), Connection(result_fd, readable=False)
    inbox: queue.Queue[bytes | None] = queue.Queue()
    busy = threading.Event()

    def read() -> None:
        with contextlib.suppress(EOFError, OSError):
            while True:
                inbox.put(tasks.recv_bytes())
        inbox.put(None)
        if busy.is_set():
            os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=read, name="mmpipe-batch-tasks", daemon=True).start()
    last = 0.0

    def progress(update: Progress) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= PROGRESS_INTERVAL_S:
            last = now
            results.send(("frames", update))

    try:
        while (message := inbox.get()) is not None:
            kind, payload = pickle.loads(message)
            if kind == "path":  # the parent's import path, before any job is unpickled
                sys.path[:0] = [p for p in payload if p not in sys.path]
                continue
            item, job, options, threads = payload
            busy.set()
            result = process_file(item, job, options, threads, progress)
            busy.clear()
            results.send(("done", result))
    except KeyboardInterrupt:
        pass  # asked to stop: the runner already removed the partial output


def _interrupt_once(signum: int, frame: object) -> None:
    """A worker's Ctrl-C: the first raises KeyboardInterrupt, later ones are ignored (the
    parent's stop request follows Ctrl-C at once) so that the cleanup runs to its end."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


def _died(item: BatchItem, exitcode: int | None) -> FileResult:
    if exitcode is not None and exitcode < 0:
        name = signal.Signals(-exitcode).name
        why = f"was killed ({name}); if it ran out of memory, lower --jobs"
    else:
        why = f"exited with status {exitcode} without a result"
    return FileResult(item.name, item.source, item.target, "failed", f"the worker process {why}")


def _stop(workers: list[_Worker]) -> None:
    """Ask every worker to stop, give them time to remove partial outputs, then kill them."""
    for worker in workers:
        _close(worker)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for worker in workers:
        try:
            worker.process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            worker.process.kill()
            worker.process.wait()


# --- the Ray engine: one task per file -----------------------------------------------------


def _run_ray(
    items: list[BatchItem],
    job: Job,
    options: dict[str, Any],
    threads: int,
    memory_mb: int,
    address: str | None,
    emit: Callable[..., None],
) -> None:
    try:
        import ray
    except ImportError:
        raise ConfigError(
            "the ray engine needs Ray; install it with pip install 'mmpipe[ray]'"
        ) from None
    started_here = not ray.is_initialized()
    if started_here:
        kwargs: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.WARNING}
        if address is None:
            kwargs["include_dashboard"] = False
        try:
            ray.init(address=address, **kwargs)
        except (ConnectionError, ImportError, RuntimeError, ValueError) as exc:
            raise ConfigError(
                f"cannot connect to Ray at {address or 'a new local instance'} "
                f"({_one_line(str(exc))}); check --address"
            ) from exc
    try:
        _check_fits(ray, threads, memory_mb)
        task = ray.remote(process_file).options(
            num_cpus=threads,
            memory=memory_mb * 2**20,
            max_retries=RAY_MAX_RETRIES,
            retry_exceptions=False,
        )
        pending = {task.remote(item, job, options, threads): item for item in items}
        for item in items:
            emit("start", item.name)
        try:
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    item = pending.pop(ref)
                    try:
                        result = ray.get(ref)
                    except ray.exceptions.RayError as exc:
                        reason = _one_line(f"Ray gave up after {RAY_MAX_RETRIES} retries: {exc}")
                        result = FileResult(item.name, item.source, item.target, "failed", reason)
                    emit("done", item.name, result=result)
        except BaseException:
            for ref in pending:
                ray.cancel(ref)
            raise
    finally:
        if started_here:
            ray.shutdown()


def _check_fits(ray: Any, cpus: int, memory_mb: int) -> None:
    """Fail early when no Ray node can run a file (Ray would wait for one forever)."""
    nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    if any(n.get("CPU", 0) >= cpus and n.get("memory", 0) >= memory_mb * 2**20 for n in nodes):
        return
    largest = max(nodes, key=lambda n: n.get("CPU", 0), default={})
    raise ConfigError(
        f"no Ray node has {cpus} CPU(s) and {memory_mb} MB for one file (the largest has "
        f"{largest.get('CPU', 0):g} CPUs, {largest.get('memory', 0) / 2**20:.0f} MB); "
        "lower --threads or --memory-mb"
    )
