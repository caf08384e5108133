"""Border inpainter runtime: the DDIM sampler against diffusers', nearest fill, export parity."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from mmpipe.errors import ConfigError, ModelError
from mmpipe.runtime.inpainter import (
    BASES,
    alphas_cumprod,
    base_fill,
    ddim_sample,
    ddim_timesteps,
    load_inpainter,
    nearest_fill,
    network_feeds,
)

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
pytest.importorskip("diffusers")

from mmpipe.nets.inpainter import Inpainter, InpainterConfig, save_pretrained  # noqa: E402
from mmpipe.train.inpainter_export import check_parity, export_inpainter  # noqa: E402
from tests.runtime.helpers import saved_and_exported  # noqa: E402

TINY = InpainterConfig(channels=(16, 32), norm_groups=8)


def random_model(seed: int = 0) -> Inpainter:
    """A tiny inpainter with every weight random (its zero-initialised output layer too)."""
    torch.manual_seed(seed)
    model = Inpainter(TINY)
    for parameter in model.unet.conv_out.parameters():
        torch.nn.init.normal_(parameter, std=0.05)
    return model.eval()


def test_sampler_matches_diffusers_ddim() -> None:
    """Same schedule, timesteps and update as diffusers' DDIMScheduler (x0 prediction)."""
    from diffusers import DDIMScheduler

    scheduler = DDIMScheduler(
        num_train_timesteps=1000,
        beta_schedule="squaredcos_cap_v2",
        prediction_type="sample",
        timestep_spacing="trailing",
        clip_sample=True,
        set_alpha_to_one=True,
    )
    assert np.allclose(scheduler.alphas_cumprod.numpy(), alphas_cumprod(), atol=1e-6)

    def predict(sample: np.ndarray, condition: np.ndarray, t: np.ndarray) -> np.ndarray:
        return np.tanh(0.7 * sample + condition + t[:, None, None, None] / 1000)

    rng = np.random.default_rng(0)
    condition = rng.uniform(-1, 1, (1, 3, 4, 8)).astype(np.float32)
    noise = rng.standard_normal((1, 3, 4, 8)).astype(np.float32)
    for steps in (1, 2, 4):
        scheduler.set_timesteps(steps)
        assert scheduler.timesteps.tolist() == ddim_timesteps(steps).tolist()
        sample = torch.from_numpy(noise)
        for t in scheduler.timesteps:
            x0 = predict(sample.numpy(), condition, np.array([float(t)], np.float32))
            out = scheduler.step(torch.from_numpy(x0), t, sample)
            sample = out.prev_sample
        expected = out.pred_original_sample.numpy()
        got = ddim_sample(predict, condition, noise, steps)
        assert np.abs(got - expected).max() < 1e-4, steps


def test_nearest_fill_copies_the_nearest_known_pixel() -> None:
    picture = np.zeros((6, 5, 3), np.uint8)
    picture[3:] = np.arange(5, dtype=np.uint8)[None, :, None] * 40 + 10
    known = np.zeros((6, 5), bool)
    known[3:] = True
    filled = nearest_fill(picture, known)
    assert (filled[3:] == picture[3:]).all()
    assert (filled[:3] == picture[3][None]).all()  # straight up from the first known row


@pytest.mark.parametrize("base", BASES)
def test_untrained_network_is_its_base_fill_and_keeps_known_pixels(base: str) -> None:
    """The zero output layer makes x0 the base fill; known pixels are never touched."""
    torch.manual_seed(0)
    inpainter = load_inpainter("torch", model=Inpainter(replace(TINY, base=base)), steps=2)
    rng = np.random.default_rng(1)
    picture = rng.integers(0, 256, (10, 21, 3), dtype=np.uint8)
    known = np.ones((10, 21), bool)
    known[:4] = False
    out = inpainter.inpaint(picture, known)
    assert (out[known] == picture[known]).all()
    assert np.abs(out.astype(int) - base_fill(picture, known, base).astype(int)).max() <= 1


def test_inpainting_is_deterministic() -> None:
    inpainter = load_inpainter("torch", model=random_model(), steps=4)
    rng = np.random.default_rng(2)
    picture = rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)
    known = np.ones((12, 16), bool)
    known[:5, :] = False
    first = inpainter.inpaint(picture, known)
    assert (inpainter.inpaint(picture, known) == first).all()
    assert (first[~known] != nearest_fill(picture, known)[~known]).any()  # it did generate


def test_bad_inputs_say_what_to_do() -> None:
    inpainter = load_inpainter("torch", model=random_model())
    picture = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(ConfigError, match="uint8"):
        inpainter.inpaint(picture.astype(np.float32), np.ones((8, 8), bool))
    with pytest.raises(ConfigError, match="height and width"):
        network_feeds(picture, np.ones((4, 8), bool), 4, "telea")
    with pytest.raises(ConfigError, match="base fill"):
        base_fill(picture, np.ones((8, 8), bool), "median")
    with pytest.raises(ConfigError, match="known pixels"):
        inpainter.inpaint(picture, np.zeros((8, 8), bool))
    with pytest.raises(ConfigError, match="at least one"):
        ddim_timesteps(0)
    with pytest.raises(ModelError, match="mmpipe train inpainter"):
        load_inpainter("torch", Path("/nonexistent"))


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("inpainter")
    return saved_and_exported(root, "inpainter", random_model(), save_pretrained, export_inpainter)


def test_export_passes_parity_and_backends_agree(exported: tuple[Path, Path]) -> None:
    """The exported UNet equals torch; an odd-sized strip is padded, sampled and cropped back
    the same way by both backends."""
    model_dir, path = exported
    onnx = load_inpainter("onnx", path, steps=2)
    torch_backend = load_inpainter("torch", model_dir, steps=2)
    rng = np.random.default_rng(3)
    picture = rng.integers(0, 256, (13, 30, 3), dtype=np.uint8)
    known = np.ones((13, 30), bool)
    known[:6] = False
    a, b = onnx.inpaint(picture, known), torch_backend.inpaint(picture, known)
    assert a.shape == picture.shape
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


def test_parity_check_fails_on_other_weights(exported: tuple[Path, Path]) -> None:
    from mmpipe.errors import ExportError

    _, path = exported
    with pytest.raises(ExportError, match="differs from torch"):
        check_parity(random_model(seed=1), path, tolerance=1e-4)


def test_runner_rejects_a_file_of_another_model(tmp_path: Path) -> None:
    from mmpipe.runtime.interpolator import default_onnx_path

    with pytest.raises(ModelError, match="not this model"):
        load_inpainter("onnx", default_onnx_path())
