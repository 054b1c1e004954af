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
Helpers for node tests on the analytic scene: camera messages, TF messages, grid read-back.

The scene is rendered by :mod:`seg_ros.testing.scene` through a pinhole camera at a known
pose; these helpers turn it into the messages a camera driver and a TF publisher would send.
"""
from __future__ import annotations

import array
from typing import Any, Optional, Sequence

from geometry_msgs.msg import TransformStamped
import numpy as np
from seg_ros.ros import messages
from seg_ros.testing import scene
from seg_ros.traversability import geometry
from sensor_msgs.msg import CameraInfo, Image

K = [500.0, 0.0, 320.0, 0.0, 500.0, 240.0, 0.0, 0.0, 1.0]
WIDTH, HEIGHT = 640, 480
CAMERA_FRAME = 'camera_optical_frame'
SKY, BUILDING, ROAD, SIDEWALK, PEDESTRIAN = 0, 1, 3, 4, 9   # CamVid ids


def intrinsics() -> geometry.Intrinsics:
    return geometry.Intrinsics.from_camera_info(K, [], WIDTH, HEIGHT)


def render(sc: scene.Scene, pose: Sequence[float]) -> np.ndarray:
    """Return the CamVid label image of ``sc`` seen from camera body pose ``pose``."""
    labels, _ = scene.render(sc, intrinsics(), pose)
    return labels


def image(labels: np.ndarray, stamp: Any, frame_id: str = CAMERA_FRAME,
          green: Optional[np.ndarray] = None) -> Image:
    """
    Return an rgb8 frame whose red channel is ``labels`` (for the passthrough model).

    ``green`` fills the green channel (a passthrough model with ``confidence_channel=1`` reads
    its confidence there).
    """
    rgb = np.zeros(labels.shape + (3,), np.uint8)
    rgb[..., 0] = labels
    if green is not None:
        rgb[..., 1] = green
    msg = Image(height=labels.shape[0], width=labels.shape[1], encoding='rgb8',
                step=labels.shape[1] * 3)
    msg.header.frame_id = frame_id
    msg.header.stamp = stamp
    msg.data = array.array('B', rgb.tobytes())
    return msg


def camera_info(stamp: Any, frame_id: str = CAMERA_FRAME) -> CameraInfo:
    info = CameraInfo(width=WIDTH, height=HEIGHT, distortion_model='plumb_bob')
    info.header.frame_id = frame_id
    info.header.stamp = stamp
    info.k = K
    info.d = [0.0] * 5
    info.p = [K[0], 0.0, K[2], 0.0, 0.0, K[4], K[5], 0.0, 0.0, 0.0, 1.0, 0.0]
    return info


def quaternion(rotation: np.ndarray) -> tuple[float, float, float, float]:
    """Return the (x, y, z, w) quaternion of a rotation matrix (Shepperd's method)."""
    m = np.asarray(rotation, float)
    t = np.trace(m)
    if t > 0:
        s = 2.0 * np.sqrt(t + 1.0)
        q = ((m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s, s / 4)
    else:
        i = int(np.argmax(np.diag(m)))
        j, k = (i + 1) % 3, (i + 2) % 3
        s = 2.0 * np.sqrt(1.0 + m[i, i] - m[j, j] - m[k, k])
        v = [0.0, 0.0, 0.0]
        v[i] = s / 4
        v[j] = (m[j, i] + m[i, j]) / s
        v[k] = (m[k, i] + m[i, k]) / s
        q = (v[0], v[1], v[2], (m[k, j] - m[j, k]) / s)
    return tuple(float(c) for c in q)


def camera_transform(pose: Sequence[float], stamp: Any, parent: str = 'base_link',
                     child: str = CAMERA_FRAME) -> TransformStamped:
    """Return the TF ``parent <- child optical frame`` of camera body pose ``pose``."""
    rotation, translation = scene.camera_frame(pose)   # the oracle's, not the pipeline's
    return transform(translation, rotation, stamp, parent, child)


def transform(translation: Sequence[float], rotation: np.ndarray, stamp: Any, parent: str,
              child: str) -> TransformStamped:
    tf = TransformStamped()
    tf.header.stamp = stamp
    tf.header.frame_id = parent
    tf.child_frame_id = child
    tf.transform.translation.x, tf.transform.translation.y, tf.transform.translation.z = (
        float(v) for v in translation)
    q = quaternion(rotation)
    (tf.transform.rotation.x, tf.transform.rotation.y, tf.transform.rotation.z,
     tf.transform.rotation.w) = q
    return tf


def grid_at(grid_msg: Any, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Return the grid values at points (x, y) of its frame (-2 outside the grid)."""
    g = messages.grid_array(grid_msg)
    res = grid_msg.info.resolution
    col = np.floor((np.asarray(x) - grid_msg.info.origin.position.x) / res).astype(int)
    row = np.floor((np.asarray(y) - grid_msg.info.origin.position.y) / res).astype(int)
    ok = (col >= 0) & (col < g.shape[1]) & (row >= 0) & (row < g.shape[0])
    return np.where(ok, g[np.clip(row, 0, g.shape[0] - 1), np.clip(col, 0, g.shape[1] - 1)],
                    -2)


def grid_max_near(grid_msg: Any, x: float, y: float, r: float = 0.1) -> int:
    """Return the highest grid value within ``r`` (a square) of point (x, y) of its frame."""
    res = grid_msg.info.resolution
    k = int(round(r / res))
    xs, ys = np.meshgrid(x + np.arange(-k, k + 1) * res, y + np.arange(-k, k + 1) * res)
    return int(grid_at(grid_msg, xs, ys).max())


def sure_truth(sc: scene.Scene, pose: Sequence[float], x: np.ndarray, y: np.ndarray,
               max_range: float, margin: float = 0.15) -> np.ndarray:
    """
    Return the monocular ground truth at points where it holds within ``margin`` around them.

    :func:`seg_ros.testing.scene.ground_truth`; -100 where it changes within ``margin`` in any
    direction (an edge: not checked).
    """
    intr = intrinsics()
    ref = scene.ground_truth(sc, intr, pose, x, y, max_range - margin, see_over=False)
    for dx, dy in ((margin, 0), (-margin, 0), (0, margin), (0, -margin)):
        other = scene.ground_truth(sc, intr, pose, x + dx, y + dy, max_range - margin,
                                   see_over=False)
        ref = np.where(other == ref, ref, -100)
    return ref
