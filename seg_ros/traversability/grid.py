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
Projection of functional labels into a 2D cost grid, vectorised over a lattice of sample pixels.

Both modes work on the same lattice: every ``col_step``-th column and ``row_step``-th row of
the image, rows ordered from the bottom of the image up, so a lattice column is the walk from
the robot outwards.

- *Monocular*: each sample's ray meets the ground plane at a fixed point (computed once per
  camera pose). Along each lattice column, ground-type samples are marked until the first
  sample that is not ground (or is beyond ``max_range``/above the horizon): everything past it
  stays unknown, because a flat-world projection of an obstacle's pixels would smear it along
  the ray. An obstacle-type sample there marks its *foot*, halfway between its ground point and
  the last ground sample's, which is where its lower edge meets the floor.
- *Depth*: each sample with a valid depth is a 3D point. Ground-type points mark their cell;
  obstacle-type points within the height band mark their cell and become obstacle points.

Between neighbouring ground samples (up and across the lattice, and inside the quads four of
them form) the floor they enclose is filled, so far-away ground, where one sample spans many
cells, has no holes: the free-space clearing along the visible floor. Its cells depend only on
the camera pose (``FillPlan``); in depth mode it applies between samples whose depth puts them
on the floor plane. In monocular mode the feet of one obstacle whose lower edge runs unbroken
between neighbouring columns are also joined into a line.

