"""mmpipe: fix phone videos in one command (stabilize, denoise, fill, interpolate)."""

from mmpipe.api import enhance, probe
from mmpipe.errors import ConfigError, ExportError, MediaError, MmpipeError, ModelError
from mmpipe.media.frames import AnalysisFrame, AudioBlock, VideoFrame
from mmpipe.media.probe import MediaInfo
from mmpipe.media.writer import EncodeSettings
from mmpipe.pipeline.runner import Pipeline, Progress, RunReport

__version__ = "0.1.0"

__all__ = [
    "AnalysisFrame",
    "AudioBlock",
    "ConfigError",
    "EncodeSettings",
    "ExportError",
    "MediaError",
    "MediaInfo",
    "MmpipeError",
    "ModelError",
    "Pipeline",
    "Progress",
    "RunReport",
    "VideoFrame",
    "enhance",
    "probe",
]
