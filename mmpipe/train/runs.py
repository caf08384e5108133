"""What every training recipe shares: its run folder, its schedule and its training loop.

A run folder holds ``checkpoint.pt`` (written atomically: a partial file never replaces a
good one) and ``log.jsonl`` (one JSON record per line, appended). ``Training`` is the
skeleton of every recipe (resume, wall-clock loop, learning-rate schedule, periodic
validation and checkpoints, best weights); a recipe brings its data, its loss and its scores.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from mmpipe.errors import ConfigError

logger = logging.getLogger(__name__)


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


def add_run_options(
    parser: argparse.ArgumentParser,
    *,
    data_dir: Path,
    out_dir: Path,
    work_dir: Path,
    minutes_required: bool = True,
) -> None:
    """The options of every recipe's command line: ``--minutes --data --out --work --seed
    --threads --no-resume --lr``, with the recipe's default folders."""
    parser.add_argument("--minutes", type=float, required=minutes_required)
    parser.add_argument("--data", type=Path, default=data_dir)
    parser.add_argument("--out", type=Path, default=out_dir)
    parser.add_argument("--work", type=Path, default=work_dir)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-resume", action="store_true")
    parser.add_argument("--lr", type=float, default=1e-3, help="peak learning rate")


def run_options(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of a recipe's ``train`` given by ``add_run_options``' options
    (all but ``--minutes``)."""
    return {
        "data_dir": args.data,
        "out_dir": args.out,
        "seed": args.seed,
        "resume": not args.no_resume,
        "work_dir": args.work,
        "threads": args.threads,
        "learning_rate": args.lr,
    }


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


class Training:
    """One run of a recipe: its checkpoint, its clock and its best weights.

    A recipe builds its model, lets ``start`` swap in the checkpoint's (on resume) and make
    the optimizer, logs what it logs at step 0, then hands ``run`` its step and its scores::

        training = Training(work_dir, out_dir, save_pretrained, seed=seed, resume=resume,
                            best_key="best_psnr")
        model = training.start(model, learning_rate=learning_rate, minutes=minutes)
        return training.run(train_step, validation_scores, warmup_steps=200, ...)

    The checkpoint holds ``config``, ``model``, ``optimizer``, ``step``, ``elapsed_s``,
    ``best_key`` and ``seed``; ``validation.json`` names the step, the time and the seed. With
    ``keep_snapshots`` each checkpoint's weights also stay, as the model folder
    ``work_dir/snapshots/stepNNNNNNN``.
    """

    def __init__(
        self,
        work_dir: Path,
        out_dir: Path,
        save_pretrained: Callable[[Any, Path], None],
        *,
        seed: int,
        resume: bool,
        best_key: str,
        keep_snapshots: bool = False,
    ) -> None:
        self.folder = RunFolder(work_dir)
        # the weights of every checkpoint as a model folder, for averaging (mmpipe.train.average)
        self.snapshots_dir = work_dir / "snapshots" if keep_snapshots else None
        self.out_dir = out_dir
        self.save_pretrained = save_pretrained
        self.seed = seed
        self.best_key = best_key
        self.state = self.folder.load() if resume else None
        self.step, self.elapsed_s, self.best = 0, 0.0, -math.inf
        self.log = self.folder.log

    def start(self, model, *, learning_rate: float, minutes: float):
        """The model to train: ``model``, or on resume the checkpoint's (same class, its config
        and weights). Makes the optimizer (AdamW, weight decay 1e-4) and restores its state,
        the step, the elapsed time and the best score; the run ends ``minutes`` later."""
        torch = import_torch()
        if self.state is not None:
            config = {
                k: tuple(v) if isinstance(v, list) else v for k, v in self.state["config"].items()
            }
            model = type(model)(type(model.config)(**config))
            model.load_state_dict(self.state["model"])
        self.model = model
        self.learning_rate = learning_rate
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, weight_decay=1e-4)
        if self.state is not None:
            self.optimizer.load_state_dict(self.state["optimizer"])
            self.step, self.elapsed_s = self.state["step"], self.state["elapsed_s"]
            # a checkpoint written under another selection figure starts its best afresh
            self.best = self.state.get(self.best_key, -math.inf)
            logger.info("resumed at step %d (%.1f min)", self.step, self.elapsed_s / 60)
        self.total_s = self.elapsed_s + minutes * 60
        return model

    def checkpoint(self) -> None:
        """Write the checkpoint of the run as it is now."""
        self.folder.save(
            {
                "config": self.model.config.__dict__,
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "step": self.step,
                "elapsed_s": self.elapsed_s,
                self.best_key: self.best,
                "seed": self.seed,
            }
        )
        if self.snapshots_dir is not None:
            self.save_pretrained(self.model, self.snapshots_dir / f"step{self.step:07d}")

    def validate(self, evaluate: Callable[[], tuple[dict, float]]) -> dict:
        """Score the model (``evaluate`` -> scores and the figure to maximise) in eval mode,
        log it, and when the figure beats the best keep the weights and ``validation.json``
        in ``out_dir``."""
        self.model.eval()
        scores, figure = evaluate()
        self.model.train()
        elapsed_min = self.elapsed_s / 60
        self.log({"step": self.step, "elapsed_min": elapsed_min, "validation": scores})
        if figure > self.best:
            self.best = figure
            self.save_pretrained(self.model, self.out_dir)
            record = {"step": self.step, "elapsed_min": elapsed_min, "seed": self.seed, **scores}
            (self.out_dir / "validation.json").write_text(json.dumps(record, indent=2) + "\n")
        return scores

    def run(
        self,
        train_step: Callable[[int, float], tuple[Any, dict[str, float]]],
        evaluate: Callable[[], tuple[dict, float]],
        *,
        warmup_steps: int,
        validate_every_s: float,
        checkpoint_every_s: float,
        max_steps: int | None = None,
    ) -> dict:
        """Train until ``minutes`` of training time (all sessions) or ``max_steps`` steps of
        this session; returns the last scores.

        ``train_step(step, progress)`` (``progress``: share of the training time, 0..1) returns
        the loss tensor and other figures to log; this takes the optimizer step (gradients
        clipped to norm 1). Every 50 steps the means go to ``log.jsonl``; every
        ``validate_every_s`` the model is validated, every ``checkpoint_every_s`` the run is
        saved, and both once more at the end.
        """
        torch = import_torch()
        model, optimizer = self.model, self.optimizer
        model.train()
        last_checkpoint = last_validation = time.monotonic()
        session_start, session_elapsed0 = time.monotonic(), self.elapsed_s
        history: dict[str, list[float]] = {}
        steps_done = 0
        while self.elapsed_s < self.total_s and (max_steps is None or steps_done < max_steps):
            progress = min(self.elapsed_s / self.total_s, 1.0)
            lr = scheduled_lr(self.learning_rate, self.step, warmup_steps, progress)
            for group in optimizer.param_groups:
                group["lr"] = lr
            loss, parts = train_step(self.step, progress)
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            for key, value in {"loss": float(loss.detach()), **parts}.items():
                history.setdefault(key, []).append(value)
            self.step += 1
            steps_done += 1
            now = time.monotonic()
            self.elapsed_s = session_elapsed0 + now - session_start
            if self.step % 50 == 0:
                means = {k: float(np.mean(v)) for k, v in history.items()}
                figures = {"lr": lr, **means}
                self.log({"step": self.step, "elapsed_min": self.elapsed_s / 60, **figures})
                history = {}
            if now - last_validation > validate_every_s:
                self.validate(evaluate)
                last_validation = time.monotonic()
            if now - last_checkpoint > checkpoint_every_s:
                self.checkpoint()
                last_checkpoint = time.monotonic()
        scores = self.validate(evaluate)
        self.checkpoint()
        return scores
