"""`mmpipe export`: int8 and ORT files, their freshness, PESQ, mobile usability, size budget."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from mmpipe.assets import data_dir, model_dir
from mmpipe.cli import main
from mmpipe.errors import ExportError
from mmpipe.runtime.denoiser import OnnxDenoiser

EXPORT = data_dir("export")
MANIFEST = EXPORT / "manifest.json"
FILES = {"onnx": "denoiser.onnx", "int8": "denoiser.int8.onnx", "ort": "denoiser.ort"}
shipped = pytest.mark.skipif(
    not all((EXPORT / f).exists() for f in FILES.values()), reason="run `mmpipe export` first"
)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_models_and_exports_fit_the_size_budget() -> None:
    total = sum(
        f.stat().st_size
        for folder in (data_dir("models"), EXPORT)
        for f in folder.rglob("*")
        if f.is_file()
    )
    assert total < 60_000_000, f"models/ + export/ hold {total / 1e6:.1f} MB > 60 MB"


@shipped
def test_every_shipped_file_is_fresh() -> None:
    """Each file matches the manifest and was made from today's weights and fp32 file."""
    entry = json.loads(MANIFEST.read_text())["denoiser"]
    assert set(entry["files"]) == set(FILES)
    weights = _sha256(model_dir("denoiser") / "model.safetensors")
    fp32_hash = entry["files"]["onnx"]["sha256"]
    for variant, info in entry["files"].items():
        path = EXPORT / info["file"]
        assert info["file"] == FILES[variant]
        assert _sha256(path) == info["sha256"], f"{path.name} changed: re-run `mmpipe export`"
        assert info["size_bytes"] == path.stat().st_size
        meta = OnnxDenoiser(path).runner.metadata  # model + contract_version checked on load
        assert meta["weights_sha256"] == weights, f"{path.name}: models/denoiser changed"
        assert meta["variant"] == info["variant"]
        if variant != "onnx":
            assert meta["source_sha256"] == info["source_sha256"] == fp32_hash
        assert info["latency_ms_per_hop_1thread"] > 0
    assert entry["files"]["onnx"]["parity_max_abs_error_vs_torch"] <= 1e-4
    assert entry["weights_sha256"] == weights


@shipped
def test_ort_and_int8_follow_the_streaming_contract() -> None:
    """Hop-by-hop equals one call; .ort equals fp32; int8 stays close to it."""
    audio = (np.random.default_rng(3).standard_normal((2, 20 * 480)) * 0.1).astype(np.float32)
    outputs = {}
    for variant, name in FILES.items():
        runner = OnnxDenoiser(EXPORT / name)
        whole, _ = runner.step(audio, runner.initial_state(2), 0.0)
        state, parts = runner.initial_state(2), []
        for start in range(0, audio.shape[1], 480):
            out, state = runner.step(audio[:, start : start + 480], state, 0.0)
            parts.append(out)
        np.testing.assert_allclose(np.concatenate(parts, axis=1), whole, atol=1e-4)
        outputs[variant] = whole
    np.testing.assert_allclose(outputs["ort"], outputs["onnx"], atol=1e-5)
    assert np.abs(outputs["int8"] - outputs["onnx"]).max() < 0.02


@shipped
@pytest.mark.parametrize("name", ["denoiser.onnx", "denoiser.int8.onnx", "inpainter.onnx"])
def test_onnxruntime_mobile_usability_check_passes(name: str) -> None:
    from mmpipe.export import mobile_usability

    code, report = mobile_usability(EXPORT / name)
    assert code == 0, report
    assert "Checking NNAPI" in report and "Checking CoreML" in report
    assert "should be used with the CPU EP" in report  # what export/README.md recommends


@shipped
def test_int8_is_within_0_1_pesq_of_fp32() -> None:
    pytest.importorskip("pesq")
    from mmpipe.export import check_int8_pesq

    fp32, int8 = check_int8_pesq(EXPORT / FILES["onnx"], EXPORT / FILES["int8"])
    assert int8 >= fp32 - 0.1
    entry = json.loads(MANIFEST.read_text())["denoiser"]["files"]["int8"]
    assert abs(entry["pesq_wb_int8"] - int8) < 1e-3  # the manifest holds today's figure


@shipped
def test_int8_pesq_check_rejects_a_coarse_quantization(tmp_path: Path) -> None:
    pytest.importorskip("pesq")
    pytest.importorskip("onnx")
    from mmpipe.export import check_int8_pesq, quantize_int8

    coarse = quantize_int8(
        EXPORT / FILES["onnx"], tmp_path / "coarse.onnx", source_sha256="x", levels=1
    )
    with pytest.raises(ExportError, match="below the fp32"):
        check_int8_pesq(EXPORT / FILES["onnx"], coarse)


def test_export_without_torch_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)
    assert main(["export", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("mmpipe: error:") and "'.[train]'" in err and "\n" not in err
    assert not any(tmp_path.iterdir())


def test_export_unknown_model_is_one_line(capsys: pytest.CaptureFixture) -> None:
    assert main(["export", "upscaler", "--check"]) == 1
    assert capsys.readouterr().err.strip().count("\n") == 0


def test_export_then_check_then_detect_a_changed_file(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    pytest.importorskip("pesq")
    assert main(["--quiet", "export", "denoiser", "--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*FILES.values(), "manifest.json"])
    assert main(["--quiet", "export", "--check", "--out", str(tmp_path)]) == 0
    # the fp32 export is deterministic: the same bytes as the shipped file
    if (EXPORT / FILES["onnx"]).exists():
        assert _sha256(tmp_path / FILES["onnx"]) == _sha256(EXPORT / FILES["onnx"])
    int8 = tmp_path / FILES["int8"]
    int8.write_bytes(int8.read_bytes() + b"\0")
    capsys.readouterr()
    assert main(["export", "--check", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("mmpipe: error:") and "mmpipe export" in err