Marks are collected as (cell, functional id) pairs; the grid takes the highest cost per cell,
so an obstacle is never erased by free space seen past it. Classes with an inflation radius
get that margin drawn around their cells.
"""
from __future__ import annotations

from dataclasses import dataclass, field
import math
from typing import Optional

import numpy as np

from seg_ros.traversability.taxonomy import Taxonomy, TYPES

T_GROUND, T_OBSTACLE, T_UNKNOWN = (TYPES.index(t) for t in ('ground', 'obstacle', 'unknown'))
MAX_CELLS = 4096 * 4096
UNKNOWN_RGB = (0x70, 0x89, 0x86)   # RViz's map colour scheme for -1
FILL_SPACING = 0.75   # of a cell: filled points are 8-connected, so a filled line has no gaps


@dataclass(frozen=True)
class GridSpec:
    """
    Extent and resolution of the output grid, in its frame.

    Cell (row ``iy``, column ``ix``) covers x in ``x_min + ix * res`` and y in
    ``y_min + iy * res`` (plus one resolution), the nav_msgs/OccupancyGrid layout with the
    origin at the lower-left cell corner and x along the columns.
    """

    resolution: float = 0.05
    x_min: float = 0.0
    x_max: float = 8.0
    y_min: float = -4.0
    y_max: float = 4.0
    frame_id: str = 'base_link'

    def __post_init__(self) -> None:
        for name in ('resolution', 'x_min', 'x_max', 'y_min', 'y_max'):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f'grid.{name} must be a finite number, got {value!r}')
        if not self.resolution > 0:
            raise ValueError(f'grid.resolution must be > 0 metres, got {self.resolution}')
        if not self.x_max > self.x_min or not self.y_max > self.y_min:
            raise ValueError(f'grid extent is empty: x {self.x_min}..{self.x_max}, '
                             f'y {self.y_min}..{self.y_max}; need x_max > x_min, y_max > y_min')
        if self.width * self.height > MAX_CELLS:
            raise ValueError(f'grid of {self.width}x{self.height} cells is too large; raise '
                             'grid.resolution or shrink the extent')
        if not self.frame_id:
            raise ValueError('grid.frame_id must name a TF frame (e.g. base_link)')

    @property
    def width(self) -> int:
        """Return the number of columns (cells along x)."""
        return max(1, int(math.ceil((self.x_max - self.x_min) / self.resolution - 1e-9)))

    @property
    def height(self) -> int:
        """Return the number of rows (cells along y)."""
        return max(1, int(math.ceil((self.y_max - self.y_min) / self.resolution - 1e-9)))

    @property
    def shape(self) -> tuple[int, int]:
        return self.height, self.width

    @property
    def origin(self) -> tuple[float, float]:
        return float(self.x_min), float(self.y_min)

    def cell_index(self, xy: np.ndarray) -> np.ndarray:
        """Flat cell index (row-major) of ``(..., 2)`` points; -1 outside the grid or NaN."""
        inv = 1.0 / self.resolution
        fx = (xy[..., 0] - self.x_min) * inv
        fy = (xy[..., 1] - self.y_min) * inv
        with np.errstate(invalid='ignore'):
            inside = (fx >= 0) & (fx < self.width) & (fy >= 0) & (fy < self.height)
            flat = np.asarray(fy.astype(np.int64) * self.width + fx.astype(np.int64))
        return np.where(inside, flat, -1)

    def cell_centres(self) -> tuple[np.ndarray, np.ndarray]:
        """Return x and y of every cell centre, each ``(height, width)``."""
        xs = self.x_min + (np.arange(self.width) + 0.5) * self.resolution
        ys = self.y_min + (np.arange(self.height) + 0.5) * self.resolution
        return np.meshgrid(xs, ys)


@dataclass(frozen=True)
class Lattice:
    """Sample pixels: ``rows`` bottom-up, ``cols`` left to right."""

    rows: np.ndarray
    cols: np.ndarray

    @classmethod
    def make(cls, width: int, height: int, col_step: int, row_step: int) -> 'Lattice':
        rows = np.arange(height - 1 - (row_step // 2), -1, -row_step)
        cols = np.arange(col_step // 2, width, col_step)
        return cls(rows, cols)

    def sample(self, image: np.ndarray) -> np.ndarray:
        """Pick the lattice pixels of an image: ``(len(rows), len(cols))``."""
        return image[self.rows[:, None], self.cols[None, :]]


class Marks:
    """(cell, functional id) pairs collected during a projection, turned into a grid at the end."""

    def __init__(self) -> None:
        self.cells: list[np.ndarray] = []
        self.fids: list[np.ndarray] = []

    def add(self, cells: np.ndarray, fids: np.ndarray) -> None:
        keep = cells >= 0
        self.cells.append(cells[keep])
        self.fids.append(fids[keep])

    def to_grid(self, spec: GridSpec, taxonomy: Taxonomy) -> np.ndarray:
        """Return the int8 grid: highest cost per cell, then each class's inflation."""
        return self.to_grids(spec, taxonomy)[0]

    def to_grids(self, spec: GridSpec, taxonomy: Taxonomy) -> tuple[np.ndarray, np.ndarray]:
        """
        Return the int8 cost grid (with inflation) and the uint8 class grid (without).

        The class grid holds, per cell, the functional id of the mark with the highest cost
        (the lower id on a tie, so ``obstacle`` wins over ``dynamic_obstacle``), 0 where
        nothing was marked: what the fused grid accumulates. One ``maximum.at`` computes both,
        on a key of cost (high byte) and inverted id (low byte).
        """
        n = spec.width * spec.height
        if not self.cells:
            return (np.full(spec.shape, -1, np.int8), np.zeros(spec.shape, np.uint8))
        cells = np.concatenate(self.cells)
        fids = np.concatenate(self.fids)
        costs = taxonomy.costs
        key = np.zeros(n, np.int32)
        np.maximum.at(key, cells, (costs[fids].astype(np.int32) + 1) * 256 + (255 - fids))
        grid = (key >> 8).astype(np.int16) - 1
        classes = np.where(key > 0, 255 - (key & 255), 0).astype(np.uint8).reshape(spec.shape)
        grid2d = grid.reshape(spec.shape)
        for fc in taxonomy.classes:
            if fc.inflation <= 0 or fc.cost < 0:
                continue
            mine = cells[fids == fc.index]
            if not mine.size:
                continue
            radius = int(round(fc.inflation / spec.resolution))
            if radius < 1:
                continue
            import cv2

            mask = np.zeros(n, np.uint8)
            mask[mine] = 1
            kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1,) * 2)
            grown = cv2.dilate(mask.reshape(spec.shape), kernel).astype(bool)
            np.maximum(grid2d, np.where(grown, fc.cost, -1).astype(np.int16), out=grid2d)
        return grid2d.astype(np.int8), classes


