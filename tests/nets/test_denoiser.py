"""The denoiser network: streaming equals whole-file, latency, size, config round trip."""

from __future__ import annotations

from dataclasses import replace
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
    warm_start,
)

TINY = DenoiserConfig(n_bands=16, hidden=24, n_layers=1, df_bins=32, df_order=3)
# the look-ahead variant: gains and deep filter for frame t - 2, future deep-filter taps
TINY_AHEAD = DenoiserConfig(
    n_bands=16, hidden=24, n_layers=1, df_bins=32, df_order=3, lookahead=2, df_lookahead=2
)
VARIANTS = pytest.mark.parametrize("config", [TINY, TINY_AHEAD], ids=["causal", "lookahead"])


def random_model(config: DenoiserConfig = TINY, seed: int = 0) -> Denoiser:
    torch.manual_seed(seed)
    model = Denoiser(config)
    for p in model.parameters():  # make every branch (incl. the deep filter) matter
        torch.nn.init.normal_(p, std=0.1)
    return model.eval()


@VARIANTS
@pytest.mark.parametrize(
    ("channels", "hops_per_call", "dft_matrices"),
    [(2, (1,) * 20, True), (1, (1, 4, 2, 5), False)],
    ids=["hops", "uneven"],
)
def test_streaming_equals_whole_sequence(
    config: DenoiserConfig, channels: int, hops_per_call: tuple[int, ...], dft_matrices: bool
) -> None:
    """Hop by hop (with the exported graph's DFT matrices) or in uneven chunks of hops."""
    model = random_model(config)
    hop = model.config.hop
    audio = torch.randn(channels, sum(hops_per_call) * hop) * 0.1
    with torch.no_grad():
        whole, _ = model(audio, model.initial_state(channels))
        model.use_dft_matrices = dft_matrices
        state = model.initial_state(channels)
        parts, start = [], 0
        for hops in hops_per_call:
            out, state = model(audio[:, start : start + hops * hop], state)
            parts.append(out)
            start += hops * hop
    assert torch.allclose(torch.cat(parts, dim=1), whole, atol=1e-5)


@VARIANTS
def test_passthrough_is_input_delayed_by_latency(config: DenoiserConfig) -> None:
    model = random_model(config)
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


@VARIANTS
def test_config_and_weights_round_trip(tmp_path: Path, config: DenoiserConfig) -> None:
    model = random_model(config)
    save_pretrained(model, tmp_path)
    loaded = from_pretrained(tmp_path)
    assert loaded.config == config
    audio = torch.randn(1, 4 * TINY.hop)
    with torch.no_grad():
        a, _ = model(audio, model.initial_state(1))
        b, _ = loaded(audio, loaded.initial_state(1))
    assert torch.equal(a, b)


def test_lookahead_latency_and_state() -> None:
    assert TINY_AHEAD.latency_samples == TINY.latency_samples + 2 * TINY.hop
    state = Denoiser(TINY_AHEAD).initial_state(3)
    assert state[2].shape == (3, 4, 2 * (TINY.window // 2 + 1))  # df_order - 1 + lookahead
    with pytest.raises(ValueError, match="df_lookahead"):
        Denoiser(DenoiserConfig(lookahead=1, df_lookahead=2))


def test_warm_start_is_the_causal_model_delayed_by_the_lookahead() -> None:
    causal = random_model(TINY)
    ahead = Denoiser(TINY_AHEAD).eval()
    assert warm_start(ahead, causal.state_dict()) == [
        "deep_filter_ahead.weight",
        "deep_filter_ahead.bias",
    ]
    shift = TINY_AHEAD.lookahead * TINY.hop
    audio = torch.randn(2, 20 * TINY.hop) * 0.1
    with torch.no_grad():
        # the look-ahead model's first steps see all-zero past frames: zeros in front of the
        # causal model's input make its first frames the same
        expected, _ = causal(torch.cat([torch.zeros(2, shift), audio], 1), causal.initial_state(2))
        out, _ = ahead(audio, ahead.initial_state(2))
    assert torch.allclose(out, expected[:, :-shift], atol=1e-5)


def test_warm_start_into_a_wider_model_keeps_the_output_and_trains_the_new_units() -> None:
    two_layers = replace(TINY_AHEAD, n_layers=2)
    narrow = random_model(two_layers)
    wide = Denoiser(replace(two_layers, hidden=two_layers.hidden + 8)).eval()
    assert warm_start(wide, narrow.state_dict()) == []
    audio = torch.randn(2, 20 * TINY.hop) * 0.1
    with torch.no_grad():
        expected, _ = narrow(audio, narrow.initial_state(2))
    out, _ = wide(audio, wide.initial_state(2))
    assert torch.allclose(out, expected, atol=1e-5)
    out.square().mean().backward()
    # not a saddle: the heads' weights from the new units get a gradient, and through them,
    # after the first step, the new units themselves
    assert wide.gains.weight.grad[:, -8:].abs().sum() > 0
