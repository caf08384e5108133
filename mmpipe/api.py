"""The Python API: one call per job, plus the composable `Pipeline`."""

from __future__ import annotations

import os

from mmpipe.media.probe import MediaInfo
from mmpipe.media.probe import probe as _probe
from mmpipe.media.writer import EncodeSettings
from mmpipe.pipeline.runner import Pipeline, ProgressCallback, RunReport


def probe(path: str | os.PathLike[str]) -> MediaInfo:
    """Describe a media file: streams, codecs, size, frame rate (and VFR), rotation, duration.

    >>> info = mmpipe.probe("samples/shaky_speech.mp4")  # doctest: +SKIP
    >>> info.video.display_width_px, info.audio[0].sample_rate  # doctest: +SKIP
    (1280, 48000)
    """
    return _probe(path)


def enhance(
    input_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    *,
    crf: float = 18.0,
    preset: str = "medium",
    on_progress: ProgressCallback | None = None,
) -> RunReport:
    """Run every default stage over a video file in one streaming pass.

    The output is written atomically (a temporary file renamed on success) and never
    replaces the input. Audio no stage changes is copied bit-exact.
    """
    pipeline = Pipeline(video=[], audio=[], encode=EncodeSettings(crf=crf, preset=preset))
    return pipeline.run(input_path, output_path, on_progress=on_progress)
