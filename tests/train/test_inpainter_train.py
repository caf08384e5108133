"""The inpainter recipe on a tiny generated picture folder: strips, train, resume."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("skimage")
pytest.importorskip("diffusers")

from mmpipe.nets.inpainter import InpainterConfig  # noqa: E402
from mmpipe.train.inpainter import batch_tensors, hole_scores, train  # noqa: E402
from mmpipe.train.inpainter_data import STRIP_SIZE, sampler, validation_strips  # noqa: E402
from tests.train.helpers import picture_folder  # noqa: E402


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The layout ``acquire`` leaves, with generated wallpapers (Kite is held out)."""
    root = tmp_path_factory.mktemp("data")
    picture_folder(root)
    return root


def test_strips_hide_the_top_edge_and_keep_picture_below(data_dir: Path) -> None:
    source = sampler(data_dir, validation=False)
    for seed in range(20):
        strip = source.draw(np.random.default_rng(seed))
        assert strip.picture.shape == (*STRIP_SIZE, 3) and strip.picture.dtype == np.uint8
        assert not strip.known[0].all()  # something to generate on the edge row
        assert strip.known[-8:].all()  # and picture to continue from
    again = source.draw(np.random.default_rng(3))
    first = sampler(data_dir, validation=False).draw(np.random.default_rng(3))
    assert (again.picture == first.picture).all() and (again.known == first.known).all()


def test_validation_is_fixed_and_from_held_out_photos(data_dir: Path) -> None:
    a, b = validation_strips(data_dir, count=4), validation_strips(data_dir, count=4)
    assert all((x.picture == y.picture).all() for x, y in zip(a, b, strict=True))
    assert len(sampler(data_dir, validation=True).photos) == 2  # Kite, gravel (coffee: benchmark)


def test_noised_batch_keeps_the_target_at_t0_and_hides_it_at_t999(data_dir: Path) -> None:
    source = sampler(data_dir, validation=False)
    strips = [source.draw(np.random.default_rng(i)) for i in range(16)]
    batch = batch_tensors(strips, np.random.default_rng(0), stride=4, base="telea")
    t = batch["timestep"].numpy()
    assert (t == 999).any() and (t < 999).any()
    last = t == 999
    corr = np.corrcoef(batch["noisy"].numpy()[last].ravel(), batch["target"].numpy()[last].ravel())
    assert abs(corr[0, 1]) < 0.1  # at t = 999 the state is (almost) pure noise
    assert batch["condition"].shape[1] == 4


def test_hole_scores_measure_only_the_hidden_pixels(data_dir: Path) -> None:
    strips = validation_strips(data_dir, count=2)
    perfect = [s.picture.copy() for s in strips]
    broken = [p.copy() for p in perfect]
    for b, s in zip(broken, strips, strict=True):
        b[s.known] = 0  # damage only what is known
    assert hole_scores(broken, strips)["psnr_db"] == hole_scores(perfect, strips)["psnr_db"]
    for b, s in zip(broken, strips, strict=True):
        b[~s.known] = 255 - b[~s.known]
    assert hole_scores(broken, strips)["psnr_db"] < 20


def test_train_saves_the_best_and_resumes(data_dir: Path, tmp_path: Path) -> None:
    out, work = tmp_path / "out", tmp_path / "work"
    tiny = InpainterConfig(channels=(16, 32), norm_groups=8)
    kwargs = dict(
        data_dir=data_dir, out_dir=out, work_dir=work, batch=4, validation_count=4, config=tiny
    )
    scores = train(5, max_steps=3, **kwargs)
    assert set(scores) == {"steps_1", "steps_4"}
    assert (out / "model.safetensors").is_file()
    record = json.loads((out / "validation.json").read_text())
    assert record["step"] == 3
    log = [json.loads(line) for line in (work / "log.jsonl").read_text().splitlines()]
    assert "telea" in log[0]["classical"] and log[0]["parameters"] > 0
    train(5, max_steps=2, **kwargs)
    assert torch.load(work / "checkpoint.pt", weights_only=False)["step"] == 5


def test_a_new_run_can_start_from_other_weights_at_its_base_fill(
    data_dir: Path, tmp_path: Path
) -> None:
    """``init_from`` keeps the trunk and zeroes the output layer: step 0 is the base fill."""
    from safetensors.torch import load_file

    tiny = InpainterConfig(channels=(16, 32), norm_groups=8, base="nearest")
    first = tmp_path / "first"
    train(5, data_dir=data_dir, out_dir=first, work_dir=tmp_path / "w1", batch=4,
          validation_count=4, config=tiny, max_steps=2)  # fmt: skip
    second = tmp_path / "second"
    train(5, data_dir=data_dir, out_dir=second, work_dir=tmp_path / "w2", batch=4,
          validation_count=4, config=replace(tiny, base="telea"), init_from=first,
          max_steps=0)  # fmt: skip
    before, after = (
        load_file(str(first / "model.safetensors")),
        load_file(str(second / "model.safetensors")),
    )
    trunk = "unet.conv_in.weight"
    assert torch.equal(before[trunk], after[trunk])
    assert not after["unet.conv_out.weight"].any()


def test_no_side_of_a_photo_is_always_up() -> None:
    """Photos are brighter on top; the runtime turns every side of a frame to the top, so
    strips come in all orientations: on a photo that brightens upwards, the strips' top
    rows are as often darker as brighter than their bottom rows."""
    from mmpipe.train.inpainter_data import StripSampler

    ramp = np.linspace(250, 20, 600)[:, None, None] * np.ones((600, 800, 3))
    source = StripSampler([ramp.astype(np.uint8)])
    signs = []
    for seed in range(200):
        luma = source.draw(np.random.default_rng(seed)).picture[..., 0].astype(float)
        signs.append(np.sign(luma[:4].mean() - luma[-4:].mean()))
    assert abs(np.mean(signs)) < 0.25, np.mean(signs)


def test_the_ssim_loss_measures_what_validation_measures() -> None:
    """The loss's SSIM map (torch, [-1, 1]) agrees with scikit-image's on uint8 luma."""
    from skimage.metrics import structural_similarity

    from mmpipe.train.inpainter import ssim_map

    rng = np.random.default_rng(0)
    a = cv2_blur(rng.integers(0, 256, (40, 64)).astype(np.uint8))
    b = np.clip(a.astype(int) + rng.integers(-20, 21, a.shape), 0, 255).astype(np.uint8)
    _, expected = structural_similarity(
        a, b, data_range=255, gaussian_weights=True, sigma=1.5, full=True
    )
    tensors = [torch.from_numpy(x.astype(np.float32) / 127.5 - 1)[None, None] for x in (a, b)]
    got = ssim_map(*tensors)[0, 0].numpy()
    assert np.abs(got - expected)[6:-6, 6:-6].max() < 0.02
    assert float(ssim_map(tensors[0], tensors[0]).min()) > 0.999


def cv2_blur(image: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.GaussianBlur(image, (0, 0), 2)
