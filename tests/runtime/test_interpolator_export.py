"""Interpolator export + onnxruntime: parity with torch (a failing test), padding, metadata."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mmpipe.errors import ConfigError, ExportError, ModelError
from mmpipe.runtime.interpolator import OnnxInterpolator, load_interpolator, network_feeds

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from mmpipe.nets.interpolator import save_pretrained  # noqa: E402
from mmpipe.train.interpolator_export import (  # noqa: E402
    INPUT_NAMES,
    check_parity,
    export_interpolator,
    weights_sha256,
)
from tests.nets.test_interpolator import random_model, textured  # noqa: E402
from tests.runtime.helpers import saved_and_exported  # noqa: E402


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("interpolator")
    model = random_model()
    return saved_and_exported(root, "interpolator", model, save_pretrained, export_interpolator)


def test_export_writes_the_contract_and_passes_parity(exported: tuple[Path, Path]) -> None:
    model_dir, path = exported
    runner = OnnxInterpolator(path)
    meta = runner.runner.metadata
    assert meta["model"] == "interpolator" and meta["contract_version"] == "1"
    assert meta["weights_sha256"] == weights_sha256(model_dir)
    assert meta["stride"] == "16" and "DIS" in meta["flow_preprocessing"]
    assert runner.runner.input_names == list(INPUT_NAMES)
    assert runner.runner.output_names == ["frame"]
    from mmpipe.nets.interpolator import from_pretrained

    assert check_parity(from_pretrained(model_dir), path, tolerance=1e-4) <= 1e-4


def test_parity_check_fails_on_other_weights(exported: tuple[Path, Path]) -> None:
    _, path = exported
    with pytest.raises(ExportError, match="differs from torch"):
        check_parity(random_model(seed=1), path, tolerance=1e-4)


def test_runtime_backends_agree_on_an_odd_sized_frame(exported: tuple[Path, Path]) -> None:
    """70 x 90 is padded to 80 x 96 (edge replication) and cropped back; onnx == torch."""
    model_dir, path = exported
    rng = np.random.default_rng(0)
    frame0 = (textured(70, 90, seed=5) * 255).astype(np.uint8)
    frame1 = np.roll(frame0, 2, axis=1)
    flow01 = rng.normal(0, 1, (70, 90, 2)).astype(np.float32) + np.float32([2, 0])
    flow10 = -flow01
    onnx_out = load_interpolator("onnx", path).synthesize(frame0, frame1, flow01, flow10, 0.4)
    torch_out = load_interpolator("torch", model_dir).synthesize(
        frame0, frame1, flow01, flow10, 0.4
    )
    assert onnx_out.shape == (70, 90, 3) and onnx_out.dtype == np.uint8
    assert int(np.abs(onnx_out.astype(int) - torch_out).max()) <= 1


def test_padding_replicates_the_edges() -> None:
    frame = np.arange(5 * 7 * 3, dtype=np.uint8).reshape(5, 7, 3)
    flow = np.ones((5, 7, 2), np.float32)
    feeds = network_feeds(frame, frame, flow, -flow, 0.5, stride=4)
    assert feeds["frame0"].shape == (1, 3, 8, 8) and feeds["flow10"].shape == (1, 2, 8, 8)
    assert np.allclose(feeds["frame0"][0, :, 7, 7], frame[4, 6] / 255.0)
    assert np.allclose(feeds["flow10"][0, :, 6, 7], -1.0)
    assert feeds["t"].tolist() == [0.5]


def test_bad_inputs_say_what_to_do() -> None:
    frame = np.zeros((16, 16, 3), np.uint8)
    flow = np.zeros((16, 16, 2), np.float32)
    with pytest.raises(ConfigError, match=r"\(0, 1\)"):
        network_feeds(frame, frame, flow, flow, 1.0, stride=16)
    with pytest.raises(ConfigError, match="uint8"):
        network_feeds(frame.astype(np.float32), frame, flow, flow, 0.5, stride=16)
    with pytest.raises(ConfigError, match="full-resolution"):
        network_feeds(frame, frame, flow[:8], flow, 0.5, stride=16)


def test_runner_rejects_a_file_of_another_model(
    exported: tuple[Path, Path], tmp_path: Path
) -> None:
    import onnx

    _, path = exported
    proto = onnx.load(str(path))
    for prop in proto.metadata_props:
        if prop.key == "model":
            prop.value = "denoiser"
    onnx.save(proto, str(tmp_path / "wrong.onnx"))
    with pytest.raises(ModelError, match="mmpipe export"):
        OnnxInterpolator(tmp_path / "wrong.onnx")
    with pytest.raises(ModelError, match="mmpipe export"):
        OnnxInterpolator(tmp_path / "missing.onnx")


def test_export_without_weights_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="mmpipe train interpolator"):
        export_interpolator(tmp_path, tmp_path / "interpolator.onnx")


def test_shipped_manifest_lists_every_exportable_model() -> None:
    import json

    from mmpipe.assets import data_dir
    from mmpipe.export import EXPORTABLE

    manifest = json.loads((data_dir("export") / "manifest.json").read_text())
    assert set(EXPORTABLE) <= set(manifest), "run `mmpipe export` for the missing models"


def test_shipped_interpolator_export_is_fresh_and_matches_torch() -> None:
    from mmpipe.assets import exported_model, model_dir
    from mmpipe.export import check

    if not exported_model("interpolator").is_file() or not model_dir("interpolator").is_dir():
        pytest.skip("no shipped interpolator: run `mmpipe train interpolator`, `mmpipe export`")
    summary = check(["interpolator"])
    assert summary["interpolator"]["parity_max_abs_error"] <= 1e-4
