"""What every network family shares: its size, and its model folder.

A model folder holds ``config.json`` (written by the config's own ``save``) and
``model.safetensors`` (fp32 weights, metadata ``{"model": NAME}``). Each family module
(``mmpipe.nets.denoiser`` ...) offers ``save_pretrained``/``from_pretrained`` through these.
safetensors is imported when a folder is written or read, so importing this does not import
torch.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any


def count_parameters(model) -> int:
    """Number of weights of ``model`` (an ``nn.Module``), trainable or not."""
    return sum(p.numel() for p in model.parameters())


def save_pretrained(model, directory: Path, name: str) -> None:
    """Write ``config.json`` and ``model.safetensors`` (fp32, metadata ``{"model": name}``)
    of ``model`` into ``directory``, created when missing."""
    from safetensors.torch import save_file

    directory.mkdir(parents=True, exist_ok=True)
    model.config.save(directory / "config.json")
    tensors = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(tensors, str(directory / "model.safetensors"), metadata={"model": name})


def from_pretrained(network: Callable[[Any], Any], config_class: Any, directory: Path):
    """``network(config_class.load(config.json))`` with the weights of ``model.safetensors``
    in ``directory``, in eval mode."""
    from safetensors.torch import load_file

    model = network(config_class.load(directory / "config.json"))
    model.load_state_dict(load_file(str(directory / "model.safetensors")))
    return model.eval()
