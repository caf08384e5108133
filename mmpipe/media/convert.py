"""Pixel conversion between decoded/encoded frames and the arrays stages see.

Two layouts (see :class:`~mmpipe.media.frames.VideoFrame`): full-range RGB, or the 4:2:0
planes in the source's own matrix and range (no colour conversion at all, only a
bit-depth or chroma-subsampling change when the source is not 8-bit 4:2:0). The same
colour matrix and range are used in both directions, so a frame that no stage changes
keeps its colours; the output stream is tagged like the input.
"""

from __future__ import annotations

import av
import cv2
import numpy as np

from mmpipe.media.frames import pack_yuv420p, yuv420p_planes
from mmpipe.media.probe import VideoStreamInfo

# AVColorSpace -> the matrix swscale applies for it; unspecified is treated as swscale does.
_MATRIX_BY_COLORSPACE = {1: "itu709", 4: "fcc", 5: "itu601", 6: "smpte170m", 7: "smpte240m"}
_BT2020 = {9, 10}
_EIGHT_BIT_420 = ("yuv420p", "yuvj420p")


class ColorConversion:
    """RGB <-> YUV for one video stream, with its matrix, range and rotation."""

    def __init__(self, info: VideoStreamInfo) -> None:
        if info.colorspace in _BT2020:
            self.matrix = "bt2020"
        else:
            self.matrix = _MATRIX_BY_COLORSPACE.get(info.colorspace, "default")
        self.full_range = info.color_range == 2 or info.pixel_format.startswith("yuvj")
        self.range = "JPEG" if self.full_range else "MPEG"
        self.rotation_deg = info.rotation_deg
        self.info = info

    def to_rgb(self, frame: av.VideoFrame) -> np.ndarray:
        """Decoded frame -> uint8 [H, W, 3] RGB in display orientation."""
        rgb = frame.reformat(
            format="rgb24",
            src_colorspace=self.matrix,
            dst_colorspace=self.matrix,
            src_color_range=self.range,
            dst_color_range="JPEG",
        ).to_ndarray()
        return self.rotate(rgb)

    def to_yuv420p(self, frame: av.VideoFrame) -> np.ndarray:
        """Decoded frame -> packed uint8 [H * 3 // 2, W] 4:2:0 planes in display orientation.

        The frame's matrix and range are kept; the display size must be even.
        """
        packed = frame.reformat(
            format="yuv420p",
            src_colorspace=self.matrix,
            dst_colorspace=self.matrix,
            src_color_range=self.range,
            dst_color_range=self.range,
        ).to_ndarray()
        turns = self.rotation_deg // 90
        if not turns:
            return packed
        return pack_yuv420p(*(np.rot90(plane, turns) for plane in yuv420p_planes(packed)))

    def to_grey(self, frame: av.VideoFrame, width_px: int) -> np.ndarray:
        """Decoded frame -> uint8 [h, w] full-range luma, at most ``width_px`` wide (display).

        8-bit 4:2:0 frames are shrunk straight from their luma plane (no conversion).
        """
        display_w = self.info.display_width_px
        scale = min(1.0, width_px / display_w)
        coded_w = max(2, round(frame.width * scale))
        coded_h = max(2, round(frame.height * scale))
        if frame.format.name in _EIGHT_BIT_420:
            plane = frame.planes[0]
            luma = np.frombuffer(plane, np.uint8).reshape(frame.height, plane.line_size)
            grey = cv2.resize(
                luma[:, : frame.width], (coded_w, coded_h), interpolation=cv2.INTER_AREA
            )
            if not self.full_range:  # 16..235 -> 0..255
                grey = cv2.convertScaleAbs(grey, alpha=255 / 219, beta=-16 * 255 / 219)
        else:
            grey = frame.reformat(
                width=coded_w, height=coded_h, format="gray", interpolation="AREA"
            ).to_ndarray()
        return self.rotate(grey)

    def rotate(self, image: np.ndarray) -> np.ndarray:
        """Apply the display rotation (counter-clockwise degrees) to a coded-orientation array."""
        turns = self.rotation_deg // 90
        return np.ascontiguousarray(np.rot90(image, turns)) if turns else image

    def from_rgb(self, image: np.ndarray) -> av.VideoFrame:
        """uint8 [H, W, 3] RGB -> a yuv420p frame tagged with the stream's colour description."""
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        yuv = frame.reformat(
            format="yuv420p",
            src_colorspace=self.matrix,
            dst_colorspace=self.matrix,
            src_color_range="JPEG",
            dst_color_range=self.range,
        )
        return self._tagged(yuv)

    def from_yuv420p(self, packed: np.ndarray) -> av.VideoFrame:
        """Packed [H * 3 // 2, W] 4:2:0 planes -> a frame tagged with the colour description."""
        return self._tagged(av.VideoFrame.from_ndarray(packed, format="yuv420p"))

    def _tagged(self, yuv: av.VideoFrame) -> av.VideoFrame:
        yuv.color_range = 2 if self.full_range else 1
        yuv.colorspace = self.info.colorspace
        yuv.color_primaries = self.info.color_primaries
        yuv.color_trc = self.info.color_trc
        return yuv
