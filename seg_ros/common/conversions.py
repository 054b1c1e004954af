# Copyright 2026 seg_ros maintainers
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

"""
Image messages to NumPy, without cv_bridge and without copies where none is needed.

A received ``sensor_msgs/Image`` keeps its pixels in an ``array.array``; ``np.frombuffer`` views
it in well under a microsecond, and an ``rgb8`` frame with a tight ``step`` goes to the model
without a single copy. The way back, NumPy to ``Image``, is
:func:`seg_ros.ros.messages.image_message`.

The checks here are the node's defence against bad input: every problem raises
``ImageError`` with a message that names the field and the value, so the node can log it, put
it on ``/diagnostics`` and carry on with the next frame.
"""
from __future__ import annotations

from typing import Any

import cv2
import numpy as np

# encoding -> (bytes per pixel, channels of the NumPy view)
ENCODINGS: dict[str, tuple[int, int]] = {
    'rgb8': (3, 3),
    'bgr8': (3, 3),
    'rgba8': (4, 4),
    'bgra8': (4, 4),
    'mono8': (1, 1),
    'yuv422': (2, 2),          # UYVY (ROS's name for it)
    'uyvy': (2, 2),
    'yuv422_yuy2': (2, 2),     # YUYV
    'yuyv': (2, 2),
}

_TO_RGB = {
    'bgr8': cv2.COLOR_BGR2RGB,
    'rgba8': cv2.COLOR_RGBA2RGB,
    'bgra8': cv2.COLOR_BGRA2RGB,
    'mono8': cv2.COLOR_GRAY2RGB,
    'yuv422': cv2.COLOR_YUV2RGB_UYVY,
    'uyvy': cv2.COLOR_YUV2RGB_UYVY,
    'yuv422_yuy2': cv2.COLOR_YUV2RGB_YUY2,
    'yuyv': cv2.COLOR_YUV2RGB_YUY2,
}


def stamp_ns(stamp: Any) -> int:
    """
    Return a ``builtin_interfaces/Time`` as integer nanoseconds.

    Integers, not floats: outputs are matched to their frames by stamp (replay, soak, the
    benchmark, depth/camera_info matching), and float seconds of today's epoch lose the last
    hundred nanoseconds.
    """
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def stamp_seconds(stamp: Any) -> float:
    """Return a ``builtin_interfaces/Time`` as float seconds (for ages and interpolation)."""
    return stamp.sec + stamp.nanosec * 1e-9


class ImageError(ValueError):
    """A frame that cannot be used; the message names the field at fault and the fix."""


def _rows(data: Any, row_bytes: int, width: int, height: int, step: int,
          encoding: str) -> np.ndarray:
    """
    Return a zero-copy ``(height, row_bytes)`` view of a buffer whose rows are ``step`` apart.

    Rows may be padded (``step`` larger than the pixels of a row, as many drivers do for
    alignment): the view skips the padding by striding instead of copying.
    """
    if width <= 0 or height <= 0:
        raise ImageError(f'empty image {width}x{height}: width and height must be positive')
    if step < row_bytes:
        raise ImageError(f'step {step} is shorter than one row of a {width}-pixel {encoding} '
                         f'image ({row_bytes} bytes); the publisher fills step wrongly')
    buf = np.frombuffer(data, dtype=np.uint8)
    needed = step * height
    if buf.size < needed:
        raise ImageError(f'image data has {buf.size} bytes but step {step} x height {height} '
                         f'needs {needed}; the message is truncated or its size fields '
                         'are wrong')
    return np.lib.stride_tricks.as_strided(buf, shape=(height, row_bytes), strides=(step, 1),
                                           writeable=False)


def image_view(encoding: str, width: int, height: int, step: int, data: Any) -> np.ndarray:
    """Return a zero-copy ``(height, width, channels)`` view of an Image's pixel buffer."""
    if encoding not in ENCODINGS:
        raise ImageError(f'unsupported image encoding "{encoding}"; supported: '
                         f'{", ".join(sorted(ENCODINGS))} (or use input_transport: compressed)')
    bpp, channels = ENCODINGS[encoding]
    rows = _rows(data, width * bpp, width, height, step, encoding)
    if encoding in ('yuv422', 'uyvy', 'yuv422_yuy2', 'yuyv') and width % 2:
        raise ImageError(f'{encoding} needs an even width, got {width}')
    return rows.reshape(height, width, channels)   # splits the contiguous row: still no copy


