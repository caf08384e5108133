"""The denoiser's streaming contract as a runner: ``step(audio, state, min_gain)``.

Both backends take ``audio`` float32 ``[B, K * hop]`` at ``sample_rate_hz`` (``B`` independent
streams, ``K`` >= 1 hops) and return ``(audio_out [B, K * hop], new_state)``; the output lags
the input by ``latency_samples``. The state is an opaque tuple of arrays owned by the caller:
start from ``initial_state(B)`` and pass back what the previous call returned.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Protocol

import numpy as np

from mmpipe.assets import exported_model, model_dir
from mmpipe.errors import ConfigError
from mmpipe.runtime.onnx import OnnxRunner
from mmpipe.runtime.torch_backend import import_torch

State = tuple[np.ndarray, ...]
CONTRACT_VERSION = "1"


def default_onnx_path() -> Path:
    """The shipped ``export/denoiser.onnx``."""
    return exported_model("denoiser")


def default_model_dir() -> Path:
    """The shipped ``models/denoiser`` (for the torch backend)."""
    return model_dir("denoiser")


class DenoiserRunner(Protocol):
    sample_rate_hz: int
    hop: int
    latency_samples: int

    def initial_state(self, batch: int) -> State: ...

    def step(
        self, audio: np.ndarray, state: State, min_gain: float
    ) -> tuple[np.ndarray, State]: ...


class OnnxDenoiser:
    """The exported denoiser on onnxruntime (the default backend)."""

    def __init__(self, path: Path | None = None, *, threads: int = 1) -> None:
        self.runner = OnnxRunner(
            path or default_onnx_path(),
            threads=threads,
            expect={"model": "denoiser", "contract_version": CONTRACT_VERSION},
        )
        meta = self.runner.metadata
        self.sample_rate_hz = int(meta["sample_rate_hz"])
        self.hop = int(meta["hop"])
        self.latency_samples = int(meta["latency_samples"])
        self.state_names = meta["state_names"].split(",")
        self.state_shapes = json.loads(meta["state_shapes"])

    def initial_state(self, batch: int) -> State:
        shapes = [
            [batch if d == "B" else d for d in self.state_shapes[n]]
            if "B" in self.state_shapes[n]
            else [batch, *self.state_shapes[n]]
            for n in self.state_names
        ]
        return tuple(np.zeros(s, np.float32) for s in shapes)

    def step(self, audio: np.ndarray, state: State, min_gain: float) -> tuple[np.ndarray, State]:
        feeds = {
            "audio": np.ascontiguousarray(audio, np.float32),
            "min_gain": np.array([min_gain], np.float32),
        }
        feeds.update(zip(self.state_names, state, strict=True))
        out = self.runner.run(feeds)
        return out["audio_out"], tuple(out[f"{n}_out"] for n in self.state_names)


class TorchDenoiser:
    """The checkpoint in ``models/denoiser`` on torch (development backend; needs torch)."""

    def __init__(self, model_dir: Path | None = None, *, threads: int = 1) -> None:
        torch = import_torch(threads)
        from mmpipe.nets.denoiser import from_pretrained

        self._torch = torch
        self.model = from_pretrained(model_dir or default_model_dir())
        c = self.model.config
        self.sample_rate_hz, self.hop, self.latency_samples = (
            c.sample_rate_hz,
            c.hop,
            c.latency_samples,
        )

    def initial_state(self, batch: int) -> State:
        return tuple(s.numpy() for s in self.model.initial_state(batch))

    def step(self, audio: np.ndarray, state: State, min_gain: float) -> tuple[np.ndarray, State]:
        torch = self._torch
        with torch.no_grad():
            out, new = self.model(
                torch.from_numpy(np.ascontiguousarray(audio, np.float32)),
                tuple(torch.from_numpy(s) for s in state),
                float(min_gain),
            )
        return out.numpy(), tuple(s.numpy() for s in new)


def load_denoiser(
    backend: str = "onnx", path: Path | None = None, threads: int = 1
) -> DenoiserRunner:
    """The denoiser on ``backend`` ("onnx" or "torch"); ``path`` overrides the shipped file."""
    if backend == "onnx":
        return OnnxDenoiser(path, threads=threads)
    if backend == "torch":
        return TorchDenoiser(path, threads=threads)
    raise ConfigError(f"unknown backend {backend!r}: use 'onnx' or 'torch'")
