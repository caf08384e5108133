"""The development backend's one dependency: torch, imported only when asked for."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from mmpipe.errors import ModelError


def import_torch(threads: int):
    """torch set to ``threads`` intra-op threads, or a `ModelError` naming the extra."""
    try:
        import torch
    except ImportError as error:
        raise ModelError(
            "backend='torch' needs torch: pip install 'mmpipe[train]', or use backend='onnx'"
        ) from error
    torch.set_num_threads(threads)
    return torch


def trained_model(name: str, directory: Path, from_pretrained: Callable[[Path], Any]):
    """The trained ``name`` in ``directory`` (eval mode), or a `ModelError` saying how to
    train it."""
    if not (directory / "model.safetensors").is_file():
        raise ModelError(f"{directory} has no trained {name}: run `mmpipe train {name}`")
    return from_pretrained(directory).eval()
