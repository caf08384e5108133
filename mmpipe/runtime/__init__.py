"""One Runner interface over onnxruntime (default) and torch (development, lazily imported).

Stages run models only through here, so the default path needs neither torch nor ``nets``.
"""

from mmpipe.runtime.denoiser import DenoiserRunner, load_denoiser
from mmpipe.runtime.onnx import OnnxRunner

__all__ = ["DenoiserRunner", "OnnxRunner", "load_denoiser"]
