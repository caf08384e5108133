"""Average the weights of several model folders of one network family (a "model soup").

Snapshots of one run late in its schedule (``--keep-snapshots``: ``WORK/snapshots/step*``)
lie in one basin; the mean of their weights is often a little better than any one of them::

    python -m mmpipe.train.average denoiser --out models/denoiser \\
        ~/.cache/mmpipe/train/denoiser/snapshots/step000{3311,3507,3703}

``out`` receives ``config.json``, ``model.safetensors`` and a ``validation.json`` that names
the averaged folders (score it with the recipe's evaluation or the benchmarks).
"""

from __future__ import annotations

import argparse
import importlib
import json
from pathlib import Path

from mmpipe.api import TRAINABLE as FAMILIES  # each has its module in mmpipe.nets
from mmpipe.errors import ConfigError
from mmpipe.train.runs import import_torch


def average_pretrained(family: str, directories: list[Path]):
    """The model of ``family`` whose weights are the mean of those in ``directories``
    (model folders with one and the same ``config.json``)."""
    torch = import_torch()
    if family not in FAMILIES:
        raise ConfigError(f"unknown network family {family!r}; one of {', '.join(FAMILIES)}")
    if not directories:
        raise ConfigError("name at least one model folder to average")
    nets = importlib.import_module(f"mmpipe.nets.{family}")
    models = [nets.from_pretrained(Path(d)) for d in directories]
    if any(m.config != models[0].config for m in models):
        raise ConfigError("the folders hold models of different configs; average one run's")
    states = [m.state_dict() for m in models]
    mean = {k: torch.stack([s[k].float() for s in states]).mean(0) for k in states[0]}
    models[0].load_state_dict(mean)
    return models[0]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("family", choices=FAMILIES)
    parser.add_argument("folders", type=Path, nargs="+", help="model folders to average")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    model = average_pretrained(args.family, args.folders)
    importlib.import_module(f"mmpipe.nets.{args.family}").save_pretrained(model, args.out)
    record = {"averaged_from": [str(d) for d in args.folders]}
    (args.out / "validation.json").write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
