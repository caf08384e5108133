"""The denoiser network: streaming equals whole-file, latency, size, config round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from mmpipe.nets.denoiser import (  # noqa: E402
    Denoiser,
    DenoiserConfig,
    count_parameters,
    erb_band_edges,
    from_pretrained,
    save_pretrained,
)

TINY = DenoiserConfig(n_bands=16, hidden=24, n_layers=1, df_bins=32, df_order=3)


def random_model(config: DenoiserConfig = TINY, seed: int = 0) -> Denoiser:
    torch.manual_seed(seed)
    model = Denoiser(config)
    for p in model.parameters():  # make every branch (incl. the deep filter) matter
        torch.nn.init.normal_(p, std=0.1)
    return model.eval()


def test_hop_by_hop_equals_whole_sequence() -> None:
    model = random_model()
    hop = model.config.hop
    audio = torch.randn(2, 20 * hop) * 0.1
    with torch.no_grad():
        whole, _ = model(audio, model.initial_state(2))
        model.use_dft_matrices = True
        state = model.initial_state(2)
        parts = []
        for start in range(0, audio.shape[1], hop):  # also in uneven chunks of hops
            out, state = model(audio[:, start : start + hop], state)
            parts.append(out)
    assert torch.allclose(torch.cat(parts, dim=1), whole, atol=1e-5)


def test_chunks_of_several_hops_equal_whole_sequence() -> None:
    model = random_model()
    hop = model.config.hop
    audio = torch.randn(1, 12 * hop) * 0.1
    with torch.no_grad():
        whole, _ = model(audio, model.initial_state(1))
        state = model.initial_state(1)
        parts = []
        for size in (1, 4, 2, 5):
            start = sum(p.shape[1] for p in parts)
            out, state = model(audio[:, start : start + size * hop], state)
            parts.append(out)
    assert torch.allclose(torch.cat(parts, dim=1), whole, atol=1e-5)


def test_passthrough_is_input_delayed_by_latency() -> None:
    model = random_model()
    latency = model.config.latency_samples
    audio = torch.randn(1, 10 * model.config.hop)
    with torch.no_grad():
        out, _ = model(audio, model.initial_state(1), min_gain=1.0)
    assert torch.allclose(out[:, latency:], audio[:, :-latency], atol=1e-5)
    assert latency / model.config.sample_rate_hz <= 0.040


def test_default_size_and_bands() -> None:
    config = DenoiserConfig()
    assert count_parameters(Denoiser(config)) <= 2_000_000
    edges = erb_band_edges(
        config.window // 2 + 1, config.n_bands, config.sample_rate_hz, config.min_band_bins
    )
    assert edges[0] == 0 and edges[-1] == config.window // 2 + 1
    assert np.all(np.diff(edges) >= config.min_band_bins)


def test_config_and_weights_round_trip(tmp_path: Path) -> None:
    model = random_model()
    save_pretrained(model, tmp_path)
    loaded = from_pretrained(tmp_path)
    assert loaded.config == TINY
    audio = torch.randn(1, 4 * TINY.hop)
    with torch.no_grad():
        a, _ = model(audio, model.initial_state(1))
        b, _ = loaded(audio, loaded.initial_state(1))
    assert torch.equal(a, b)
