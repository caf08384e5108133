"""The development backend's one dependency: torch, imported only when asked for."""

from __future__ import annotations

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
