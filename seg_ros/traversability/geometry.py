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
Camera geometry on NumPy arrays: poses, intrinsics, pixel rays, the ground plane, depth.

Conventions (REP-103):

- the grid frame (e.g. ``base_link``) has x forward, y left, z up; the ground is z = 0;
- a camera *body* frame has the same axes (x along the optical axis); its pose in the grid
  frame is ``[x, y, z, roll, pitch, yaw]`` with R = Rz(yaw) Ry(pitch) Rx(roll), so a positive
  pitch looks down;
- the camera *optical* frame (what ``camera_info`` describes) has z forward, x right, y down.

Rays are optical-frame directions with z = 1 (normalised image coordinates), so a depth value
(distance along the optical axis, as in aligned depth images) scales a ray straight into a
3D point. Distortion (``plumb_bob``, ``rational_polynomial``, ``equidistant``) is removed from
the sampled pixel coordinates with OpenCV; the image itself is never undistorted.
"""
from __future__ import annotations

from dataclasses import dataclass
import math
from typing import Sequence

import numpy as np

# Columns are the optical frame's x, y, z axes written in the body frame:
# optical x (right) = -body y, optical y (down) = -body z, optical z (forward) = body x.
OPTICAL_IN_BODY = np.array([[0.0, 0.0, 1.0],
                            [-1.0, 0.0, 0.0],
                            [0.0, -1.0, 0.0]])

DISTORTION_MODELS = ('', 'none', 'plumb_bob', 'rational_polynomial', 'equidistant')


def rotation_rpy(roll: float, pitch: float, yaw: float) -> np.ndarray:
    """Return R = Rz(yaw) Ry(pitch) Rx(roll), the fixed-axis convention of REP-103 and tf2."""
    cr, sr = math.cos(roll), math.sin(roll)
    cp, sp = math.cos(pitch), math.sin(pitch)
    cy, sy = math.cos(yaw), math.sin(yaw)
    return np.array([[cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr],
                     [sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr],
                     [-sp, cp * sr, cp * cr]])


def quaternion_matrix(x: float, y: float, z: float, w: float) -> np.ndarray:
    """Rotation matrix of a quaternion (x, y, z, w), as geometry_msgs and tf2 order them."""
    n = math.sqrt(x * x + y * y + z * z + w * w)
    if n < 1e-9:
        raise ValueError('zero-length quaternion in the camera transform')
    x, y, z, w = x / n, y / n, z / n, w / n
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


@dataclass(frozen=True)
class CameraPose:
    """The camera's optical frame in the grid frame: p_grid = rotation @ p_opt + translation."""

    rotation: np.ndarray      # (3, 3)
    translation: np.ndarray   # (3,)

    @classmethod
    def from_xyzrpy(cls, pose: Sequence[float]) -> 'CameraPose':
        """Pose of the camera *body* frame ``[x, y, z, roll, pitch, yaw]`` (metres, radians)."""
        values = [float(v) for v in pose]
        if len(values) != 6 or not all(math.isfinite(v) for v in values):
            raise ValueError('camera_pose must be 6 finite numbers [x, y, z, roll, pitch, yaw] '
                             f'(metres, radians; the camera body frame in the grid frame), '
                             f'got {list(pose)}')
        body = rotation_rpy(*values[3:])
        return cls(body @ OPTICAL_IN_BODY, np.array(values[:3]))

    @classmethod
    def from_transform(cls, translation: Sequence[float], quaternion: Sequence[float],
                       optical: bool = True) -> 'CameraPose':
        """
        Pose from a TF transform (grid frame <- camera frame), quaternion as (x, y, z, w).

        ``optical`` says whether the transform's child is the optical frame (the frame_id of
        ``camera_info``, the usual case) or a body frame in REP-103 axes.
        """
        rot = quaternion_matrix(*[float(q) for q in quaternion])
        if not optical:
            rot = rot @ OPTICAL_IN_BODY
        return cls(rot, np.asarray(translation, float).reshape(3))

    @property
    def height(self) -> float:
        return float(self.translation[2])