# Depth encodings (REP-118): millimetres as 16-bit integers, or metres as 32-bit floats.
DEPTH_ENCODINGS: dict[str, np.dtype] = {
    '16UC1': np.dtype(np.uint16), 'mono16': np.dtype(np.uint16), '32FC1': np.dtype(np.float32)}


def depth_msg_to_array(msg: Any) -> np.ndarray:
    """Return a depth Image as ``(H, W)`` uint16 millimetres or float32 metres."""
    if msg.encoding not in DEPTH_ENCODINGS:
        raise ImageError(f'unsupported depth encoding "{msg.encoding}"; supported: '
                         f'{", ".join(DEPTH_ENCODINGS)} (16-bit millimetres or float metres)')
    dtype = DEPTH_ENCODINGS[msg.encoding].newbyteorder('>' if msg.is_bigendian else '<')
    rows = _rows(msg.data, msg.width * dtype.itemsize, msg.width, msg.height, msg.step,
                 msg.encoding)
    # One copy: the rows become contiguous and the values native-endian for the geometry.
    return np.ascontiguousarray(rows).view(dtype).astype(dtype.newbyteorder('='), copy=False)


def to_rgb(encoding: str, width: int, height: int, step: int, data: Any) -> np.ndarray:
    """Return the frame as ``(H, W, 3)`` uint8 RGB; a view (no copy) for tight ``rgb8``."""
    view = image_view(encoding, width, height, step, data)
    if encoding == 'rgb8':
        return view if view.flags.c_contiguous else np.ascontiguousarray(view)
    src = view if view.flags.c_contiguous else np.ascontiguousarray(view)
    if encoding == 'mono8':
        src = src[:, :, 0]
    return cv2.cvtColor(src, _TO_RGB[encoding])


def image_msg_to_rgb(msg: Any) -> np.ndarray:
    """Convert a ``sensor_msgs/Image`` (any object with its fields) to RGB."""
    return to_rgb(msg.encoding, msg.width, msg.height, msg.step, msg.data)


def compressed_to_rgb(fmt: str, data: Any) -> np.ndarray:
    """Decode a ``sensor_msgs/CompressedImage`` payload (jpeg or png) to RGB."""
    buf = np.frombuffer(data, dtype=np.uint8)
    if buf.size == 0:
        raise ImageError(f'compressed image (format "{fmt}") has no data')
    bgr = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    if bgr is None:
        raise ImageError(f'cannot decode compressed image (format "{fmt}", {buf.size} bytes): '
                         'corrupt data or not jpeg/png')
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def palette_lut(palette: np.ndarray) -> np.ndarray:
    """Pad a ``(N, 3)`` palette to 256 entries so any uint8 label indexes it safely."""
    lut = np.zeros((256, 3), np.uint8)
    lut[:len(palette)] = palette[:256]
    return lut


def colorize(labels: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """
    Map class ids to colours (``lut`` from :func:`palette_lut`).

    uint8 labels go through OpenCV's table lookup, three times faster than NumPy's fancy
    indexing at 640x480 (it runs per frame for the overlay and the functional colours).
    """
    if labels.dtype == np.uint8 and lut.shape == (256, 3) and lut.dtype == np.uint8:
        return cv2.LUT(cv2.cvtColor(labels, cv2.COLOR_GRAY2RGB),
                       np.ascontiguousarray(lut).reshape(256, 1, 3))
    return lut[labels]


def overlay(rgb: np.ndarray, labels: np.ndarray, lut: np.ndarray, alpha: float) -> np.ndarray:
    """Blend the class colours over the image; ``alpha`` is the weight of the colours."""
    colors = colorize(labels, lut)
    if rgb.shape[:2] != labels.shape:
        raise ValueError(f'image {rgb.shape[:2]} and labels {labels.shape} differ in size')
    return cv2.addWeighted(np.ascontiguousarray(rgb), 1.0 - alpha, colors, alpha, 0.0)