def segment_points(p0: np.ndarray, p1: np.ndarray, spacing: float,
                   max_points: int = 4096) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """
    Interior points of each segment ``p0[i] -> p1[i]`` (2D), no more than ``spacing`` apart.

    The end points are left out (their samples mark them), and so are segments shorter than
    ``spacing``: near the camera, where neighbouring samples share cells, that is most of them.
    Returns the points ``(M, 2)``, the segment each came from ``(M,)`` and its position ``t``
    in 0..1 along the segment, so callers can give each half its nearer end's class.
    """
    delta = p1 - p0
    length = np.hypot(delta[:, 0], delta[:, 1])
    n = np.minimum(np.ceil(length / spacing), max_points).astype(np.int64) - 1
    long = np.nonzero(n > 0)[0]
    if not long.size:
        return np.zeros((0, 2)), np.zeros(0, np.int64), np.zeros(0)
    n = n[long]
    seg = np.repeat(long, n)
    start = np.cumsum(n) - n
    k = np.arange(1, seg.size + 1) - np.repeat(start, n)
    t = k / np.repeat(n + 1, n)
    return p0[seg] + delta[seg] * t[:, None], seg, t


def quad_points(p00: np.ndarray, p10: np.ndarray, p01: np.ndarray, p11: np.ndarray,
                spacing: float, max_side: int = 64) -> tuple[np.ndarray, np.ndarray,
                                                             np.ndarray]:
    """
    Interior points of quadrilaterals (bilinear patches between four lattice samples).

    Far from the camera one lattice cell spans several grid cells in both directions, and
    filling only its sides leaves holes. Returns the points ``(M, 2)``, the quad each came from
    and the corner nearest to it (0: p00, 1: p10, 2: p01, 3: p11).
    """
    def side(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.hypot(*(b - a).T)

    nu = np.minimum(np.ceil(np.maximum(side(p00, p01), side(p10, p11)) / spacing),
                    max_side).astype(np.int64)
    nv = np.minimum(np.ceil(np.maximum(side(p00, p10), side(p01, p11)) / spacing),
                    max_side).astype(np.int64)
    m = np.maximum(nu - 1, 0) * np.maximum(nv - 1, 0)
    big = np.nonzero(m > 0)[0]
    if not big.size:
        return np.zeros((0, 2)), np.zeros(0, np.int64), np.zeros(0, np.int64)
    m, nu, nv = m[big], nu[big], nv[big]
    quad = np.repeat(big, m)
    start = np.cumsum(m) - m
    k = np.arange(quad.size) - np.repeat(start, m)
    rows = np.repeat(nv - 1, m)
    su = (k // rows + 1) / np.repeat(nu, m)      # along p00 -> p01 (across the lattice)
    sv = (k % rows + 1) / np.repeat(nv, m)       # along p00 -> p10 (up the lattice)
    a, b, c, d = p00[quad], p10[quad], p01[quad], p11[quad]
    pts = (((1 - su) * (1 - sv))[:, None] * a + ((1 - su) * sv)[:, None] * b
           + (su * (1 - sv))[:, None] * c + (su * sv)[:, None] * d)
    corner = (sv >= 0.5).astype(np.int64) + 2 * (su >= 0.5)
    return pts, quad, corner


class FillPlan:
    """
    The filled cells between neighbouring lattice samples, for one lattice geometry.

    Each *group* is a lattice edge (two samples) or a lattice quad (four); its fill is used
    when all its samples are marked, and each filled point takes the class of its nearest
    sample. In monocular mode the geometry is fixed per camera pose, so the plan is built once
    and a frame only chooses groups; in depth mode it is built per frame.
    """

    def __init__(self, spec: GridSpec, xy: np.ndarray, usable: np.ndarray) -> None:
        R, C = usable.shape
        idx = np.arange(R * C).reshape(R, C)
        flat_xy = xy.reshape(-1, 2)
        flat_ok = usable.ravel()
        spacing = spec.resolution * FILL_SPACING
        groups, cells, srcs = [], [], []
        n_groups = 0
        # Edges up the lattice columns and across the rows.
        ea = np.concatenate([idx[:-1, :].ravel(), idx[:, :-1].ravel()])
        eb = np.concatenate([idx[1:, :].ravel(), idx[:, 1:].ravel()])
        keep = np.nonzero(flat_ok[ea] & flat_ok[eb])[0]
        ea, eb = ea[keep], eb[keep]
        pts, seg, t = segment_points(flat_xy[ea], flat_xy[eb], spacing)
        groups.append(np.stack([ea, eb, ea, eb], 1))
        cells.append(spec.cell_index(pts))
        srcs.append(np.where(t >= 0.5, eb[seg], ea[seg]))
        entry_group = [seg]
        n_groups += len(ea)
        # Quads.
        q = np.stack([idx[:-1, :-1].ravel(), idx[1:, :-1].ravel(), idx[:-1, 1:].ravel(),
                      idx[1:, 1:].ravel()], 1)
        q = q[flat_ok[q].all(1)]
        pts, quad, corner = quad_points(flat_xy[q[:, 0]], flat_xy[q[:, 1]], flat_xy[q[:, 2]],
                                        flat_xy[q[:, 3]], spacing)
        groups.append(q)
        cells.append(spec.cell_index(pts))
        srcs.append(q[quad, corner])
        entry_group.append(quad + n_groups)
        cell = np.concatenate(cells)
        inside = cell >= 0
        self.entry_cell = cell[inside]
        self.entry_src = np.concatenate(srcs)[inside]
        # Keep only the groups that fill something (near the camera, most fill nothing).
        used, self.entry_group = np.unique(np.concatenate(entry_group)[inside],
                                           return_inverse=True)
        self.groups = np.concatenate(groups)[used]

    def marks(self, marks: Marks, fid: np.ndarray, ok: np.ndarray) -> None:
        """Add the fills of groups whose samples are all ``ok``."""
        if not self.entry_cell.size:
            return
        ok_flat = ok.ravel()
        g = self.groups
        group_ok = ok_flat[g[:, 0]] & ok_flat[g[:, 1]] & ok_flat[g[:, 2]] & ok_flat[g[:, 3]]
        sel = np.nonzero(group_ok[self.entry_group])[0]
        if sel.size:
            marks.add(self.entry_cell[sel], fid.ravel()[self.entry_src[sel]])


@dataclass
class GroundPlan:
    """Everything monocular projection needs that depends only on the camera and its pose."""

    xy: np.ndarray          # (R, C, 2) ground points of the lattice samples
    valid: np.ndarray       # (R, C) below the horizon and within range
    cells: np.ndarray       # (R, C) flat cell index of each sample, -1 outside the grid
    fills: FillPlan
    camera_xy: np.ndarray   # (2,) the camera above the ground

    @classmethod
    def build(cls, spec: GridSpec, ground: np.ndarray, reaches: np.ndarray,
              camera_xy: np.ndarray, max_range: float) -> 'GroundPlan':
        xy, valid = ground_lattice(ground, reaches, camera_xy, max_range)
        return cls(xy, valid, spec.cell_index(xy), FillPlan(spec, xy, valid),
                   np.asarray(camera_xy, float))


@dataclass
class Projection:
    """What one frame's projection produced besides the grid."""

    grid: np.ndarray             # (rows, cols) int8
    obstacle_points: np.ndarray  # (N, 3) float32 in the grid frame
    obstacle_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint8))
    # (N,) functional id of each obstacle point (dynamic ones go into their own cloud)
    classes: Optional[np.ndarray] = None   # (rows, cols) uint8 functional id, 0 = not seen