@dataclass(frozen=True)
class Intrinsics:
    """A pinhole camera with optional lens distortion, as ``sensor_msgs/CameraInfo`` gives it."""

    K: np.ndarray               # (3, 3)
    D: np.ndarray               # (n,) distortion coefficients, may be empty
    width: int
    height: int
    model: str = 'plumb_bob'

    @classmethod
    def from_camera_info(cls, K: Sequence[float], D: Sequence[float], width: int,
                         height: int, distortion_model: str = 'plumb_bob') -> 'Intrinsics':
        """Validate CameraInfo fields (``K`` as 9 row-major numbers) into intrinsics."""
        flat = np.asarray(K, float).reshape(-1)
        if flat.size != 9 or not np.all(np.isfinite(flat)):
            raise ValueError(f'camera_info K must be 9 finite numbers, got {list(K)}')
        k = flat.reshape(3, 3)
        if k[0, 0] <= 0 or k[1, 1] <= 0:
            raise ValueError(f'camera_info K has no focal length (fx={k[0, 0]}, fy={k[1, 1]}); '
                             'the camera is not calibrated')
        if int(width) <= 0 or int(height) <= 0:
            raise ValueError(f'camera_info size {width}x{height} is empty')
        d = np.asarray(D, float).reshape(-1)
        model = (distortion_model or '').strip()
        if np.any(d != 0):
            if model not in DISTORTION_MODELS[2:]:
                raise ValueError(f'camera_info distortion_model "{distortion_model}" is not '
                                 f'supported; use one of {", ".join(DISTORTION_MODELS[2:])} '
                                 'or publish a rectified image (image_rect) with zero D')
            if model == 'equidistant' and d.size < 4:
                raise ValueError(f'equidistant distortion needs 4 coefficients, got {d.size}')
            if model != 'equidistant' and d.size not in (4, 5, 8, 12, 14):
                raise ValueError(f'{model} distortion needs 4, 5, 8, 12 or 14 coefficients, '
                                 f'got {d.size}')
        else:
            d = np.zeros(0)
        return cls(k, d, int(width), int(height), model)

    def scaled(self, width: int, height: int) -> 'Intrinsics':
        """Return the same camera at another resolution (binning, resized images)."""
        sx, sy = width / self.width, height / self.height
        k = self.K.copy()
        k[0] *= sx
        k[1] *= sy
        return Intrinsics(k, self.D, width, height, self.model)

    def rays(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """
        Optical-frame rays ``(..., 3)`` with z = 1 through pixel coordinates ``u``, ``v``.

        Pixel centres are at integer coordinates (OpenCV and CameraInfo convention).
        """
        u = np.asarray(u, float)
        v = np.asarray(v, float)
        shape = np.broadcast(u, v).shape
        u, v = np.broadcast_to(u, shape).reshape(-1), np.broadcast_to(v, shape).reshape(-1)
        if self.D.size:
            import cv2

            pts = np.stack([u, v], -1).reshape(-1, 1, 2)
            if self.model == 'equidistant':
                xy = cv2.fisheye.undistortPoints(pts, self.K, self.D[:4]).reshape(-1, 2)
            else:
                criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 40, 1e-10)
                xy = cv2.undistortPoints(pts, self.K, self.D, None, np.eye(3), np.eye(3),
                                         criteria).reshape(-1, 2)
            x, y = xy[:, 0], xy[:, 1]
        else:
            fx, fy, s = self.K[0, 0], self.K[1, 1], self.K[0, 1]
            cx, cy = self.K[0, 2], self.K[1, 2]
            y = (v - cy) / fy
            x = (u - cx - s * y) / fx
        return np.stack([x, y, np.ones_like(x)], -1).reshape(shape + (3,))

    def project(self, points_optical: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pixel coordinates of optical-frame points with z > 0 (with distortion); for tests."""
        p = np.asarray(points_optical, float).reshape(-1, 3)
        if self.D.size:
            import cv2

            if self.model == 'equidistant':
                uv = cv2.fisheye.projectPoints(p.reshape(-1, 1, 3), np.zeros(3), np.zeros(3),
                                               self.K, self.D[:4])[0]
            else:
                uv = cv2.projectPoints(p, np.zeros(3), np.zeros(3), self.K, self.D)[0]
            uv = uv.reshape(-1, 2)
            return uv[:, 0], uv[:, 1]
        x, y = p[:, 0] / p[:, 2], p[:, 1] / p[:, 2]
        return (self.K[0, 0] * x + self.K[0, 1] * y + self.K[0, 2],
                self.K[1, 1] * y + self.K[1, 2])


def to_grid(pose: CameraPose, points_optical: np.ndarray) -> np.ndarray:
    """Transform ``(..., 3)`` optical-frame points or rays into the grid frame."""
    return points_optical @ pose.rotation.T + pose.translation


def ground_intersection(pose: CameraPose, rays_optical: np.ndarray,
                        min_descent: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    """
    Where rays meet the ground z = 0: points ``(..., 3)`` and a mask of rays that reach it.

    Rays level with or above the horizon never reach the ground; their points are NaN.
    A camera at or below the ground sees no ground at all.
    """
    d = rays_optical @ pose.rotation.T
    h = pose.height
    dz = d[..., 2]
    ok = (dz < -min_descent) & (h > 0)
    with np.errstate(divide='ignore', invalid='ignore'):
        s = np.where(ok, -h / np.where(ok, dz, -1.0), np.nan)
    pts = pose.translation + d * s[..., None]
    return pts, ok


def depth_to_metres(depth: np.ndarray) -> np.ndarray:
    """
    Depth image to float32 metres with NaN where invalid.

    16-bit images are millimetres (``16UC1``), floating-point ones metres (``32FC1``); 0, NaN
    and infinity mean no measurement.
    """
    if depth.dtype == np.uint16:
        out = depth.astype(np.float32) * np.float32(0.001)
        out[depth == 0] = np.nan
        return out
    if depth.dtype in (np.float32, np.float64):
        out = depth.astype(np.float32, copy=True)
        out[~np.isfinite(out) | (out <= 0)] = np.nan
        return out
    raise ValueError(f'depth image must be 16UC1 (uint16 millimetres) or 32FC1 (float metres), '
                     f'got {depth.dtype}')


def depth_points(pose: CameraPose, rays_optical: np.ndarray,
                 depth_m: np.ndarray) -> np.ndarray:
    """
    Grid-frame points of rays scaled by their depth (NaN depth gives NaN points).

    Computed in the rays' precision (float32 rays keep a frame's arithmetic at half the
    memory traffic; millimetre precision is plenty for a 5 cm grid).
    """
    dt = rays_optical.dtype
    p = rays_optical * depth_m[..., None].astype(dt, copy=False)
    return p @ pose.rotation.T.astype(dt) + pose.translation.astype(dt)
