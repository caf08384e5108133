"""Frame interpolation on top of a classical optical flow: occlusion-aware fusion + refinement.

Inputs (``B`` pairs, full resolution ``H x W``, both multiples of ``config.stride``):

- ``frame0``, ``frame1``: float32 ``[B, 3, H, W]`` RGB in ``[0, 1]``;
- ``flow01``, ``flow10``: float32 ``[B, 2, H, W]`` dense flows in full-resolution pixels, OpenCV
  convention (content at ``(x, y)`` in frame 0 is at ``(x + dx, y + dy)`` in frame 1), computed
  outside the network (``mmpipe.vision.flow.dense_flow``, OpenCV DIS at reduced scale);
- ``t``: float32 ``[B]`` in ``(0, 1)``, the time of the new frame.

Signal path:

1. at the working resolution (``1 / work_scale``): initial backward flows from time ``t``,
   ``F_t0 = -t v`` with ``v = F01(x - t v)`` and ``F_t1 = -(1-t) u`` with
   ``u = F10(x - (1-t) u)`` (a few fixed-point steps, see ``initial_flows``);
2. at the working resolution: both frames warped to ``t`` (``grid_sample``), the frames
   themselves, the forward-backward consistency errors of the flows (warped to ``t``), the
   fixed-point residuals, the initial flows and ``t`` go through a small U-Net (three
   stride-2 levels) whose head, at ``1 / (2 work_scale)``, predicts flow residuals, a fusion
   (visibility) logit and an RGB residual;
3. the refined flows (initial + upsampled residual) upsampled to full resolution, the fusion
   logit and RGB residual too (bilinear); both full-resolution frames warped (bicubic, as
   the classical method does) and fused,
   ``((1-t) m W0 + t (1-m) W1) / ((1-t) m + t (1-m))``, the RGB residual added, clamped to
   ``[0, 1]``.

The head starts at zero and the fusion logit starts as ``occlusion_gain * (e1 - e0)``, where
``e`` is each side's forward-backward error plus its fixed-point residual (log1p pixels):
the less consistent side gets less weight. An untrained network is thus a classical
occlusion-aware bidirectional blend, and training starts from there: what it learns is
residuals on top of that blend.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from mmpipe.nets import weights
from mmpipe.nets.weights import count_parameters  # noqa: F401 - part of this module's API


@dataclass(frozen=True)
class InterpolatorConfig:
    """Every constructor argument of ``Interpolator``; frozen into ``config.json``."""

    work_scale: int = 2
    channels: tuple[int, int, int] = (32, 48, 64)
    flow_scale_px: float = 8.0  # input flows are divided by this for the U-Net
    fixed_point_steps: int = 3  # iterations of the flow projection to time t

    @property
    def stride(self) -> int:
        """``H`` and ``W`` must be multiples of this (pad with edge replication, crop after)."""
        return self.work_scale * 8

    def save(self, path: Path) -> None:
        data = {"model": "interpolator", **asdict(self)}
        path.write_text(json.dumps(data, indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> InterpolatorConfig:
        data = json.loads(path.read_text())
        data.pop("model", None)
        data["channels"] = tuple(data["channels"])
        return cls(**data)


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.PReLU(cout))


def backward_warp(image: Tensor, flow: Tensor, mode: str = "bilinear") -> Tensor:
    """Sample ``image [B, C, H, W]`` at ``x + flow(x)`` (``flow [B, 2, H, W]`` in pixels).

    ``mode`` ``bilinear`` or ``bicubic``; edge-replicated outside the image
    (``grid_sample``, ``align_corners=True``).
    """
    _, _, h, w = flow.shape
    xs = torch.arange(w, dtype=flow.dtype, device=flow.device).view(1, 1, w)
    ys = torch.arange(h, dtype=flow.dtype, device=flow.device).view(1, h, 1)
    gx = (xs + flow[:, 0]) * (2.0 / (w - 1)) - 1.0
    gy = (ys + flow[:, 1]) * (2.0 / (h - 1)) - 1.0
    grid = torch.stack([gx, gy], dim=3)
    return F.grid_sample(image, grid, mode=mode, padding_mode="border", align_corners=True)


def initial_flows(
    flow01: Tensor, flow10: Tensor, t: Tensor, steps: int = 3
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``(F_t0, F_t1, r0, r1)``: backward flows from time ``t`` (``t [B, 1, 1, 1]``).

    Frame 0's motion through ``x`` at time ``t`` solves ``v = F01(x - t v)`` (fixed-point
    iteration from ``v = F01(x)``, ``steps`` times), so ``F_t0 = -t v``; likewise
    ``u = F10(x - (1 - t) u)`` and ``F_t1 = -(1 - t) u``. Where a foreground edge moves, the
    iteration settles on one of the two motions, unlike a same-place approximation.
    ``r0``/``r1`` ``[B, 1, H, W]``: how far the last step moved (L1, pixels); large where a
    frame's motion does not explain the pixel (occluded, or the iteration did not settle).
    """
    v, u = flow01, flow10
    for _ in range(steps):
        v = backward_warp(flow01, -t * v)
        u = backward_warp(flow10, -(1 - t) * u)
    r0 = (backward_warp(flow01, -t * v) - v).abs().sum(1, keepdim=True)
    r1 = (backward_warp(flow10, -(1 - t) * u) - u).abs().sum(1, keepdim=True)
    return -t * v, -(1 - t) * u, r0, r1


