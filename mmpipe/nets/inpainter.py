"""Border inpainting: a conditional diffusion model on diffusers' ``UNet2DModel``.

What stabilization leaves empty and no neighbouring frame saw is generated at half the
luma resolution (the chroma resolution of 4:2:0 video), on a strip that reaches a little
into the picture. Pictures are YUV (BT.601, full range), three channels at that resolution,
scaled to ``[-1, 1]``.

Inputs (``B`` strips, ``H x W`` multiples of ``config.stride``):

- ``noisy``: float32 ``[B, 3, H, W]``, the diffusion state ``x_t``;
- ``condition``: float32 ``[B, 4, H, W]``, the strip with its unknown pixels filled by a
  classical method, ``config.base`` (``telea``: OpenCV's Telea inpainting; ``nearest``: the
  nearest known pixel, i.e. edge replication; ``mmpipe.runtime.inpainter.base_fill``, 3
  channels) and the known mask (1 channel: 1 known, 0 to generate);
- ``timestep``: float32 ``[B]``, the diffusion time in ``[0, 1000)``.

Output: ``[B, 3, H, W]``, the prediction of the clean strip ``x_0`` ("sample" prediction):
the classical fill plus the UNet's residual. An untrained network (zero last layer) is
therefore the classical fill, and training learns what to add to it. The sampler (DDIM, in
numpy, ``mmpipe.runtime.inpainter``) stays outside the network and the export.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

from mmpipe.nets import weights
from mmpipe.nets.weights import count_parameters  # noqa: F401 - part of this module's API


@dataclass(frozen=True)
class InpainterConfig:
    """Architecture of the inpainting UNet."""

    channels: tuple[int, ...] = (32, 64, 96)  # one UNet level each, stride 2 between
    layers_per_block: int = 1
    norm_groups: int = 16
    base: str = "telea"  # the classical fill the network corrects: telea | nearest

    @property
    def stride(self) -> int:
        """Height and width must be multiples of this."""
        return 2 ** (len(self.channels) - 1)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> InpainterConfig:
        data = json.loads(path.read_text())
        data["channels"] = tuple(data["channels"])
        return cls(**data)


class Inpainter(nn.Module):
    """``forward(noisy, condition, timestep) -> x0``; see the module docstring."""

    def __init__(self, config: InpainterConfig | None = None) -> None:
        super().__init__()
        from diffusers import UNet2DModel

        self.config = config or InpainterConfig()
        levels = len(self.config.channels)
        self.unet = UNet2DModel(
            sample_size=None,
            in_channels=7,
            out_channels=3,
            block_out_channels=self.config.channels,
            layers_per_block=self.config.layers_per_block,
            down_block_types=("DownBlock2D",) * levels,
            up_block_types=("UpBlock2D",) * levels,
            norm_num_groups=self.config.norm_groups,
            time_embedding_type="positional",
        )
        nn.init.zeros_(self.unet.conv_out.weight)
        nn.init.zeros_(self.unet.conv_out.bias)

    def forward(
        self, noisy: torch.Tensor, condition: torch.Tensor, timestep: torch.Tensor
    ) -> torch.Tensor:
        residual = self.unet(torch.cat([noisy, condition], dim=1), timestep).sample
        return condition[:, :3] + residual


def save_pretrained(model: Inpainter, directory: Path) -> None:
    """Write ``config.json`` and ``model.safetensors`` (fp32) into ``directory``."""
    weights.save_pretrained(model, directory, "inpainter")


def from_pretrained(directory: Path) -> Inpainter:
    """Build an ``Inpainter`` from ``config.json`` + ``model.safetensors`` in ``directory``."""
    return weights.from_pretrained(Inpainter, InpainterConfig, directory)
