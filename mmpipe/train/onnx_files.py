"""What every model's ONNX export shares: the weights' identity and the file's metadata."""

from __future__ import annotations

import hashlib
from pathlib import Path


def weights_sha256(model_dir: Path) -> str:
    """SHA-256 of ``model_dir/model.safetensors``: ties an exported file to its weights."""
    return hashlib.sha256((model_dir / "model.safetensors").read_bytes()).hexdigest()


def save_with_metadata(proto, metadata: dict[str, str], onnx_path: Path) -> None:
    """Replace ``proto``'s metadata by ``metadata``, check the model, save it."""
    import onnx

    del proto.metadata_props[:]
    for key, value in metadata.items():
        proto.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(proto)
    onnx.save(proto, str(onnx_path))
