"""What every model's ONNX export shares: the source weights, the traced graph, the file's
metadata and the parity check against torch."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

from mmpipe.errors import ExportError


def weights_sha256(model_dir: Path) -> str:
    """SHA-256 of ``model_dir/model.safetensors``: ties an exported file to its weights."""
    return hashlib.sha256((model_dir / "model.safetensors").read_bytes()).hexdigest()


def model_to_export(name: str, model_dir: Path | None, model, from_pretrained) -> tuple:
    """``(model, weights_sha256, config_text)`` of what to export: ``model`` when given
    (weights ``untrained-in-memory``, its config as JSON), else the trained model
    ``from_pretrained(model_dir)``; ``ExportError`` when ``model_dir`` holds none."""
    if model is None:
        if model_dir is None or not (model_dir / "model.safetensors").is_file():
            raise ExportError(f"no trained {name} in {model_dir}: run `mmpipe train {name}`")
        weights = weights_sha256(model_dir)
        return from_pretrained(model_dir), weights, (model_dir / "config.json").read_text()
    return model, "untrained-in-memory", json.dumps(model.config.__dict__)


def export_graph(
    module,
    args: tuple,
    onnx_path: Path,
    *,
    input_names: Sequence[str],
    output_names: Sequence[str],
    dynamic_axes: dict[str, dict[int, str]],
    opset: int,
) -> None:
    """Trace ``module(*args)`` (TorchScript exporter, no gradients) into ``onnx_path``."""
    import torch

    onnx_path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        torch.onnx.export(
            module,
            args,
            str(onnx_path),
            input_names=list(input_names),
            output_names=list(output_names),
            dynamic_axes=dynamic_axes,
            opset_version=opset,
            dynamo=False,
        )


def save_with_metadata(proto, metadata: dict[str, str], onnx_path: Path) -> None:
    """Replace ``proto``'s metadata by ``metadata``, check the model, save it."""
    import onnx

    del proto.metadata_props[:]
    for key, value in metadata.items():
        proto.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(proto)
    onnx.save(proto, str(onnx_path))


def parity_error(
    model,
    run_onnx: Callable[[dict[str, np.ndarray]], np.ndarray],
    feeds: Iterable[dict[str, np.ndarray]],
    input_names: Sequence[str],
    tolerance: float,
) -> float:
    """Max abs error between ``model`` (torch, inputs in ``input_names`` order) and
    ``run_onnx`` over ``feeds``; ``ExportError`` above ``tolerance``."""
    import torch

    error = 0.0
    for inputs in feeds:
        with torch.no_grad():
            expected = model(*(torch.from_numpy(inputs[n]) for n in input_names)).numpy()
        error = max(error, float(np.abs(run_onnx(inputs) - expected).max()))
    require_parity(error, tolerance)
    return error


def require_parity(error: float, tolerance: float) -> None:
    """``ExportError`` unless ``error`` (max abs, onnxruntime vs torch) is within ``tolerance``."""
    if not error <= tolerance:
        raise ExportError(
            f"onnxruntime differs from torch by {error:.2e} > {tolerance:.0e}; "
            "re-export with a matching torch/onnx version"
        )