def fuse(warped0: Tensor, warped1: Tensor, visibility0: Tensor, t: Tensor) -> Tensor:
    """Time- and visibility-weighted blend of the frames warped to ``t``."""
    w0 = (1 - t) * visibility0
    w1 = t * (1 - visibility0)
    return (w0 * warped0 + w1 * warped1) / (w0 + w1 + 1e-6)


class Interpolator(nn.Module):
    """DIS-flow interpolation with a learned fusion mask, flow and RGB refinement."""

    def __init__(self, config: InterpolatorConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or InterpolatorConfig()
        c1, c2, c3 = config.channels
        n_in = 3 * 4 + 1 + 4 + 4 + 1  # I0w I1w I0 I1, |I0w-I1w|, flows, consistencies, t
        self.enc1 = nn.Sequential(_conv(n_in, c1, 2), _conv(c1, c1))
        self.enc2 = nn.Sequential(_conv(c1, c2, 2), _conv(c2, c2))
        self.enc3 = nn.Sequential(_conv(c2, c3, 2), _conv(c3, c3), _conv(c3, c3))
        self.dec2 = nn.Sequential(_conv(c3 + c2, c2), _conv(c2, c2))
        self.dec1 = nn.Sequential(_conv(c2 + c1, c1), _conv(c1, c1))
        self.head = nn.Conv2d(c1, 8, 3, 1, 1)  # 4 flow residuals, 1 fusion logit, 3 RGB
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        self.occlusion_gain = nn.Parameter(torch.tensor(1.0))

    def forward(
        self, frame0: Tensor, frame1: Tensor, flow01: Tensor, flow10: Tensor, t: Tensor
    ) -> Tensor:
        """The frame at time ``t``, ``[B, 3, H, W]`` in ``[0, 1]`` (see the module docstring)."""
        return self.predict(frame0, frame1, flow01, flow10, t)[0]

    def predict(
        self, frame0: Tensor, frame1: Tensor, flow01: Tensor, flow10: Tensor, t: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        """``(frame_t, flow_t0, flow_t1)``: the frame and the refined full-resolution flows."""
        cfg = self.config
        s = cfg.work_scale
        t4 = t.reshape(-1, 1, 1, 1)
        # working resolution: frames pooled, flows pooled and rescaled to working pixels
        if s > 1:
            small0, small1 = F.avg_pool2d(frame0, s), F.avg_pool2d(frame1, s)
            f01, f10 = F.avg_pool2d(flow01, s) / s, F.avg_pool2d(flow10, s) / s
        else:
            small0, small1, f01, f10 = frame0, frame1, flow01, flow10
        g_t0, g_t1, r0, r1 = initial_flows(f01, f10, t4, cfg.fixed_point_steps)
        r0, r1 = torch.log1p(r0), torch.log1p(r1)
        w0, w1 = backward_warp(small0, g_t0), backward_warp(small1, g_t1)
        c0 = torch.log1p((f01 + backward_warp(f10, f01)).abs().sum(1, keepdim=True))
        c1 = torch.log1p((f10 + backward_warp(f01, f10)).abs().sum(1, keepdim=True))
        c0t, c1t = backward_warp(c0, g_t0), backward_warp(c1, g_t1)
        features = torch.cat(
            [
                w0,
                w1,
                small0,
                small1,
                (w0 - w1).abs().mean(1, keepdim=True),
                g_t0 / cfg.flow_scale_px,
                g_t1 / cfg.flow_scale_px,
                c0t,
                c1t,
                r0,
                r1,
                t4.expand_as(c0t),
            ],
            dim=1,
        )
        e1 = self.enc1(features)
        e2 = self.enc2(e1)
        e3 = self.enc3(e2)
        d2 = self.dec2(torch.cat([_up(e3, 2), e2], dim=1))
        d1 = self.dec1(torch.cat([_up(d2, 2), e1], dim=1))
        out = self.head(d1)
        prior = self.occlusion_gain * (r1 + c1t - r0 - c0t)
        flows = torch.cat([g_t0, g_t1], 1) + _up(out[:, :4], 2) * cfg.flow_scale_px
        flows = _up(flows, s) * s if s > 1 else flows  # full-resolution pixels
        flow_t0, flow_t1 = flows[:, 0:2], flows[:, 2:4]
        full = _up(out[:, 4:8], 2 * s)
        visibility0 = torch.sigmoid(full[:, 0:1] + (_up(prior, s) if s > 1 else prior))
        warped0 = backward_warp(frame0, flow_t0, "bicubic")
        warped1 = backward_warp(frame1, flow_t1, "bicubic")
        blended = fuse(warped0, warped1, visibility0, t4)
        frame = (blended + full[:, 1:4]).clamp(0.0, 1.0)
        return frame, flow_t0, flow_t1


def _up(x: Tensor, factor: int) -> Tensor:
    return F.interpolate(x, scale_factor=float(factor), mode="bilinear", align_corners=False)


def save_pretrained(model: Interpolator, directory: Path) -> None:
    """Write ``config.json`` and ``model.safetensors`` (fp32) into ``directory``."""
    weights.save_pretrained(model, directory, "interpolator")


def from_pretrained(directory: Path) -> Interpolator:
    """Build an ``Interpolator`` from ``config.json`` + ``model.safetensors`` in ``directory``."""
    return weights.from_pretrained(Interpolator, InterpolatorConfig, directory)
