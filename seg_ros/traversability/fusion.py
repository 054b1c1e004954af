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
A traversability map with memory: per-frame class grids accumulated in a fixed frame.

Each frame's projection says, per cell of a grid in the robot frame, which functional class
was seen there (or nothing). :class:`FusedGrid` resamples that into a square window of the
fixed frame (``odom``) around the robot and keeps, per cell:

- ``class``: the functional class the cell currently holds (0: unknown);
- ``evidence``: how many consistent observations back it, 1..``max_evidence``;
- ``expires``: when it is forgotten unless seen again, ``decay`` seconds of its class after
  it was last confirmed (dynamic classes: about a second; obstacles and ground: longer).

An observation of the same class adds one to the evidence (up to ``max_evidence``) and renews
the expiry. An observation of a class with a *higher* cost takes the cell at once (an obstacle
appears in the first frame that shows it: safety first). One with a lower or equal cost takes
one away, and takes the cell only when none is left: one misclassified frame cannot punch a
hole in a wall seen five times, but a person who walked away is cleared by the free floor seen
where they stood, or by the clock. Cells no frame sees keep their class until it expires.

The window moves with the robot in steps of a quarter window (:data:`RECENTRE_STEP`), in whole
cells (its origin stays on the fixed frame's cell lattice, so nothing is resampled twice): it
stays put while the robot is within an eighth of the window of its centre and then jumps a
quarter window, so its origin changes every few metres, not on every cell crossed. Nav2's
StaticLayer logs "Resizing static layer" and reallocates its map for every grid whose origin
moved (``static_layer.cpp`` ``processMap``); at 10 Hz that was a log line per frame while
driving. Cells that leave the window are dropped. The output is an
OccupancyGrid-ready int8 array: each cell's class cost, with each class's inflation drawn
around it, and -1 for unknown. Everything is NumPy/OpenCV on whole arrays.
"""
from __future__ import annotations

from dataclasses import dataclass
import math
from typing import Optional, Sequence

import numpy as np

from seg_ros.traversability.grid import GridSpec
from seg_ros.traversability.taxonomy import GROUND, OBSTACLE, Taxonomy

BACKWARDS_RESET = 1.0    # seconds the stamps may go back (reordering) before the map resets
RECENTRE_STEP = 0.25     # the window moves in steps of this fraction of its side


def window_cells(window_size: float, resolution: float) -> int:
    """Return the side of the fused window in cells (even, so the robot's cell is central)."""
    return max(2, int(math.ceil(window_size / resolution / 2.0)) * 2)


@dataclass(frozen=True)
class FusionConfig:
    """Fusion parameters (``fusion.*``); see ``pipeline.PARAMETERS`` for their meaning."""

    enabled: bool = False
    odom_frame: str = 'odom'
    window_size: float = 16.0
    decay_dynamic: float = 1.0
    decay_obstacle: float = 60.0
    decay_ground: float = 30.0
    dynamic_classes: tuple[str, ...] = ('dynamic_obstacle',)
    max_evidence: int = 5


@dataclass(frozen=True)
class Pose2D:
    """The grid frame's pose in the fixed frame: position (m) and heading (rad)."""

    x: float
    y: float
    yaw: float

    @classmethod
    def from_transform(cls, translation: Sequence[float],
                       quaternion: Sequence[float]) -> 'Pose2D':
        """
        From a TF transform or an odometry pose (quaternion x, y, z, w); drops roll/pitch.

        Raises ``ValueError`` (see :func:`pose_problem`) for a pose that cannot be right; a
        quaternion that is not of unit length is normalised first (its yaw would be wrong).
        """
        problem = pose_problem(translation, quaternion)
        if problem:
            raise ValueError(problem)
        norm = math.sqrt(sum(float(v) * float(v) for v in quaternion))
        qx, qy, qz, qw = (float(v) / norm for v in quaternion)
        yaw = math.atan2(2.0 * (qw * qz + qx * qy), 1.0 - 2.0 * (qy * qy + qz * qz))
        return cls(float(translation[0]), float(translation[1]), yaw)


MIN_QUATERNION_NORM = 1e-3   # below it the direction of a quaternion is numerical noise


def pose_problem(translation: Sequence[float], quaternion: Sequence[float]) -> Optional[str]:
    """
    Say what makes a pose unusable (NaN or inf anywhere, a zero quaternion), or None.

    One such pose must not reach the fused grid: a NaN spreads through the interpolation of
    every later pose and a zero quaternion has no heading at all.
    """
    values = [float(v) for v in translation] + [float(v) for v in quaternion]
    if not all(math.isfinite(v) for v in values):
        return (f'a non-finite pose (position {[float(v) for v in translation]}, quaternion '
                f'{[float(v) for v in quaternion]})')
    norm = math.sqrt(sum(float(v) * float(v) for v in quaternion))
    if norm < MIN_QUATERNION_NORM:
        return (f'a quaternion of length {norm:g} ({[float(v) for v in quaternion]}): it '
                'gives no orientation (an unset orientation is x=y=z=0, w=1)')
    return None


@dataclass(frozen=True)
class FusedResult:
    """The fused grid after an update."""

    grid: np.ndarray   # (rows, cols) int8, -1 unknown, OccupancyGrid layout
    spec: GridSpec     # extent and resolution in the fixed frame


class FusedGrid:
    """
    Accumulates per-frame class grids in a rolling window of a fixed frame.

    ``taxonomy`` gives each functional id its cost, type and inflation; ``resolution`` is the
    window's cell size (normally the per-frame grid's).
    """

    def __init__(self, config: FusionConfig, taxonomy: Taxonomy, resolution: float) -> None:
        if not resolution > 0:
            raise ValueError(f'fused grid resolution must be > 0 m, got {resolution}')
        self.config = config
        self.taxonomy = taxonomy
        self.resolution = float(resolution)
        self.cells = window_cells(config.window_size, resolution)
        names = set(taxonomy.names)
        missing = [n for n in config.dynamic_classes if n not in names]
        if missing:
            raise ValueError(f'fusion.dynamic_classes names {missing}, which the taxonomy does '
                             f'not have; its functional classes are {", ".join(taxonomy.names)}')
        # Tables per functional id: what may be stored, its cost + 1 (uint8 for cv2.LUT) and
        # how long it lasts once confirmed.
        self._observable = np.zeros(256, np.uint8)
        self._cost1 = np.zeros(256, np.uint8)
        self._decay = np.zeros(256, np.float64)
        for fc in taxonomy.classes:
            if fc.cost < 0 or fc.kind not in (GROUND, OBSTACLE):
                continue
            self._observable[fc.index] = fc.index
            self._cost1[fc.index] = fc.cost + 1
            self._decay[fc.index] = (config.decay_dynamic if fc.name in config.dynamic_classes
                                     else config.decay_obstacle if fc.kind == OBSTACLE
                                     else config.decay_ground)
        self._inflated = [(fc.index, fc.cost, int(round(fc.inflation / self.resolution)))
                          for fc in taxonomy.classes
                          if fc.cost >= 0 and fc.inflation > 0
                          and fc.inflation / self.resolution >= 0.5]
        self._kernels: dict[int, np.ndarray] = {}
        self.restarted: Optional[str] = None   # why the last update started the grid over
        self.reset()

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        """Forget everything (e.g. when time jumps back: a bag loops, a simulation restarts)."""
        shape = (self.cells, self.cells)
        self._cls = np.zeros(shape, np.uint8)
        self._ev = np.zeros(shape, np.int16)
        self._expires = np.zeros(shape, np.float64)
        self._origin: Optional[tuple[int, int]] = None   # window's lower-left cell, fixed frame
        self._stamp: Optional[float] = None

    @property
    def spec(self) -> GridSpec:
        """Return the window's extent in the fixed frame (after the latest update)."""
        ix, iy = self._origin if self._origin is not None else (-self.cells // 2,) * 2
        r = self.resolution
        return GridSpec(r, ix * r, (ix + self.cells) * r, iy * r, (iy + self.cells) * r,
                        self.config.odom_frame)

    @property
    def step(self) -> int:
        """Return the cells the window moves by at a time (a quarter of its side)."""
        return max(1, int(round(self.cells * RECENTRE_STEP)))

    def _recentre(self, pose: Pose2D) -> None:
        """
        Keep the robot within half a step of the window's centre; shift the arrays.

        The first frame centres the window on the robot's cell. Later, per axis, the window
        moves by whole steps (the nearest multiple of :attr:`step`) once the robot is more
        than half a step from its centre, so driving back and forth by less than a step moves
        nothing.
        """
        half = self.cells // 2
        robot = (int(math.floor(pose.x / self.resolution)),
                 int(math.floor(pose.y / self.resolution)))
        old = self._origin
        if old is None:
            self._origin = (robot[0] - half, robot[1] - half)
            return
        step = self.step
        moved = []
        for r, o in zip(robot, old):
            d = r - (o + half)
            moved.append(o + step * int(math.copysign(math.floor(abs(d) / step + 0.5), d))
                         if 2 * abs(d) > step else o)
        new = (moved[0], moved[1])
        self._origin = new
        if old == new:
            return
        dx, dy = new[0] - old[0], new[1] - old[1]
        self._cls = _shifted(self._cls, dx, dy, 0)
        self._ev = _shifted(self._ev, dx, dy, 0)
        self._expires = _shifted(self._expires, dx, dy, 0.0)

    def _warp(self, classes: np.ndarray, spec: GridSpec, pose: Pose2D) -> np.ndarray:
        """
        Resample a per-frame class grid into the window (nearest cell; 0 outside it).

        For a window cell centre p (fixed frame), the robot-frame point is R(-yaw)(p - t) and
        its per-frame cell ``floor((b - min) / res)``; the affine map below is that, in
        OpenCV's pixel-centre convention, handed to warpAffine as the inverse map.
        """
        import cv2

        assert self._origin is not None
        c, s = math.cos(pose.yaw), math.sin(pose.yaw)
        k = self.resolution / spec.resolution
        ox = (self._origin[0] + 0.5) * self.resolution - pose.x
        oy = (self._origin[1] + 0.5) * self.resolution - pose.y
        m = np.array([
            [c * k, s * k, (c * ox + s * oy - spec.x_min) / spec.resolution - 0.5],
            [-s * k, c * k, (-s * ox + c * oy - spec.y_min) / spec.resolution - 0.5]])
        return cv2.warpAffine(np.ascontiguousarray(classes, np.uint8), m,
                              (self.cells, self.cells),
                              flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0)

    # ------------------------------------------------------------------ update
    def update(self, classes: np.ndarray, spec: GridSpec, pose: Pose2D,
               stamp: float) -> FusedResult:
        """
        Add one frame and return the fused grid.

        ``classes``: functional id per cell of ``spec`` (0 = not seen), taken with the grid
        frame at ``pose`` in the fixed frame, at time ``stamp`` (seconds).
        """
        import cv2

        if classes.shape != spec.shape:
            raise ValueError(f'class grid {classes.shape} does not match its spec {spec.shape}')
        if not all(math.isfinite(v) for v in (pose.x, pose.y, pose.yaw, stamp)):
            raise ValueError(f'the robot pose {pose} at {stamp} is not finite')
        self.restarted = None
        if self._stamp is not None and stamp < self._stamp - BACKWARDS_RESET:
            self.restarted = (f'the frame is stamped {self._stamp - stamp:.1f} s before the '
                              'newest one in the fused grid (a bag looped, a simulation '
                              'restarted, or an earlier frame was stamped in the future): the '
                              'fused grid starts over')
            self.reset()
        self._stamp = stamp if self._stamp is None else max(stamp, self._stamp)
        self._recentre(pose)
        obs = cv2.LUT(self._warp(classes, spec, pose), self._observable)
        cls, ev, expires = self._cls, self._ev, self._expires
        expired = expires < stamp
        cls[expired] = 0
        ev[expired] = 0
        seen = obs > 0
        same = seen & (obs == cls)
        differ = seen & ~same
        stronger = differ & (cv2.LUT(obs, self._cost1) > cv2.LUT(cls, self._cost1))
        weaker = differ & ~stronger
        np.add(ev, 1, out=ev, where=same)
        np.minimum(ev, self.config.max_evidence, out=ev)
        np.subtract(ev, 1, out=ev, where=weaker)
        take = stronger | (weaker & (ev <= 0))
        cls[take] = obs[take]
        ev[take] = 1
        renew = same | take
        expires[renew] = stamp + self._decay[cls[renew]]
        return FusedResult(self.grid(), self.spec)

    def grid(self) -> np.ndarray:
        """Return the int8 OccupancyGrid data: class costs, inflation, -1 unknown."""
        import cv2

        out = cv2.LUT(self._cls, self._cost1).astype(np.int16) - 1
        for fid, cost, radius in self._inflated:
            mask = (self._cls == fid).view(np.uint8)
            if not mask.any():
                continue
            kernel = self._kernels.get(radius)
            if kernel is None:
                kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1,) * 2)
                self._kernels[radius] = kernel
            grown = cv2.dilate(mask, kernel)
            out[(grown > 0) & (out < cost)] = cost
        return out.astype(np.int8)

    @property
    def classes(self) -> np.ndarray:
        """Return the functional id per window cell (0: unknown), read-only view."""
        view = self._cls.view()
        view.flags.writeable = False
        return view


def _shifted(a: np.ndarray, dx: int, dy: int, fill: float) -> np.ndarray:
    """Return ``b`` with ``b[v, u] = a[v + dy, u + dx]`` where that exists, else ``fill``."""
    h, w = a.shape
    b = np.full_like(a, fill)
    if abs(dx) >= w or abs(dy) >= h:
        return b
    src_y = slice(max(dy, 0), h + min(dy, 0))
    src_x = slice(max(dx, 0), w + min(dx, 0))
    dst_y = slice(max(-dy, 0), h + min(-dy, 0))
    dst_x = slice(max(-dx, 0), w + min(-dx, 0))
    b[dst_y, dst_x] = a[src_y, src_x]
    return b
