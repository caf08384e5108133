"""Export + onnxruntime: parity with torch (a failing test), metadata checks, backends."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mmpipe.errors import ModelError
from mmpipe.runtime.denoiser import OnnxDenoiser, default_onnx_path, load_denoiser

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from mmpipe.nets.denoiser import save_pretrained  # noqa: E402
from mmpipe.train.denoiser_export import check_parity, export_denoiser  # noqa: E402
from tests.nets.test_denoiser import TINY, TINY_AHEAD, random_model  # noqa: E402
from tests.runtime.helpers import saved_and_exported  # noqa: E402


@pytest.fixture(scope="module", params=[TINY, TINY_AHEAD], ids=["causal", "lookahead"])
def exported(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("denoiser")
    model = random_model(request.param)
    return saved_and_exported(root, "denoiser", model, save_pretrained, export_denoiser)


def test_onnx_matches_torch_hop_by_hop_and_in_chunks(exported: tuple[Path, Path]) -> None:
    model_dir, onnx_path = exported
    onnx_model = OnnxDenoiser(onnx_path)
    torch_model = load_denoiser("torch", model_dir)
    audio = (np.random.default_rng(1).standard_normal((2, 30 * 480)) * 0.1).astype(np.float32)
    expected, _ = torch_model.step(audio, torch_model.initial_state(2), 0.0)
    state = onnx_model.initial_state(2)
    parts = []
    for start, size in zip((0, 480, 960, 5760), (1, 1, 10, 18), strict=True):
        out, state = onnx_model.step(audio[:, start : start + size * 480], state, 0.0)
        parts.append(out)
    np.testing.assert_allclose(np.concatenate(parts, axis=1), expected, atol=1e-4)


def test_parity_check_fails_on_mismatch(exported: tuple[Path, Path]) -> None:
    from mmpipe.nets.denoiser import from_pretrained

    config = from_pretrained(exported[0]).config
    model = random_model(config, seed=5)  # other weights than the exported file
    with pytest.raises(Exception, match="differs from torch"):
        check_parity(model, exported[1], tolerance=1e-4)


def test_metadata_is_checked(tmp_path: Path, exported: tuple[Path, Path]) -> None:
    import onnx

    proto = onnx.load(str(exported[1]))
    for prop in proto.metadata_props:
        if prop.key == "model":
            prop.value = "interpolator"
    onnx.save(proto, str(tmp_path / "wrong.onnx"))
    with pytest.raises(ModelError, match="expected 'denoiser'"):
        OnnxDenoiser(tmp_path / "wrong.onnx")
    with pytest.raises(ModelError, match="mmpipe export"):
        OnnxDenoiser(tmp_path / "missing.onnx")


@pytest.mark.skipif(not default_onnx_path().exists(), reason="no shipped export yet")
def test_shipped_export_matches_shipped_weights() -> None:
    from mmpipe.nets.denoiser import from_pretrained
    from mmpipe.runtime.denoiser import default_model_dir
    from mmpipe.train.denoiser_export import weights_sha256

    shipped = OnnxDenoiser()
    # the DFT matrices (about 7 MB) are computed in the graph, not stored beside the weights
    weights_bytes = (default_model_dir() / "model.safetensors").stat().st_size
    assert default_onnx_path().stat().st_size < weights_bytes + 1_000_000
    assert shipped.runner.metadata["weights_sha256"] == weights_sha256(default_model_dir()), (
        "models/denoiser changed but export/denoiser.onnx was not regenerated"
    )
    model = from_pretrained(default_model_dir())
    model.use_dft_matrices = True
    check_parity(model, default_onnx_path(), tolerance=1e-4, seconds=0.5)
