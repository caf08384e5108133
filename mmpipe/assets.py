"""The one place that finds the shipped data folders, in a checkout or in an installed wheel.

A checkout keeps ``models/`` and ``export/`` beside the package; the wheel carries them inside
it as ``mmpipe/_data/models`` and ``mmpipe/_data/export`` (pyproject's force-include).
Nothing is ever downloaded.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """``models`` or ``export``: the installed copy if there is one, else the checkout's."""
    installed = _PACKAGE / "_data" / name
    return installed if installed.is_dir() else _PACKAGE.parent / name


def model_dir(name: str) -> Path:
    """``models/NAME``: config, weights and model card of a shipped model."""
    return data_dir("models") / name


def exported_model(name: str) -> Path:
    """``export/NAME.onnx``: the file the default (onnxruntime) backend runs."""
    return data_dir("export") / f"{name}.onnx"
