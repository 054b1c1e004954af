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
Synthetic scenes with known geometry, for tests, benchmarks and demos of the projection.

A scene is a ground plane, ground patches and boxes, seen through a pinhole camera.

This module is the oracle the projection is checked against, so it does not share the
pipeline's camera model: it reads only the calibration numbers of an
:class:`~seg_ros.traversability.geometry.Intrinsics` (``K``, ``D``, size) and casts its rays
with a written-out pinhole (``cv2.undistortPoints`` with distortion), projects with
``cv2.projectPoints``, and builds the camera's rotation from ``[x, y, z, roll, pitch, yaw]``
itself (``cv2.Rodrigues`` per axis and the optical axes spelled out), so an error in
``Intrinsics.rays`` / ``project`` or ``CameraPose`` cannot cancel out.

``render`` ray-casts every pixel analytically into a label image and an aligned depth image;
``ground_truth`` says, for points on the ground, what an ideal projection must report there
(free ground of some class, inside an object, occluded, or outside the camera's view), so
a grid can be checked cell by cell against the analytic answer.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence, Union

import cv2
import numpy as np

from seg_ros.traversability.geometry import CameraPose, Intrinsics

# A camera pose for the oracle: the camera *body* frame ``[x, y, z, roll, pitch, yaw]`` in the
# grid frame (REP-103: x forward, y left, z up), or a ready ``CameraPose`` (its rotation and
# translation are then taken as given: pass the six numbers to keep the oracle independent).
Pose = Union[Sequence[float], CameraPose]

OUTSIDE, INSIDE, OCCLUDED, BEHIND = -1, -2, -3, -4


@dataclass(frozen=True)
class Box:
    """An axis-aligned box standing on the ground (grid frame, metres)."""

    x0: float
    x1: float
    y0: float
    y1: float
    height: float
    label: int


@dataclass(frozen=True)
class Patch:
    """A rectangle of another ground class, flat on the ground (e.g. sidewalk, void)."""

    x0: float
    x1: float
    y0: float
    y1: float
    label: int


@dataclass
class Scene:
    """Ground plane of ``ground_label``, patches on it, boxes on it, ``sky_label`` elsewhere."""

    ground_label: int
    sky_label: int
    boxes: Sequence[Box] = field(default_factory=list)
    patches: Sequence[Patch] = field(default_factory=list)

    def ground_label_at(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Return the ground class at points (the last patch containing a point wins)."""
        out = np.full(np.shape(x), self.ground_label, np.int32)
        for p in self.patches:
            out[(x >= p.x0) & (x < p.x1) & (y >= p.y0) & (y < p.y1)] = p.label
        return out


def camera_frame(pose: Pose) -> tuple[np.ndarray, np.ndarray]:
    """
    Return ``(rotation, translation)``: optical-frame vectors to grid-frame ones, camera centre.

    From six numbers: R = Rz(yaw) Ry(pitch) Rx(roll) (fixed axes, as tf2), each an OpenCV
    Rodrigues rotation, times the optical axes in the body frame (optical z forward = body x,
    optical x right = body -y, optical y down = body -z).
    """
    if isinstance(pose, CameraPose):
        return np.asarray(pose.rotation, float), np.asarray(pose.translation, float)
    x, y, z, roll, pitch, yaw = (float(v) for v in pose)
    body = (cv2.Rodrigues(np.array([0.0, 0.0, yaw]))[0]
            @ cv2.Rodrigues(np.array([0.0, pitch, 0.0]))[0]
            @ cv2.Rodrigues(np.array([roll, 0.0, 0.0]))[0])
    forward, left, up = np.eye(3)
    optical_in_body = np.column_stack([-left, -up, forward])   # columns: optical x, y, z
    return body @ optical_in_body, np.array([x, y, z])


def _rays(intr: Intrinsics, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Optical rays with z = 1 through pixels (integer coordinates are pixel centres)."""
    k = np.asarray(intr.K, float)
    if np.asarray(intr.D).size:
        pts = np.stack([u, v], -1).reshape(-1, 1, 2).astype(np.float64)
        if intr.model == 'equidistant':
            xy = cv2.fisheye.undistortPoints(pts, k, np.asarray(intr.D[:4], float))
        else:
            xy = cv2.undistortPoints(pts, k, np.asarray(intr.D, float), criteria=(
                cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-12))
        x, y = xy[:, 0, 0].reshape(u.shape), xy[:, 0, 1].reshape(u.shape)
    else:
        y = (v - k[1, 2]) / k[1, 1]
        x = (u - k[0, 2] - k[0, 1] * y) / k[0, 0]
    return np.stack([x, y, np.ones_like(x)], -1)


def _project(intr: Intrinsics, points_optical: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates of optical-frame points in front of the camera (OpenCV)."""
    p = np.asarray(points_optical, float).reshape(-1, 1, 3)
    k = np.asarray(intr.K, float)
    if intr.model == 'equidistant' and np.asarray(intr.D).size:
        uv = cv2.fisheye.projectPoints(p, np.zeros(3), np.zeros(3), k,
                                       np.asarray(intr.D[:4], float))[0]
    else:
        uv = cv2.projectPoints(p, np.zeros(3), np.zeros(3), k, np.asarray(intr.D, float))[0]
    return uv[:, 0, 0], uv[:, 0, 1]


def _slab(origin: np.ndarray, d: np.ndarray, box: Box) -> tuple[np.ndarray, np.ndarray]:
    """Entry and exit parameters of rays ``origin + t d`` through a box (entry > exit: miss)."""
    lo = np.array([box.x0, box.y0, 0.0])
    hi = np.array([box.x1, box.y1, box.height])
    with np.errstate(divide='ignore', invalid='ignore'):
        t1 = (lo - origin) / d
        t2 = (hi - origin) / d
    # Rays parallel to a slab: inside it for all t, or never.
    par = d == 0
    inside = (origin >= lo) & (origin <= hi)
    t1 = np.where(par, np.where(inside, -np.inf, np.inf), t1)
    t2 = np.where(par, np.inf, t2)
    t_enter = np.minimum(t1, t2).max(axis=-1)
    t_exit = np.maximum(t1, t2).min(axis=-1)
    return t_enter, t_exit


def render(scene: Scene, intr: Intrinsics, pose: Pose) -> tuple[np.ndarray, np.ndarray]:
    """Ray-cast every pixel: ``(H, W)`` uint8 labels and float32 depth (metres, NaN = sky)."""
    u, v = np.meshgrid(np.arange(intr.width, dtype=float), np.arange(intr.height, dtype=float))
    rotation, c = camera_frame(pose)
    rays = _rays(intr, u, v)                   # optical, z = 1: t is the depth
    d = rays @ rotation.T
    best = np.full(u.shape, np.inf)
    labels = np.full(u.shape, scene.sky_label, np.int32)
    down = d[..., 2] < 0
    t_ground = np.where(down, -c[2] / np.where(down, d[..., 2], -1.0), np.inf)
    gp = c + d * np.where(np.isfinite(t_ground), t_ground, 0.0)[..., None]
    hit = np.isfinite(t_ground) & (t_ground > 0)
    best = np.where(hit, t_ground, best)
    labels = np.where(hit, scene.ground_label_at(gp[..., 0], gp[..., 1]), labels)
    for box in scene.boxes:
        t_in, t_out = _slab(c, d, box)
        hit = (t_in <= t_out) & (t_in > 0) & (t_in < best)
        best = np.where(hit, t_in, best)
        labels = np.where(hit, box.label, labels)
    depth = np.where(np.isfinite(best), best, np.nan).astype(np.float32)
    return labels.astype(np.uint8), depth


def ground_truth(scene: Scene, intr: Intrinsics, pose: Pose, x: np.ndarray,
                 y: np.ndarray, max_range: float, see_over: bool = True) -> np.ndarray:
    """
    Say what the camera can know about ground points ``(x, y)``.

    Returns the ground class id where the point is visible, or ``OUTSIDE`` (out of view or
    range), ``INSIDE`` (under a box), ``OCCLUDED`` (a box is in the way in 3D). With
    ``see_over=False`` (the monocular column walk) a point also counts as hidden (``BEHIND``)
    when a box or an unknown-class patch lies between it and the camera on the ground, even
    if the camera could see it over a low box.
    """
    pts = np.stack([x, y, np.zeros_like(x)], -1).astype(float)
    rotation, c = camera_frame(pose)
    out = scene.ground_label_at(x, y)
    p_opt = (pts - c) @ rotation
    front = p_opt[..., 2] > 1e-6
    safe = np.where(front[..., None], p_opt, np.array([0.0, 0.0, 1.0]))
    u, v = _project(intr, safe.reshape(-1, 3))
    u, v = u.reshape(x.shape), v.reshape(x.shape)
    in_view = front & (u >= 0) & (u <= intr.width - 1) & (v >= 0) & (v <= intr.height - 1)
    rng = np.hypot(x - c[0], y - c[1])
    out = np.where(in_view & (rng <= max_range), out, OUTSIDE)
    d = pts - c
    for box in scene.boxes:
        inside = (x >= box.x0) & (x <= box.x1) & (y >= box.y0) & (y <= box.y1)
        t_in, t_out = _slab(c, d, box)
        occluded = (t_in <= t_out) & (t_in > 0) & (t_in < 1 - 1e-9) & ~inside
        out = np.where((out != OUTSIDE) & occluded, OCCLUDED, out)
        if not see_over:
            flat = Box(box.x0, box.x1, box.y0, box.y1, 1e6, box.label)
            behind = _crosses_2d(c, pts, flat) & ~inside
            out = np.where((out >= 0) & behind, BEHIND, out)
        out = np.where(inside, INSIDE, out)
    return out


def _crosses_2d(c: np.ndarray, pts: np.ndarray, box: Box) -> np.ndarray:
    """Whether the ground segment from below the camera to each point crosses a footprint."""
    c2 = np.array([c[0], c[1], 0.5])
    d = pts.copy()
    d[..., 2] = 0.5
    d = d - c2
    t_in, t_out = _slab(c2, d, box)
    return (t_in <= t_out) & (t_in > 0) & (t_in < 1)


def behind_patches(scene: Scene, pose: Pose, x: np.ndarray, y: np.ndarray,
                   labels: Sequence[int]) -> np.ndarray:
    """Return points beyond a patch of one of ``labels`` as seen from the camera (2D)."""
    _, c = camera_frame(pose)
    pts = np.stack([x, y, np.zeros_like(x)], -1).astype(float)
    out = np.zeros(np.shape(x), bool)
    for p in scene.patches:
        if p.label in labels:
            flat = Box(p.x0, p.x1, p.y0, p.y1, 1e6, p.label)
            out |= _crosses_2d(c, pts, flat)
    return out


def footprint_edges(box: Box, spacing: float = 0.02) -> tuple[np.ndarray, np.ndarray]:
    """Points along a box's footprint outline and their outward normals."""
    pts, normals = [], []
    for (a, b, n) in (((box.x0, box.y0), (box.x1, box.y0), (0, -1)),
                      ((box.x1, box.y0), (box.x1, box.y1), (1, 0)),
                      ((box.x1, box.y1), (box.x0, box.y1), (0, 1)),
                      ((box.x0, box.y1), (box.x0, box.y0), (-1, 0))):
        length = np.hypot(b[0] - a[0], b[1] - a[1])
        t = np.linspace(0, 1, max(2, int(length / spacing)))[1:-1]
        pts.append(np.stack([a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t], -1))
        normals.append(np.tile(n, (t.size, 1)))
    return np.concatenate(pts), np.concatenate(normals).astype(float)


def visible_feet(scene: Scene, intr: Intrinsics, pose: Pose, max_range: float,
                 margin: float = 0.1, min_cos: float = 0.25) -> list[np.ndarray]:
    """
    Per box, the footprint outline points the camera sees (its lower edge on the floor).

    Points within ``margin`` of a box corner or the edge of the view are left out: there the
    answer depends on which pixel the lattice happened to sample; so are faces seen at a
    grazing angle (cosine to the line of sight below ``min_cos``), a few pixels wide.
    """
    out = []
    _, c = camera_frame(pose)
    for box in scene.boxes:
        pts, normals = footprint_edges(box)
        sight = c[:2] - pts
        facing = (sight * normals).sum(-1) > min_cos * np.hypot(sight[:, 0], sight[:, 1])
        probe = pts + normals * 0.005
        gt = ground_truth(scene, intr, pose, probe[:, 0], probe[:, 1], max_range - margin)
        corner = np.min(np.stack([np.hypot(pts[:, 0] - cx, pts[:, 1] - cy)
                                  for cx in (box.x0, box.x1) for cy in (box.y0, box.y1)]), 0)
        ok = facing & (gt >= 0) & (corner > margin)
        # Stay away from the view's edges and from other boxes' shadows.
        for dx, dy in ((margin, 0), (-margin, 0), (0, margin), (0, -margin)):
            g2 = ground_truth(scene, intr, pose, probe[:, 0] + dx, probe[:, 1] + dy,
                              max_range)
            ok &= (g2 != OUTSIDE) & (g2 != OCCLUDED)
        out.append(pts[ok])
    return out