def _lookup(table: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Index a 256-entry uint8 table with uint8 ids (OpenCV's LUT is several times faster)."""
    import cv2

    return cv2.LUT(np.ascontiguousarray(ids), table)


SILHOUETTE_COLUMNS = 3
SILHOUETTE_SLOPE = 1.0   # image rows per column: a steeper step to a run's end foot is a side
EDGE_SLOPE = 3           # pixels an unbroken lower edge may move between pixel columns


def _supported_feet(cols: np.ndarray, rows: np.ndarray, foot: np.ndarray, ofid: np.ndarray,
                    camera_xy: np.ndarray, n_cols: int, max_jump: float,
                    rows_per_col: float) -> np.ndarray:
    """
    Return which feet to keep, dropping those seen past an object's side.

    A column that grazes an object's silhouette meets it above the floor, and the flat-world
    foot lands behind the object. Such a foot ends its object's run of columns, lies more than
    ``max_jump`` farther than the foot next to it in the run, and the object's lower boundary
    between the two is steep in the image (a vertical edge, not a line on the floor; its
    slope in pixels is the lattice rows between them times ``rows_per_col``). Up to
    ``SILHOUETTE_COLUMNS`` such feet are peeled off each end of a run.
    """
    dist = np.full(n_cols + 2, np.inf)
    cls = np.full(n_cols + 2, -1)
    row = np.zeros(n_cols + 2)
    dist[cols + 1] = np.hypot(foot[:, 0] - camera_xy[0], foot[:, 1] - camera_xy[1])
    cls[cols + 1] = ofid
    row[cols + 1] = rows
    mid, left, right = slice(1, -1), slice(None, -2), slice(2, None)
    for _ in range(SILHOUETTE_COLUMNS):
        has = cls[mid] >= 0
        same_l, same_r = cls[left] == cls[mid], cls[right] == cls[mid]
        steep_l = np.abs(row[mid] - row[left]) * rows_per_col > SILHOUETTE_SLOPE
        steep_r = np.abs(row[mid] - row[right]) * rows_per_col > SILHOUETTE_SLOPE
        end_r = has & same_l & ~same_r & steep_l & (dist[mid] > dist[left] + max_jump)
        end_l = has & same_r & ~same_l & steep_r & (dist[mid] > dist[right] + max_jump)
        drop = np.nonzero(end_r | end_l)[0] + 1
        if not drop.size:
            break
        cls[drop] = -1
        dist[drop] = np.inf
    return cls[cols + 1] >= 0


def _connected(kind_rows: np.ndarray, lattice_cols: np.ndarray, first: np.ndarray,
               row_step: int) -> np.ndarray:
    """
    Whether the obstacle boundary runs unbroken between neighbouring lattice columns.

    ``kind_rows`` are the class types of the lattice rows over *every* image column. Between
    two sampled columns, every pixel column must stop on an obstacle-type pixel at a lattice
    row between the two columns' stops (plus one), and the stop may move by no more than
    ``EDGE_SLOPE`` pixels from one pixel column to the next: then the feet belong to one
    lower edge on the floor (a wall seen obliquely, however far its feet are apart), not to
    two objects with floor visible between them, nor to a near object and one it hides.
    """
    R, W = kind_rows.shape
    stop = kind_rows != T_GROUND
    first_all = np.where(stop.any(axis=0), np.argmax(stop, axis=0), R)
    on_obstacle = (first_all < R) & (
        kind_rows[np.minimum(first_all, R - 1), np.arange(W)] == T_OBSTACLE)
    if len(lattice_cols) < 2:
        return np.zeros(0, bool)
    step = int(lattice_cols[1] - lattice_cols[0])
    idx = np.minimum(lattice_cols[:-1, None] + np.arange(step + 1)[None, :], W - 1)
    lo = np.minimum(first[:-1], first[1:])[:, None] - 1
    hi = np.maximum(first[:-1], first[1:])[:, None] + 1
    rows = first_all[idx]
    between = (rows >= lo) & (rows <= hi) & on_obstacle[idx]
    max_step = max(1, int(np.ceil(EDGE_SLOPE / row_step)))
    smooth = np.abs(np.diff(rows, axis=1)) <= max_step
    return between.all(axis=1) & smooth.all(axis=1)


def monocular(fid_rows: np.ndarray, lattice_cols: np.ndarray, plan: GroundPlan,
              spec: GridSpec, taxonomy: Taxonomy, silhouette_jump: float = 0.3,
              min_obstacle_cost: int = 100, point_height: float = 0.1,
              row_step: int = 2) -> Projection:
    """
    Column walk on the ground plane.

    ``fid_rows``: ``(R, W)`` functional ids of the lattice rows (row 0 = image bottom) over
    every image column; ``lattice_cols``: the sampled columns (evenly spaced); ``plan``: the
    lattice's ground geometry. ``point_height`` is the z given to obstacle feet in the obstacle
    point cloud (Nav2's ObstacleLayer drops points below its ``min_obstacle_height``);
    ``row_step`` is the lattice's row spacing in pixels.
    """
    fid = fid_rows[:, lattice_cols]
    R, C = fid.shape
    ground_xy, valid = plan.xy, plan.valid
    kind_rows = _lookup(taxonomy.type_lut, fid_rows)
    kind = kind_rows[:, lattice_cols]
    stop = (kind != T_GROUND) | ~valid
    first = np.where(stop.any(axis=0), np.argmax(stop, axis=0), R)
    free = np.arange(R)[:, None] < first[None, :]
    marks = Marks()
    marks.add(plan.cells[free], fid[free])
    plan.fills.marks(marks, fid, free)

    cols = np.nonzero(first < R)[0]
    rows = first[cols]
    hit = valid[rows, cols] & (kind[rows, cols] == T_OBSTACLE)
    cols, rows = cols[hit], rows[hit]
    foot = ground_xy[rows, cols].copy()
    above = rows > 0
    foot[above] = 0.5 * (foot[above] + ground_xy[rows[above] - 1, cols[above]])
    ofid = fid[rows, cols]
    col_step = int(lattice_cols[1] - lattice_cols[0]) if C > 1 else 1
    keep = _supported_feet(cols, rows, foot, ofid, plan.camera_xy, C, silhouette_jump,
                           row_step / col_step)
    cols, rows, foot, ofid = cols[keep], rows[keep], foot[keep], ofid[keep]
    marks.add(spec.cell_index(foot), ofid)
    # Join the feet of one object's boundary seen in neighbouring lattice columns.
    if len(cols) > 1:
        connected = _connected(kind_rows, lattice_cols, first, row_step)
        join = (cols[1:] == cols[:-1] + 1) & (ofid[1:] == ofid[:-1]) & connected[cols[:-1]]
        pts, seg, _ = segment_points(foot[:-1][join], foot[1:][join],
                                     spec.resolution * FILL_SPACING)
        marks.add(spec.cell_index(pts), ofid[:-1][join][seg])
    lethal = taxonomy.costs[ofid] >= min_obstacle_cost
    points = np.zeros((int(lethal.sum()), 3), np.float32)
    points[:, :2] = foot[lethal]
    points[:, 2] = point_height
    cost_grid, classes = marks.to_grids(spec, taxonomy)
    return Projection(cost_grid, points, ofid[lethal], classes=classes)


def from_depth(fid: np.ndarray, points: np.ndarray, plan: GroundPlan, spec: GridSpec,
               taxonomy: Taxonomy, max_range: float, min_height: float = 0.05,
               max_height: float = 2.0, min_obstacle_cost: int = 100,
               ground_tolerance: float = 0.1) -> Projection:
    """
    Project 3D lattice points: classes land where the depth puts them.

    ``points`` ``(R, C, 3)`` are the lattice samples in the grid frame (NaN where the depth is
    invalid). Ground-class points mark their own cell wherever they are; between neighbouring
    ground samples that lie on the floor plane (``|z| <= ground_tolerance``) the floor seen
    between them is cleared with the plane geometry of ``plan``, which is exact there and
    computed once per pose. Obstacle points become obstacle points, one per grid cell.
    """
    kind = taxonomy.types[fid]
    camera_xy = plan.camera_xy
    with np.errstate(invalid='ignore'):
        rng = np.hypot(points[..., 0] - camera_xy[0], points[..., 1] - camera_xy[1])
        valid = np.isfinite(rng) & (rng <= max_range)
        z = points[..., 2]
        in_band = valid & (z >= min_height) & (z <= max_height)
        ground = valid & (kind == T_GROUND)
        on_floor = ground & plan.valid & (np.abs(z) <= ground_tolerance)
    obstacle = in_band & (kind == T_OBSTACLE)
    xy = points[..., :2]
    marks = Marks()
    marks.add(spec.cell_index(xy[ground]), fid[ground])
    plan.fills.marks(marks, fid, on_floor)
    ocells = spec.cell_index(xy[obstacle])
    ofid = fid[obstacle]
    marks.add(ocells, ofid)
    lethal = (taxonomy.costs[ofid] >= min_obstacle_cost) & (ocells >= 0)
    opts, ocells = points[obstacle][lethal], ocells[lethal]
    _, first = np.unique(ocells, return_index=True)
    cost_grid, classes = marks.to_grids(spec, taxonomy)
    return Projection(cost_grid, np.ascontiguousarray(opts[first], np.float32),
                      ofid[lethal][first], classes=classes)


def ground_lattice(ground: np.ndarray, reaches: np.ndarray, camera_xy: np.ndarray,
                   max_range: float) -> tuple[np.ndarray, np.ndarray]:
    """Ground points ``(R, C, 2)`` and validity of a lattice (below horizon, within range)."""
    xy = ground[..., :2]
    with np.errstate(invalid='ignore'):
        rng = np.hypot(xy[..., 0] - camera_xy[0], xy[..., 1] - camera_xy[1])
        valid = reaches & (rng <= max_range)
    return xy, valid


def empty_grid(spec: GridSpec) -> np.ndarray:
    """Return an all-unknown grid, e.g. to publish before the first camera_info."""
    return np.full(spec.shape, -1, np.int8)


def grid_image(grid_cells: np.ndarray, scale: int = 1) -> np.ndarray:
    """
    Render an int8 grid as an RGB image seen from above, robot at the bottom, x pointing up.

    Colours are RViz's ``map`` colour scheme (the one ``config/seg_ros.rviz`` uses): free
    white, cost 100 black, costs in between ``255 - 255 * cost // 100`` grey, unknown
    RViz's grey-green (112, 137, 134). Rows of the image run along -x, columns along -y (so
    the robot's left is on the left), which is how a person looking ahead reads it.
    """
    g = grid_cells.astype(np.int16)
    grey = (255 - (np.clip(g, 0, 100) * 255) // 100).astype(np.uint8)
    rgb = np.repeat(grey[..., None], 3, axis=2)
    rgb[g < 0] = UNKNOWN_RGB
    top_down = np.ascontiguousarray(rgb.transpose(1, 0, 2)[::-1, ::-1])
    if scale > 1:
        top_down = np.repeat(np.repeat(top_down, scale, axis=0), scale, axis=1)
    return top_down
