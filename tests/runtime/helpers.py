"""Shared fixtures for the runtime tests: a model folder and its exported file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any


def saved_and_exported(
    root: Path,
    name: str,
    model,
    save_pretrained: Callable[[Any, Path], None],
    export: Callable[..., dict],
) -> tuple[Path, Path]:
    """``model`` saved as ``root/model`` and exported to ``root/NAME.onnx`` (parity checked,
    1e-4): the folder and the file."""
    save_pretrained(model, root / "model")
    export(root / "model", root / f"{name}.onnx", tolerance=1e-4)
    return root / "model", root / f"{name}.onnx"
