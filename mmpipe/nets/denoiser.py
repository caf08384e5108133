"""A small causal speech denoiser at 48 kHz (RNNoise / DeepFilterNet class).

Signal path per 10 ms hop (``hop`` = 480 samples, ``window`` = 960, sqrt-Hann, 50 % overlap):

1. analysis: the last ``window`` input samples, windowed, real DFT (481 bins, 50 Hz apart);
2. features: log energies of ``n_bands`` ERB-spaced bands, plus the low ``df_bins`` complex
   bins normalised by the frame's RMS;
3. a linear layer, ``n_layers`` GRUs of ``hidden`` units;
4. per-band gains (sigmoid) interpolated linearly to all bins, plus a deep filter on the low
   ``df_bins``: a complex correction ``sum_k c_k X[t-k]`` over the last ``df_order`` frames;
5. ``Y = min_gain * X + (1 - min_gain) * Y`` (attenuation limit), inverse DFT, window,
   overlap-add.

With ``lookahead = L`` frames (default 0: nothing looks ahead) the network sees the features
of frames ``t-L..t`` (one linear layer over the ``L+1`` frames) and its gains and deep filter
apply to frame ``t-L``; the deep filter then also takes ``df_lookahead`` (<= L) future frames
``X[t-L+1..t-L+df_lookahead]``. The output is the input delayed by exactly
``window - hop + L * hop`` samples (10 ms + L * 10 ms) when the network passes everything
through. ``forward`` takes any whole number of hops
and an explicit state, so one hop at a time and a whole file in one call are the same
function (the file path uses ``torch.fft``; streaming/export uses DFT matrices: same math).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from mmpipe.nets import weights
from mmpipe.nets.weights import count_parameters  # noqa: F401 - part of this module's API

State = tuple[Tensor, Tensor, Tensor, Tensor]
STATE_NAMES = ("input_tail", "output_tail", "spectrum_history", "gru_state")


@dataclass(frozen=True)
class DenoiserConfig:
    """Every constructor argument of ``Denoiser``; frozen into ``config.json``."""

    sample_rate_hz: int = 48_000
    hop: int = 480
    window: int = 960
    n_bands: int = 32
    min_band_bins: int = 2
    hidden: int = 192
    n_layers: int = 2
    df_bins: int = 96
    df_order: int = 3
    lookahead: int = 0
    df_lookahead: int = 0

    @property
    def latency_samples(self) -> int:
        """Delay of the output behind the input, in samples."""
        return self.window - self.hop + self.lookahead * self.hop

    @property
    def n_features(self) -> int:
        """Features per frame: band log energies + the low complex bins."""
        return self.n_bands + 2 * self.df_bins

    @property
    def history_frames(self) -> int:
        """Past frames kept in ``spectrum_history``."""
        return self.df_order - 1 + self.lookahead

    def save(self, path: Path) -> None:
        path.write_text(json.dumps({"model": "denoiser", **asdict(self)}, indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> DenoiserConfig:
        data = json.loads(path.read_text())
        data.pop("model", None)
        return cls(**data)


def erb_band_edges(n_bins: int, n_bands: int, sample_rate_hz: int, min_bins: int) -> np.ndarray:
    """Bin indices ``[n_bands + 1]`` splitting ``0..n_bins`` into ERB-spaced bands.

    Bands narrower than ``min_bins`` are widened (low frequencies), the rest share what is left.
    """

    def erb(f_hz: np.ndarray | float) -> np.ndarray:
        return 21.4 * np.log10(1 + 0.00437 * np.asarray(f_hz))

    nyquist = sample_rate_hz / 2
    targets = (10 ** (np.linspace(0, erb(nyquist), n_bands + 1) / 21.4) - 1) / 0.00437
    ideal = targets / nyquist * (n_bins - 1)
    edges = [0]
    for band in range(1, n_bands):
        remaining = n_bands - band
        edge = max(int(np.round(ideal[band])), edges[-1] + min_bins)
        edges.append(min(edge, n_bins - remaining * min_bins))
    edges.append(n_bins)
    return np.asarray(edges)


def band_matrices(config: DenoiserConfig) -> tuple[np.ndarray, np.ndarray]:
    """``(pool [bins, bands], spread [bands, bins])``: band means and gain interpolation."""
    n_bins = config.window // 2 + 1
    edges = erb_band_edges(n_bins, config.n_bands, config.sample_rate_hz, config.min_band_bins)
    pool = np.zeros((n_bins, config.n_bands), np.float32)
    for band in range(config.n_bands):
        pool[edges[band] : edges[band + 1], band] = 1.0 / (edges[band + 1] - edges[band])
    centres = (edges[:-1] + edges[1:] - 1) / 2
    spread = np.zeros((config.n_bands, n_bins), np.float32)
    for k in range(n_bins):  # linear interpolation between band centres, flat at the ends
        pos = np.interp(k, centres, np.arange(config.n_bands))
        low = int(np.floor(pos))
        high = min(low + 1, config.n_bands - 1)
        spread[low, k] += 1 - (pos - low)
        spread[high, k] += pos - low
    return pool, spread


def dft_matrices(window: int) -> tuple[np.ndarray, ...]:
    """Real DFT and its inverse as matrices: ``(cos, sin) [window, bins]``, ``(icos, isin)``."""
    n = np.arange(window)[:, None]
    k = np.arange(window // 2 + 1)[None, :]
    angle = 2 * np.pi * n * k / window
    weight = np.where((k == 0) | (k == window // 2), 1.0, 2.0) / window
    cos, sin = np.cos(angle), -np.sin(angle)
    return (
        cos.astype(np.float32),
        sin.astype(np.float32),
        (weight * np.cos(angle)).T.astype(np.float32),
        (-weight * np.sin(angle)).T.astype(np.float32),
    )


class Denoiser(nn.Module):
    """Causal spectral-gain + deep-filter denoiser; see the module docstring for the math."""

    def __init__(self, config: DenoiserConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or DenoiserConfig()
        if config.window != 2 * config.hop:
            raise ValueError("window must be twice the hop (50 % overlap)")
        if not 0 <= config.df_lookahead <= config.lookahead:
            raise ValueError("df_lookahead must be between 0 and lookahead")
        self.use_dft_matrices = False  # True for export/streaming; same result
        n_bins = config.window // 2 + 1
        window = np.sqrt(0.5 - 0.5 * np.cos(2 * np.pi * np.arange(config.window) / config.window))
        pool, spread = band_matrices(config)
        cos, sin, icos, isin = dft_matrices(config.window)
        for name, value in [
            ("window", window),
            ("pool", pool),
            ("spread", spread),
            ("cos", cos),
            ("sin", sin),
            ("icos", icos),
            ("isin", isin),
        ]:
            self.register_buffer(
                name, torch.from_numpy(np.asarray(value, np.float32)), persistent=False
            )
        self.n_bins = n_bins
        self.embed = nn.Linear(config.n_features * (config.lookahead + 1), config.hidden)
        self.gru = nn.GRU(config.hidden, config.hidden, config.n_layers, batch_first=True)
        self.gains = nn.Linear(config.hidden, config.n_bands)
        self.deep_filter = nn.Linear(config.hidden, config.df_order * config.df_bins * 2)
        nn.init.zeros_(self.deep_filter.weight)
        nn.init.zeros_(self.deep_filter.bias)
        if config.df_lookahead:  # taps on the future frames, in the order t-L+1, t-L+2, ...
            self.deep_filter_ahead = nn.Linear(
                config.hidden, config.df_lookahead * config.df_bins * 2
            )
            nn.init.zeros_(self.deep_filter_ahead.weight)
            nn.init.zeros_(self.deep_filter_ahead.bias)
        nn.init.constant_(self.gains.bias, 2.0)  # start close to passing everything

    def initial_state(self, batch: int) -> State:
        """Zero state for ``batch`` independent streams (e.g. channels)."""
        c = self.config
        device = self.window.device
        # without look-ahead only the low bins of past frames are needed (deep filter taps);
        # with it, whole past spectra (the gains apply to frame t - lookahead)
        width = 2 * (self.n_bins if c.lookahead else c.df_bins)
        return (
            torch.zeros(batch, c.window - c.hop, device=device),
            torch.zeros(batch, c.window - c.hop, device=device),
            torch.zeros(batch, c.history_frames, width, device=device),
            torch.zeros(c.n_layers, batch, c.hidden, device=device),
        )

    def _analysis(self, frames: Tensor) -> tuple[Tensor, Tensor]:
        if self.use_dft_matrices:
            return frames @ self.cos, frames @ self.sin
        spectrum = torch.fft.rfft(frames, dim=-1)
        return spectrum.real, spectrum.imag

    def _synthesis(self, real: Tensor, imag: Tensor) -> Tensor:
        if self.use_dft_matrices:
            return real @ self.icos + imag @ self.isin
        return torch.fft.irfft(torch.complex(real, imag), n=self.config.window, dim=-1)

    def forward(
        self, audio: Tensor, state: State, min_gain: Tensor | float = 0.0
    ) -> tuple[Tensor, State]:
        """Denoise ``audio [B, K * hop]`` (float, 48 kHz) given ``state``; K >= 1.

        Returns the output ``[B, K * hop]``, delayed by ``latency_samples`` against the input,
        and the new state. ``min_gain`` (0..1, scalar or ``[1]``) mixes the noisy spectrum
        back in: ``1`` passes the input through, ``10 ** (-limit_db / 20)`` caps the
        attenuation at ``limit_db``.
        """
        c = self.config
        input_tail, output_tail, history, hidden = state
        batch = audio.shape[0]
        buffer = torch.cat([input_tail, audio], dim=1)
        frames = torch.cat(
            [
                buffer[:, : -c.hop].reshape(batch, -1, c.hop),
                buffer[:, c.hop :].reshape(batch, -1, c.hop),
            ],
            dim=2,
        )
        real, imag = self._analysis(frames * self.window)  # [B, K, bins]
        if c.lookahead:
            real, imag, real_out, imag_out, spectra, hidden = self._ahead(
                real, imag, history, hidden, batch
            )
        else:
            real_out, imag_out, spectra, hidden = self._causal(real, imag, history, hidden, batch)
        real_out = min_gain * real + (1 - min_gain) * real_out
        imag_out = min_gain * imag + (1 - min_gain) * imag_out

        frames_out = self._synthesis(real_out, imag_out) * self.window  # [B, K, window]
        second = torch.cat([output_tail.unsqueeze(1), frames_out[:, :, c.hop :]], dim=1)
        output = (frames_out[:, :, : c.hop] + second[:, :-1]).reshape(batch, -1)
        past = c.history_frames  # the newest frames of the history + this call's spectra
        new_history = spectra[:, -past:] if past else history
        return output, (buffer[:, -(c.window - c.hop) :], second[:, -1], new_history, hidden)

    def _features(self, real: Tensor, imag: Tensor) -> tuple[Tensor, Tensor]:
        """Per-frame features ``[B, K, n_features]`` of spectra ``[B, K, bins]``, and the
        low complex bins ``[B, K, 2 * df_bins]`` (real, imaginary)."""
        c = self.config
        power = real**2 + imag**2
        band_db = 10 * torch.log10(power @ self.pool + 1e-10)
        rms = torch.sqrt(power.mean(dim=-1, keepdim=True) + 1e-10)
        low = torch.cat([real[..., : c.df_bins], imag[..., : c.df_bins]], dim=-1)  # [B,K,2F]
        return torch.cat([(band_db + 60) / 30, low / rms / 4], dim=-1), low

    def _causal(self, real: Tensor, imag: Tensor, history: Tensor, hidden: Tensor, batch: int):
        """No look-ahead: gains and deep filter for the newest frames (the shipped model).

        Returns the enhanced spectra, the past + new low-band frames, the GRU state.
        """
        c = self.config
        features, low = self._features(real, imag)
        out, hidden = self.gru(torch.relu(self.embed(features)), hidden)

        gain = torch.sigmoid(self.gains(out)) @ self.spread  # [B, K, bins]
        real_out, imag_out = gain * real, gain * imag
        coefs = self.deep_filter(out).reshape(batch, -1, c.df_order, 2 * c.df_bins)
        frames_low = torch.cat([history, low], dim=1)  # [B, K + order - 1, 2F]
        past = c.df_order - 1
        fix_real = fix_imag = 0.0
        for k in range(c.df_order):  # X[t - k] is frames_low[:, past - k : past - k + K]
            x = frames_low[:, past:] if k == 0 else frames_low[:, past - k : -k]
            x_re, x_im = x[..., : c.df_bins], x[..., c.df_bins :]
            c_re, c_im = coefs[:, :, k, : c.df_bins], coefs[:, :, k, c.df_bins :]
            fix_real = fix_real + c_re * x_re - c_im * x_im
            fix_imag = fix_imag + c_re * x_im + c_im * x_re
        zeros = torch.zeros_like(real_out[..., c.df_bins :])
        real_out = real_out + torch.cat([fix_real, zeros], dim=-1)
        imag_out = imag_out + torch.cat([fix_imag, zeros], dim=-1)
        return real_out, imag_out, frames_low, hidden

    def _ahead(self, real: Tensor, imag: Tensor, history: Tensor, hidden: Tensor, batch: int):
        """Look-ahead of ``L`` frames: the step at frame t enhances frame t - L.

        Returns the target spectra (frames t - L, for the attenuation limit), the enhanced
        ones, the past + new spectra and the GRU state.
        """
        c = self.config
        steps, bins = real.shape[1], real.shape[2]
        ahead, past, n_df = c.lookahead, c.history_frames, c.df_bins
        spectra = torch.cat([history, torch.cat([real, imag], dim=-1)], dim=1)  # [B, P+K, 2N]
        all_real, all_imag = spectra[..., :bins], spectra[..., bins:]
        first = past - ahead  # index of frame t - L for the first new step
        features, _ = self._features(all_real[:, first:], all_imag[:, first:])  # [B, L+K, F]
        context = torch.cat([features[:, j : j + steps] for j in range(ahead + 1)], dim=-1)
        out, hidden = self.gru(torch.relu(self.embed(context)), hidden)

        target_real = all_real[:, first : first + steps]
        target_imag = all_imag[:, first : first + steps]
        gain = torch.sigmoid(self.gains(out)) @ self.spread  # [B, K, bins]
        real_out, imag_out = gain * target_real, gain * target_imag
        coefs = self.deep_filter(out).reshape(batch, steps, c.df_order, 2 * n_df)
        if c.df_lookahead:
            future = self.deep_filter_ahead(out).reshape(batch, steps, c.df_lookahead, 2 * n_df)
            coefs = torch.cat([coefs, future], dim=2)
        taps = list(range(c.df_order)) + [-j for j in range(1, c.df_lookahead + 1)]
        fix_real = fix_imag = 0.0
        for index, k in enumerate(taps):  # X[t - L - k]
            start = first - k
            x_re = all_real[:, start : start + steps, :n_df]
            x_im = all_imag[:, start : start + steps, :n_df]
            c_re, c_im = coefs[:, :, index, :n_df], coefs[:, :, index, n_df:]
            fix_real = fix_real + c_re * x_re - c_im * x_im
            fix_imag = fix_imag + c_re * x_im + c_im * x_re
        zeros = torch.zeros_like(real_out[..., n_df:])
        real_out = real_out + torch.cat([fix_real, zeros], dim=-1)
        imag_out = imag_out + torch.cat([fix_imag, zeros], dim=-1)
        return target_real, target_imag, real_out, imag_out, spectra, hidden


def save_pretrained(model: Denoiser, directory: Path) -> None:
    """Write ``config.json`` and ``model.safetensors`` (fp32) into ``directory``."""
    weights.save_pretrained(model, directory, "denoiser")


def from_pretrained(directory: Path) -> Denoiser:
    """Build a ``Denoiser`` from ``config.json`` + ``model.safetensors`` in ``directory``."""
    return weights.from_pretrained(Denoiser, DenoiserConfig, directory)


def warm_start(model: Denoiser, source: dict[str, Tensor]) -> list[str]:
    """Copy a trained state dict ``source`` into ``model`` so that it starts as the source.

    Two changes are function-preserving:

    - look-ahead: the input layer of a look-ahead model gets the source's weights on its frame
      ``t - L`` block and zeros on the newer frames; with the zero-initialised future
      deep-filter taps the new model starts as the source model delayed by ``L`` hops;
    - width: a wider model (larger ``hidden``) gets the source's units as its first units;
      the new units keep their random initialisation but every weight *from* a new unit *to*
      an old unit or a head is zero, so the output is unchanged while gradients reach the new
      units (net2net-style widening).

    Returns the names of the parameters left entirely as initialised.
    """
    own = model.state_dict()
    untouched = []
    with torch.no_grad():
        for name, value in own.items():
            old = source.get(name)
            if old is None or old.dim() != value.dim():
                untouched.append(name)
            elif old.shape == value.shape:
                value.copy_(old)
            elif name.startswith("gru."):  # [3 * hidden, inputs] in gate blocks (r, z, n)
                gates = value.view(3, value.shape[0] // 3, *value.shape[1:])
                old_gates = old.view(3, old.shape[0] // 3, *old.shape[1:])
                _embed(gates, old_gates, rows_dim=1)
            elif name.startswith("embed."):
                # the context is frames t-L .. t, oldest first: the source's single frame
                # (t - L after the delay) lands on the first block of columns
                _embed(value, old, rows_dim=0)
            else:  # heads: [outputs, hidden]
                _embed(value, old, rows_dim=0)
    return untouched


def _embed(value: Tensor, old: Tensor, rows_dim: int) -> None:
    """Write ``old`` into the leading block of ``value`` (rows along ``rows_dim``, columns in
    the last dimension) and zero the old rows' weights from new columns; rows beyond ``old``
    keep their values."""
    rows = old.shape[rows_dim]
    block = value.narrow(rows_dim, 0, rows)
    if value.dim() == rows_dim + 1:  # a bias: no columns
        block.copy_(old)
        return
    columns = old.shape[-1]
    block.zero_()
    block[..., :columns] = old
