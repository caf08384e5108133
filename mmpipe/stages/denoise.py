"""Denoise: speech enhancement of an audio stream with the shipped denoiser model.

Any rate from 8 to 48 kHz and any channel count: each channel is resampled to the model's
48 kHz with a streaming polyphase filter, denoised (channels run as a batch, independently),
resampled back, and delayed by exactly the total latency, which the stage then removes: the
output has the input's rate, channels and length, sample-aligned with it. Whole-array and
block-by-block processing give the same samples.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields, replace
from math import gcd
from pathlib import Path

import numpy as np

from mmpipe.errors import ConfigError
from mmpipe.media.frames import AudioBlock
from mmpipe.pipeline.stage import AudioSpec
from mmpipe.runtime.denoiser import DenoiserRunner, load_denoiser

MIN_RATE_HZ, MAX_RATE_HZ = 8_000, 48_000


class PolyphaseResampler:
    """Streaming rational resampler ``rate_in_hz -> rate_out_hz`` of ``[C, n]`` float arrays.

    A Kaiser-windowed sinc of ``2 * half_taps + 1`` taps at the common (upsampled) rate, run
    with ``scipy.signal.upfirdn``; ``half_taps`` (the filter's delay at that rate) is given so
    that callers can make round-trip delays whole samples. Feeding a signal in any block
    sizes gives the same output as feeding it at once.
    """

    def __init__(
        self,
        rate_in_hz: int,
        rate_out_hz: int,
        channels: int,
        half_taps: int,
        kaiser_beta: float = 8.6,
    ) -> None:
        from scipy import signal  # slow to import; only resampled audio needs it

        g = gcd(rate_in_hz, rate_out_hz)
        self.up, self.down = rate_out_hz // g, rate_in_hz // g
        self.taps = (
            signal.firwin(
                2 * half_taps + 1, 1.0 / max(self.up, self.down), window=("kaiser", kaiser_beta)
            )
            * self.up
        ).astype(np.float32)
        self.upfirdn = signal.upfirdn
        self.reach = -(-self.taps.size // self.up)  # input samples one output depends on
        self.buffer = np.zeros((channels, 0), np.float32)
        self.buffer_start = 0  # input index of buffer[:, 0]; always a multiple of down
        self.consumed = 0  # input samples seen
        self.produced = 0  # output samples made

    def process(self, x: np.ndarray) -> np.ndarray:
        """Feed ``x [C, n]``; return every output sample that is now complete."""
        self.buffer = np.concatenate([self.buffer, x.astype(np.float32)], axis=1)
        self.consumed += x.shape[1]
        end = -(-self.consumed * self.up // self.down)  # outputs j with j*down < consumed*up
        # output j sits at upsampled position j*down; locally at j*down - buffer_start*up
        offset = self.buffer_start * self.up // self.down
        full = self.upfirdn(self.taps, self.buffer, self.up, self.down, axis=1)
        out = full[:, self.produced - offset : end - offset]
        self.produced = end
        keep_from = max(self.consumed - self.reach, 0) // self.down * self.down
        self.buffer = self.buffer[:, keep_from - self.buffer_start :]
        self.buffer_start = keep_from
        return np.ascontiguousarray(out, np.float32)


@dataclass(frozen=True)
class DenoiseConfig:
    """Options of :class:`Denoise`.

    ``attenuation_limit_db``: the most the model may lower any part of the sound (``None``:
    no limit; e.g. 12 keeps some ambience; 0 passes the input through unchanged).
    ``backend``: "onnx" (default, the exported file) or "torch" (``models/denoiser``, needs
    torch). ``model_path`` overrides the shipped file (or model folder for torch);
    ``threads`` is the backend's intra-op thread count; ``block_s`` bounds the audio handed
    to the model per call, which bounds memory.
    """

    attenuation_limit_db: float | None = None
    backend: str = "onnx"
    model_path: str | None = None
    threads: int = 1
    block_s: float = 1.0

    def __post_init__(self) -> None:
        if self.attenuation_limit_db is not None and self.attenuation_limit_db < 0:
            raise ConfigError("attenuation_limit_db must be >= 0 dB (or None for no limit)")
        if self.backend not in ("onnx", "torch"):
            raise ConfigError(f"unknown backend {self.backend!r}: use 'onnx' or 'torch'")
        if self.threads < 1 or self.block_s <= 0:
            raise ConfigError("threads must be >= 1 and block_s > 0")


class Denoise:
    """Remove noise from speech (an ``AudioStage``); options as in :class:`DenoiseConfig`.

    ``Denoise(attenuation_limit_db=12)`` or ``Denoise(DenoiseConfig(...))``. The model is
    loaded (and its exported file checked) here, so a missing or stale file fails early.
    """

    def __init__(self, config: DenoiseConfig | None = None, **options) -> None:
        known = {f.name for f in fields(DenoiseConfig)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ConfigError(f"unknown Denoise options {unknown}; use some of {sorted(known)}")
        if isinstance(options.get("model_path"), Path):
            options["model_path"] = str(options["model_path"])
        self.config = c = replace(config or DenoiseConfig(), **options)
        limit = c.attenuation_limit_db
        self.min_gain = 0.0 if limit is None else 10 ** (-limit / 20)
        path = Path(c.model_path) if c.model_path else None
        self.model: DenoiserRunner = load_denoiser(c.backend, path, c.threads)
        self.max_hops = max(1, int(c.block_s * self.model.sample_rate_hz) // self.model.hop)
        self.spec: AudioSpec | None = None

    # ------------------------------------------------------------------ AudioStage

    @property
    def latency(self) -> int:
        """Samples (at the stream's rate) the stage may hold back before yielding them."""
        rate = self.spec.sample_rate if self.spec else self.model.sample_rate_hz
        hop_at_rate = -(-self.model.hop * rate // self.model.sample_rate_hz)
        delay = self._delay if self.spec else self.model.latency_samples
        return delay + hop_at_rate + 2

    def configure(self, spec: AudioSpec) -> AudioSpec:
        if not MIN_RATE_HZ <= spec.sample_rate <= MAX_RATE_HZ:
            raise ConfigError(
                f"Denoise takes {MIN_RATE_HZ}-{MAX_RATE_HZ} Hz audio, got "
                f"{spec.sample_rate} Hz: resample the input first"
            )
        if spec.channels < 1:
            raise ConfigError("Denoise needs at least one audio channel")
        self.spec = spec
        model_rate = self.model.sample_rate_hz
        self._state = self.model.initial_state(spec.channels)
        self._fifo = np.zeros((spec.channels, 0), np.float32)
        self._received = self._emitted = 0
        if spec.sample_rate == model_rate:
            self._up = self._down = None
            self._delay = self.model.latency_samples
        else:
            g = gcd(spec.sample_rate, model_rate)
            up, down = model_rate // g, spec.sample_rate // g
            half_taps = 40 * max(up, down)
            # total delay (half_taps*2 + model latency*down) / up must be whole input samples
            while (2 * half_taps + self.model.latency_samples * down) % up:
                half_taps += 1
            self._up = PolyphaseResampler(spec.sample_rate, model_rate, spec.channels, half_taps)
            self._down = PolyphaseResampler(model_rate, spec.sample_rate, spec.channels, half_taps)
            self._delay = (2 * half_taps + self.model.latency_samples * down) // up
        self._to_drop = self._delay
        return spec

    def process(self, block: AudioBlock) -> Iterator[AudioBlock]:
        spec = self._require_spec()
        if block.channels != spec.channels or block.sample_rate != spec.sample_rate:
            raise ConfigError("Denoise got a block whose rate/channels differ from configure()")
        self._received += block.n_samples
        yield from self._emit(self._run(block.samples))

    def flush(self) -> Iterator[AudioBlock]:
        spec = self._require_spec()
        pad = self._delay + self.latency + 16
        while self._emitted < self._received:
            yield from self._emit(self._run(np.zeros((spec.channels, pad), np.float32)))
        self.configure(spec)  # ready for another stream

    # ------------------------------------------------------------------ numpy

    def process_array(self, samples: np.ndarray, *, sample_rate: int) -> np.ndarray:
        """Denoise a whole signal: ``samples`` ``[n]`` or ``[channels, n]`` float in [-1, 1].

        Returns float32 of the same shape, rate and alignment. Memory stays bounded: the
        signal is fed in blocks of ``block_s``.
        """
        array = np.asarray(samples, dtype=np.float32)
        mono = array.ndim == 1
        array = array[None] if mono else array
        if array.ndim != 2:
            raise ConfigError("samples must be [n] or [channels, n]")
        self.configure(AudioSpec(sample_rate=sample_rate, channels=array.shape[0]))
        step = max(
            1, int(sample_rate * self.max_hops * self.model.hop // self.model.sample_rate_hz)
        )
        blocks = [
            AudioBlock(array[:, s : s + step], sample_rate, s)
            for s in range(0, array.shape[1], step)
        ]
        out = [b.samples for block in blocks for b in self.process(block)]
        out += [b.samples for b in self.flush()]
        result = np.concatenate(out, axis=1) if out else np.zeros_like(array)
        return result[0] if mono else result

    # ------------------------------------------------------------------ internals

    def _require_spec(self) -> AudioSpec:
        if self.spec is None:
            raise ConfigError("call Denoise.configure(spec) before process()")
        return self.spec

    def _run(self, samples: np.ndarray) -> np.ndarray:
        x = samples if self._up is None else self._up.process(samples)
        self._fifo = np.concatenate([self._fifo, x.astype(np.float32)], axis=1)
        hop = self.model.hop
        whole = self._fifo.shape[1] // hop * hop
        outs = []
        for start in range(0, whole, self.max_hops * hop):
            chunk = self._fifo[:, start : min(start + self.max_hops * hop, whole)]
            out, self._state = self.model.step(chunk, self._state, self.min_gain)
            outs.append(out)
        self._fifo = self._fifo[:, whole:]
        y = np.concatenate(outs, axis=1) if outs else np.zeros((x.shape[0], 0), np.float32)
        return y if self._down is None else self._down.process(y)

    def _emit(self, y: np.ndarray) -> Iterator[AudioBlock]:
        drop = min(self._to_drop, y.shape[1])
        self._to_drop -= drop
        y = y[:, drop:][:, : self._received - self._emitted]
        if y.shape[1]:
            block = AudioBlock(
                np.ascontiguousarray(y, np.float32), self.spec.sample_rate, self._emitted
            )
            self._emitted += y.shape[1]
            yield block
