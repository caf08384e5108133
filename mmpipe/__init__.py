"""mmpipe: fix phone videos in one command (stabilize, denoise, fill, interpolate)."""

from mmpipe.api import (
    analyze,
    batch,
    check_exports,
    denoise,
    enhance,
    export,
    interpolate,
    probe,
    stabilize,
    train,
)
from mmpipe.batch import BatchProgress, BatchReport, FileResult
from mmpipe.errors import ConfigError, ExportError, MediaError, MmpipeError, ModelError
from mmpipe.media.frames import AnalysisFrame, AudioBlock, VideoFrame
from mmpipe.media.probe import MediaInfo
from mmpipe.media.writer import EncodeSettings
from mmpipe.metrics.shake import ShakeAnalysis
from mmpipe.pipeline.runner import Pipeline, Progress, RunReport
from mmpipe.stages.denoise import Denoise, DenoiseConfig
from mmpipe.stages.fill import FillBorders, FillBordersConfig
from mmpipe.stages.interpolate import Interpolate, InterpolateConfig
from mmpipe.stages.stabilize import Stabilize, StabilizeConfig
from mmpipe.vision.motion import MotionPlan

__version__ = "0.1.0"

__all__ = [
    "AnalysisFrame",
    "AudioBlock",
    "BatchProgress",
    "BatchReport",
    "ConfigError",
    "Denoise",
    "DenoiseConfig",
    "EncodeSettings",
    "ExportError",
    "FileResult",
    "FillBorders",
    "FillBordersConfig",
    "Interpolate",
    "InterpolateConfig",
    "MediaError",
    "MediaInfo",
    "MmpipeError",
    "ModelError",
    "MotionPlan",
    "Pipeline",
    "Progress",
    "RunReport",
    "ShakeAnalysis",
    "Stabilize",
    "StabilizeConfig",
    "VideoFrame",
    "analyze",
    "batch",
    "check_exports",
    "denoise",
    "enhance",
    "export",
    "interpolate",
    "probe",
    "stabilize",
    "train",
]
