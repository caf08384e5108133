"""What every training recipe shares: its run folder and its learning-rate schedule.

A run folder holds ``checkpoint.pt`` (written atomically: a partial file never replaces a
good one) and ``log.jsonl`` (one JSON record per line, appended).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from mmpipe.errors import ConfigError


def import_torch():
    """torch, or a `ConfigError` naming the extra to install."""
    try:
        import torch
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ConfigError(
            "training needs torch: pip install 'mmpipe[train]' torch==2.13.0"
        ) from error
    return torch


def scheduled_lr(peak: float, step: int, warmup_steps: int, progress: float) -> float:
    """Linear warm-up over ``warmup_steps``, then a cosine over ``progress`` (0..1) to 5 %."""
    warmup = min(1.0, (step + 1) / warmup_steps)
    return peak * warmup * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))


class RunFolder:
    """The checkpoint and the log of one training run, in ``work_dir``."""

    def __init__(self, work_dir: Path) -> None:
        work_dir.mkdir(parents=True, exist_ok=True)
        self.checkpoint_path = work_dir / "checkpoint.pt"
        self.log_path = work_dir / "log.jsonl"

    def log(self, record: dict[str, Any]) -> None:
        """Append one record to ``log.jsonl``."""
        with self.log_path.open("a") as f:
            f.write(json.dumps(record) + "\n")

    def save(self, state: dict[str, Any]) -> None:
        """Write ``state`` as the checkpoint (``torch.save``), replacing the last atomically."""
        partial = self.checkpoint_path.with_suffix(".tmp")
        import_torch().save(state, partial)
        partial.replace(self.checkpoint_path)

    def load(self) -> dict[str, Any] | None:
        """The last checkpoint, or None when the run has none."""
        if not self.checkpoint_path.exists():
            return None
        return import_torch().load(self.checkpoint_path, weights_only=False)
