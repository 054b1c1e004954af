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
The point clouds Nav2's ObstacleLayer needs to both mark and clear, from one frame's grid.

Nav2's ObstacleLayer marks the cells of the points of its *marking* sources and, before that,
clears every cell on the line from the cloud's sensor origin to each point of its *clearing*
sources (``ObstacleLayer::raytraceFreespace``). A cloud of obstacle points alone therefore
never clears anything: when a person walks away, the cells they stood on stay lethal. This
module computes, as plain NumPy with no ROS types:

- :func:`split_dynamic`: obstacle points of dynamic classes (people, vehicles, cyclists: the
  ``dynamic_obstacle`` functional class, or any class whose name starts with ``dynamic``) apart
  from the static ones, so Nav2 can keep them for a shorter ``observation_persistence``;
- :func:`clearing_points`: free space seen in this frame: the centre of every ground cell
  whose cost is below lethal (free and graded ground alike: none of it is an obstacle) on the
  *boundary* of that region (a free cell with a non-free 4-neighbour: Nav2 ray-traces from
  the camera to each point, so the rays to the boundary sweep the whole region behind it; the
  interior points would only re-clear cells those rays already cleared, each free cell some
  80 times), or every such cell with ``full=True``; and the end, at the grid's range, of
  every ray from the camera that crosses only such cells up to (nearly) that range, so the
  floor between the last ground sample and the range is cleared too;
- :func:`to_camera`: the points in the camera's frame, so that the cloud's own frame is the
  sensor origin Nav2 ray-traces from (``sensor_frame`` left empty).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from seg_ros.traversability.geometry import CameraPose
from seg_ros.traversability.grid import GridSpec

LETHAL = 100


def dynamic_ids(names: Sequence[str]) -> np.ndarray:
    """Return the functional ids (of a taxonomy's class names) that are dynamic obstacles."""
    return np.array([i for i, n in enumerate(names) if n.startswith('dynamic')], np.int64)


def split_dynamic(points: np.ndarray, ids: np.ndarray,
                  dynamic: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Split ``(N, 3)`` obstacle points by their functional ids: ``(static, dynamic)``."""
    points = np.asarray(points, np.float32).reshape(-1, 3)
    ids = np.asarray(ids).reshape(-1)
    if len(ids) != len(points):
        raise ValueError(f'{len(points)} obstacle points but {len(ids)} class ids')
    moving = np.isin(ids, dynamic)
    return points[~moving], points[moving]


def free_boundary(free: np.ndarray) -> np.ndarray:
    """
    Return the cells of a boolean ``free`` mask that have a non-free 4-neighbour.

    Cells on the grid's edge count as having one (what lies beyond was not seen). A ray from
    the camera to a boundary cell crosses the free region in front of it, so these cells
    stand for the whole region in a ray-traced clearing cloud.
    """
    f = np.asarray(free, bool)
    p = np.pad(f, 1, constant_values=False)
    interior = p[:-2, 1:-1] & p[2:, 1:-1] & p[1:-1, :-2] & p[1:-1, 2:]
    return f & ~interior


def clearing_points(grid: np.ndarray, spec: GridSpec, camera_xy: Sequence[float],
                    max_range: float, reach: float = 0.9, full: bool = False) -> np.ndarray:
    """
    Return the ``(N, 3)`` float32 free-space points (z = 0, grid frame) of one grid.

    ``grid`` is the frame's int8 OccupancyGrid data (-1 unknown, 0..100 cost). Each known cell
    with a cost below 100 on the boundary of that free region (:func:`free_boundary`; every
    such cell with ``full``) contributes its centre. Rays are cast from ``camera_xy`` at
    bearings one cell apart at ``max_range``, across the bearings of those cells; a ray that
    meets no lethal or unknown cell between its first known cell and ``reach * max_range`` is
    unobstructed, and its end at ``max_range`` (or where it leaves the grid) is a clearing
    point.
    """
    g = np.asarray(grid)
    if g.shape != spec.shape:
        raise ValueError(f'grid of shape {g.shape} does not match the spec {spec.shape}')
    free = (g >= 0) & (g < LETHAL)
    rows, cols = np.nonzero(free)
    if not rows.size:
        return np.zeros((0, 3), np.float32)
    res = spec.resolution
    cx, cy = float(camera_xy[0]), float(camera_xy[1])
    # The rays' fan spans the bearings of all free cells (the boundary's are the same span).
    bearings = np.arctan2(spec.y_min + (rows + 0.5) * res - cy,
                          spec.x_min + (cols + 0.5) * res - cx)
    if not full:
        rows, cols = np.nonzero(free_boundary(free))
    x = spec.x_min + (cols + 0.5) * res
    y = spec.y_min + (rows + 0.5) * res
    lo, hi = bearings.min(), bearings.max()
    n_rays = max(2, int(np.ceil((hi - lo) * max_range / res)) + 1)
    theta = np.linspace(lo, hi, n_rays)
    step = 0.5 * res
    dist = np.arange(step, max_range + step / 2, step)
    px = cx + np.cos(theta)[:, None] * dist[None, :]
    py = cy + np.sin(theta)[:, None] * dist[None, :]
    ix = np.floor((px - spec.x_min) / res).astype(np.int64)
    iy = np.floor((py - spec.y_min) / res).astype(np.int64)
    inside = (ix >= 0) & (ix < spec.width) & (iy >= 0) & (iy < spec.height)
    value = np.where(inside, g[np.clip(iy, 0, spec.height - 1), np.clip(ix, 0, spec.width - 1)],
                     -1)
    known = value >= 0
    started = np.cumsum(known, axis=1) > 0
    near = dist[None, :] <= reach * max_range
    # Past the grid's edge the ray is cut, not blocked: it ends where it leaves the grid
    # (what lies beyond was not projected, so it must not be cleared either).
    blocked = started & near & inside & ((value < 0) | (value >= LETHAL))
    leaving = ~inside & started
    left_grid = leaving.any(axis=1)
    exit_at = np.where(left_grid, dist[np.maximum(np.argmax(leaving, axis=1) - 1, 0)], max_range)
    clear = started.any(axis=1) & ~blocked.any(axis=1)
    end = exit_at[clear]
    ends = np.stack([cx + np.cos(theta[clear]) * end, cy + np.sin(theta[clear]) * end], axis=1)
    out = np.zeros((len(x) + len(ends), 3), np.float32)
    out[:len(x), 0], out[:len(x), 1] = x, y
    out[len(x):, :2] = ends
    return out


def to_camera(points: np.ndarray, pose: CameraPose) -> np.ndarray:
    """Express grid-frame ``(N, 3)`` points in the camera's optical frame (float32)."""
    p = np.asarray(points, np.float64).reshape(-1, 3)
    return ((p - pose.translation) @ pose.rotation).astype(np.float32)


def nav2_clouds(grid: np.ndarray, spec: GridSpec, obstacle_points: np.ndarray,
                obstacle_ids: np.ndarray, class_names: Sequence[str], pose: CameraPose,
                max_range: float, in_camera_frame: bool,
                full_clearing: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """
    Return one frame's ``(static, dynamic, clearing)`` clouds for Nav2's ObstacleLayer.

    With ``in_camera_frame`` the points are expressed in the camera's optical frame (the pose
    came from TF, so that frame is in TF and Nav2 ray-traces from the camera); otherwise they
    stay in the grid frame, whose origin is then the ray-tracing origin. ``full_clearing``
    (parameter ``nav2.full_clearing_cloud``) puts every free cell in the clearing cloud
    instead of the free region's boundary.
    """
    static, dynamic = split_dynamic(obstacle_points, obstacle_ids, dynamic_ids(class_names))
    camera_xy = (float(pose.translation[0]), float(pose.translation[1]))
    clearing = clearing_points(grid, spec, camera_xy, max_range, full=full_clearing)
    if in_camera_frame:
        return to_camera(static, pose), to_camera(dynamic, pose), to_camera(clearing, pose)
    return static, dynamic, clearing
