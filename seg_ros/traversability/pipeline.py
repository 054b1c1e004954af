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
Traversability: from a label image to functional ids, a cost grid and obstacle points.

This is the one class the node drives; it holds no ROS types::

    config = from_parameters({'taxonomy': 'camvid', 'grid.resolution': 0.05, ...})
    trav = Traversability(config, model_classes)
    trav.set_camera_info(K, D, width, height, distortion_model)      # from camera_info
    trav.set_camera_pose_xyzrpy(config.camera_pose)                   # or, from TF:
    trav.set_camera_transform(translation, quaternion_xyzw, optical=True)
    result = trav.process(labels, depth)   # depth: None, or (H, W) uint16 mm / float32 m
    result.functional      # (H, W) uint8 functional ids -> segmentation/functional (mono8)
    result.grid            # (rows, cols) int8 -> traversability/grid (OccupancyGrid data)
    result.spec            # GridSpec: resolution, origin, frame_id, width, height
    result.obstacle_points # (N, 3) float32 obstacle points, grid frame
    result.obstacle_ids    # (N,) their functional ids (static / dynamic clouds for Nav2)

``PARAMETERS`` lists the node parameters (a :class:`seg_ros.common.params.Param` table: default,
description, bounds; dotted names, as in the params YAML); ``from_parameters`` validates a
dict of them into a ``Config`` and raises
``ValueError`` naming the parameter. Geometry that depends only on the camera (pixel rays,
ground points) is computed once per camera_info/pose and reused for every frame.
"""
from __future__ import annotations

from dataclasses import dataclass, field
import math
from typing import Any, Mapping, Optional, Sequence

import numpy as np

from seg_ros.common.params import check_value, Param
from seg_ros.traversability import fusion
from seg_ros.traversability import geometry
from seg_ros.traversability import grid
from seg_ros.traversability import taxonomy
from seg_ros.traversability.grid import GridSpec

MAX_GRID_CELLS = 1_000_000  # 1000 x 1000: above it one frame's grid takes seconds


def _frame_name(value: str) -> Optional[str]:
    return None if value else 'must name a TF frame (e.g. base_link)'


def _class_names(value: Sequence[str]) -> Optional[str]:
    if all(isinstance(n, str) and n for n in value):
        return None
    return 'must be a list of functional class names (e.g. [dynamic_obstacle])'


# Nested names become the params YAML's nested keys; seg_ros.ros.parameters adds these to the
# node's table, so they are declared, described, bounded and documented like the others.
PARAMETERS: dict[str, Param] = {
    'traversability.enabled': Param(True, 'publish segmentation/functional, traversability/grid '
                                    'and traversability/obstacles'),
    'taxonomy': Param('', 'taxonomy YAML file, or a preset name (camvid, cityscapes, ade20k, '
                      "cocostuff); '' picks the preset of the model's dataset"),
    'camera_pose': Param([0.0, 0.0, 0.5, 0.0, 0.3, 0.0],
                         'camera body frame in grid.frame_id as [x, y, z, roll, pitch, yaw] '
                         '(m, rad; REP-103, positive pitch looks down); used when TF has no '
                         'transform', length=6, minimum=-1000.0, maximum=1000.0),
    'grid.frame_id': Param('base_link', 'frame of the grid; its z = 0 plane is the ground',
                           _frame_name),
    'grid.resolution': Param(0.05, f'cell size in metres (the grid may hold at most '
                             f'{MAX_GRID_CELLS} cells)', minimum=0.001, maximum=100.0),
    'grid.x_min': Param(0.0, 'grid extent along x (forward), metres',
                        minimum=-1000.0, maximum=1000.0),
    'grid.x_max': Param(8.0, 'grid extent along x (forward), metres',
                        minimum=-1000.0, maximum=1000.0),
    'grid.y_min': Param(-4.0, 'grid extent along y (left), metres',
                        minimum=-1000.0, maximum=1000.0),
    'grid.y_max': Param(4.0, 'grid extent along y (left), metres',
                        minimum=-1000.0, maximum=1000.0),
    'grid.max_range': Param(8.0, 'ignore what lies farther than this from the camera (metres, '
                            'horizontal); monocular range error grows with distance squared',
                            minimum=0.01, maximum=1000.0),
    'grid.sample_step': Param(4, 'use every n-th image column', minimum=1, maximum=64),
    'grid.row_step': Param(2, 'use every n-th image row', minimum=1, maximum=64),
    'grid.silhouette_jump': Param(0.3, 'monocular: an obstacle foot that ends an object at a '
                                  'near-vertical image edge and lies this much farther than '
                                  'its neighbour was seen past the side of the object: '
                                  'dropped (m)', minimum=0.0, maximum=100.0),
    'depth.enabled': Param(False, 'use the aligned depth image (topic depth, 16UC1 mm or 32FC1 '
                           'm) instead of the ground-plane projection'),
    'depth.min_obstacle_height': Param(0.05, 'depth mode: obstacle points lower than this (m '
                                       'above the ground) are ignored',
                                       minimum=-100.0, maximum=100.0),
    'depth.max_obstacle_height': Param(2.0, 'depth mode: obstacle points higher than this are '
                                       'ignored (overhangs the robot passes under)',
                                       minimum=-100.0, maximum=100.0),
    'depth.ground_tolerance': Param(0.1, 'depth mode: ground-class points within this height '
                                    'of the z = 0 plane count as floor, and the floor seen '
                                    'between them is cleared (m)', minimum=0.0, maximum=10.0),
    'obstacles.min_cost': Param(100, 'classes with at least this cost have their points in '
                                'traversability/obstacles', minimum=0, maximum=100),
    'obstacles.point_height': Param(0.1, 'monocular: z of obstacle foot points in '
                                    'traversability/obstacles (m)',
                                    minimum=-100.0, maximum=100.0),
    'nav2.full_clearing_cloud': Param(False, 'traversability/clearing holds every free cell '
                                      'of the grid instead of the boundary of the free region '
                                      '(Nav2 ray-traces from the camera to each point, so the '
                                      'boundary clears nearly the same cells with about a '
                                      'tenth of the points)'),
    'traversability.min_confidence': Param(0.0, 'pixels whose confidence (max softmax, when '
                                           'the model has it) is below this count as unknown '
                                           'in the functional image, the grids and the '
                                           'obstacle points; 0 = off', minimum=0.0,
                                           maximum=1.0,
                                           # the model then also computes its confidence
                                           reload_model=True),
    'fusion.enabled': Param(False, 'publish traversability/fused_grid: the per-frame grids '
                            'accumulated in fusion.odom_frame (needs TF odom -> grid.frame_id, '
                            'or nav_msgs/Odometry on odom)'),
    'fusion.odom_frame': Param('odom', 'fixed frame the fused grid is accumulated and '
                               'published in', _frame_name),
    'fusion.window_size': Param(16.0, 'side of the square fused window centred on the robot '
                                '(m); cells leaving it are forgotten; with fusion.enabled the '
                                f'window may hold at most {MAX_GRID_CELLS} cells of '
                                'grid.resolution', minimum=1.0,
                                maximum=200.0),
    'fusion.decay.dynamic': Param(1.0, 'seconds a cell of a class in fusion.dynamic_classes '
                                  'stays after it was last seen', minimum=0.01, maximum=86400.0),
    'fusion.decay.obstacle': Param(60.0, 'seconds a cell of another obstacle-type class stays '
                                   'after it was last seen', minimum=0.01, maximum=86400.0),
    'fusion.decay.ground': Param(30.0, 'seconds a cell of a ground-type class (free space, '
                                 'road) stays after it was last seen', minimum=0.01,
                                 maximum=86400.0),
    'fusion.dynamic_classes': Param(['dynamic_obstacle'], 'functional classes that fade after '
                                    'fusion.decay.dynamic', _class_names),
    'fusion.max_evidence': Param(5, 'a cell confirmed this many times needs as many contrary '
                                 'observations of a lower cost to change class', minimum=1,
                                 maximum=100),
}


@dataclass(frozen=True)
class Config:
    """Validated traversability parameters."""

    enabled: bool
    taxonomy: str
    camera_pose: tuple[float, ...]
    grid: GridSpec
    max_range: float
    sample_step: int
    row_step: int
    silhouette_jump: float
    depth: bool
    min_obstacle_height: float
    max_obstacle_height: float
    ground_tolerance: float
    obstacles_min_cost: int
    point_height: float
    min_confidence: float = 0.0
    fusion: fusion.FusionConfig = fusion.FusionConfig()
    full_clearing_cloud: bool = False


def defaults() -> dict[str, Any]:
    """Return the default parameter values."""
    return {k: v.default for k, v in PARAMETERS.items()}


def from_parameters(values: Mapping[str, Any]) -> Config:
    """
    Validate parameters (missing ones take their defaults) into a ``Config``.

    Each value is checked against its bounds in the table first (so no arithmetic ever sees an
    unchecked float), then the rules that join several: a non-empty extent, at most
    ``MAX_GRID_CELLS`` cells in the grid and (with fusion) in the fused window, obstacle
    heights in order. Raises ``ValueError`` naming the
    parameter, its valid range and, for the grid size, the bound.
    """
    unknown = sorted(k for k in values if k not in PARAMETERS)
    if unknown:
        raise ValueError(f'unknown traversability parameter(s) {unknown}; valid: '
                         f'{", ".join(PARAMETERS)}')
    p = defaults()
    p.update(values)
    for name in PARAMETERS:
        problem = check_value(name, p[name], PARAMETERS)
        if problem:
            raise ValueError(problem)
    res = float(p['grid.resolution'])
    x_min, x_max = float(p['grid.x_min']), float(p['grid.x_max'])
    y_min, y_max = float(p['grid.y_min']), float(p['grid.y_max'])
    if not x_max > x_min or not y_max > y_min:
        raise ValueError(f'grid extent is empty: x {x_min}..{x_max}, y {y_min}..{y_max}; need '
                         'grid.x_max > grid.x_min and grid.y_max > grid.y_min')
    cols = math.ceil((x_max - x_min) / res - 1e-9)
    rows = math.ceil((y_max - y_min) / res - 1e-9)
    if cols * rows > MAX_GRID_CELLS:
        raise ValueError(f'grid.resolution {res} m over x {x_min}..{x_max}, y {y_min}..{y_max} '
                         f'makes a {cols} x {rows} grid ({cols * rows} cells), above the bound '
                         f'of {MAX_GRID_CELLS} cells (one frame would take seconds); raise '
                         'grid.resolution or shrink the extent')
    side = fusion.window_cells(float(p['fusion.window_size']), res)
    if p['fusion.enabled'] and side * side > MAX_GRID_CELLS:
        # Its arrays (11 bytes a cell) and each frame's passes over them grow with the square:
        # 200 m at 0.05 m is 16 million cells, +310 MB; at 0.001 m it cannot be allocated.
        raise ValueError(f'fusion.window_size {p["fusion.window_size"]} m at grid.resolution '
                         f'{res} m makes a {side} x {side} fused grid ({side * side} cells), '
                         f'above the bound of {MAX_GRID_CELLS} cells; shrink '
                         'fusion.window_size or raise grid.resolution')
    spec = GridSpec(res, x_min, x_max, y_min, y_max, p['grid.frame_id'])
    lo = float(p['depth.min_obstacle_height'])
    hi = float(p['depth.max_obstacle_height'])
    if not hi > lo:
        raise ValueError(f'depth.max_obstacle_height ({hi}) must be above '
                         f'depth.min_obstacle_height ({lo})')
    return Config(
        enabled=p['traversability.enabled'], taxonomy=p['taxonomy'],
        camera_pose=tuple(float(v) for v in p['camera_pose']), grid=spec,
        max_range=float(p['grid.max_range']),
        sample_step=int(p['grid.sample_step']), row_step=int(p['grid.row_step']),
        silhouette_jump=float(p['grid.silhouette_jump']),
        depth=p['depth.enabled'], min_obstacle_height=lo, max_obstacle_height=hi,
        ground_tolerance=float(p['depth.ground_tolerance']),
        obstacles_min_cost=int(p['obstacles.min_cost']),
        point_height=float(p['obstacles.point_height']),
        min_confidence=float(p['traversability.min_confidence']), fusion=fusion.FusionConfig(
            enabled=p['fusion.enabled'], odom_frame=p['fusion.odom_frame'],
            window_size=float(p['fusion.window_size']),
            decay_dynamic=float(p['fusion.decay.dynamic']),
            decay_obstacle=float(p['fusion.decay.obstacle']),
            decay_ground=float(p['fusion.decay.ground']),
            dynamic_classes=tuple(p['fusion.dynamic_classes']),
            max_evidence=int(p['fusion.max_evidence'])),
        full_clearing_cloud=bool(p['nav2.full_clearing_cloud']))


DATASET_PRESETS = {'camvid': 'camvid', 'cityscapes': 'cityscapes', 'ade20k': 'ade20k',
                   'ade': 'ade20k', 'cocostuff': 'cocostuff', 'rugd': 'rugd'}


def resolve_taxonomy(name: str, dataset: Optional[str] = None) -> str:
    """Turn the taxonomy parameter into a file path; "" picks the preset of ``dataset``."""
    if not name:
        key = (dataset or '').lower().replace('-', '').replace('_', '')
        match = next((v for k, v in DATASET_PRESETS.items() if key.startswith(k)), None)
        if match is None:
            raise ValueError(f"parameter taxonomy is empty and the model's dataset "
                             f'({dataset or "not recorded"}) has no preset; set taxonomy to a '
                             f'YAML file or one of {", ".join(taxonomy.preset_names())}')
        name = match
    return str(taxonomy.resolve(name))


@dataclass(frozen=True)
class TraversabilityResult:
    """One frame's outputs."""

    functional: np.ndarray        # (H, W) uint8 functional ids
    grid: np.ndarray              # (rows, cols) int8, -1 unknown
    spec: GridSpec                # resolution, frame and extent of ``grid``
    obstacle_points: np.ndarray   # (N, 3) float32, grid frame
    # (N,) functional id of each obstacle point (dynamic ones go into their own cloud)
    obstacle_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint8))
    classes: Optional[np.ndarray] = None   # (rows, cols) uint8 functional id per cell, 0 unseen

    @property
    def grid_origin(self) -> tuple[float, float]:
        return self.spec.origin


class Traversability:
    """Labels -> functional ids -> grid; call ``set_camera_info`` before ``process``."""

    def __init__(self, config: Config, classes: Sequence[str],
                 dataset: Optional[str] = None) -> None:
        self.config = config
        self.taxonomy_path = resolve_taxonomy(config.taxonomy, dataset)
        self.taxonomy = taxonomy.load(self.taxonomy_path, classes)
        self.intrinsics: Optional[geometry.Intrinsics] = None
        self.pose = geometry.CameraPose.from_xyzrpy(config.camera_pose)
        self._cache_key: Optional[tuple] = None
        self._cache: dict[str, Any] = {}

    @property
    def ready(self) -> bool:
        """Whether camera intrinsics are known, so ``process`` can build a grid."""
        return self.intrinsics is not None

    def set_camera_info(self, K: Sequence[float], D: Sequence[float], width: int, height: int,
                        distortion_model: str = 'plumb_bob') -> None:
        """Set the intrinsics (CameraInfo's ``k``, ``d``, size and model); cheap if unchanged."""
        new = geometry.Intrinsics.from_camera_info(K, D, width, height, distortion_model)
        old = self.intrinsics
        if (old is None or old.width != new.width or old.height != new.height
                or old.model != new.model or not np.array_equal(old.K, new.K)
                or not np.array_equal(old.D, new.D)):
            self.intrinsics = new
            self._cache_key = None

    def set_camera_pose_xyzrpy(self, pose: Sequence[float]) -> None:
        """Set the camera body pose ``[x, y, z, roll, pitch, yaw]`` in the grid frame."""
        self._set_pose(geometry.CameraPose.from_xyzrpy(pose))

    def set_camera_transform(self, translation: Sequence[float], quaternion: Sequence[float],
                             optical: bool = True) -> None:
        """Set the pose from TF (grid frame <- camera frame; quaternion x, y, z, w)."""
        self._set_pose(geometry.CameraPose.from_transform(translation, quaternion, optical))

    def _set_pose(self, pose: geometry.CameraPose) -> None:
        # TF hands out freshly computed floats: changes below a micrometre are not a new pose.
        if not (np.allclose(pose.rotation, self.pose.rotation, rtol=0, atol=1e-6)
                and np.allclose(pose.translation, self.pose.translation, rtol=0, atol=1e-6)):
            self.pose = pose
            self._cache_key = None

    def functional(self, labels: np.ndarray,
                   confidence: Optional[np.ndarray] = None) -> np.ndarray:
        """
        Functional ids of a label image (works before camera_info arrives).

        With ``confidence`` and ``traversability.min_confidence`` > 0, unsure pixels are
        ``unknown`` (:func:`mask_unconfident`).
        """
        functional = self.taxonomy.functional(labels)
        if confidence is not None and self.config.min_confidence > 0:
            functional = mask_unconfident(functional, confidence, self.config.min_confidence)
        return functional

    def _geometry(self, width: int, height: int) -> dict[str, Any]:
        key = (width, height)
        if self._cache_key == key:
            return self._cache
        intr = self.intrinsics
        if intr is None:
            raise RuntimeError('no camera_info yet: call set_camera_info first')
        if (intr.width, intr.height) != (width, height):
            if abs(intr.width / intr.height - width / height) > 0.01 * width / height:
                raise ValueError(f'label image {width}x{height} does not match camera_info '
                                 f'{intr.width}x{intr.height} (different aspect ratio); '
                                 'publish camera_info for the segmented image')
            intr = intr.scaled(width, height)
        cfg = self.config
        lattice = grid.Lattice.make(width, height, cfg.sample_step, cfg.row_step)
        u, v = np.meshgrid(lattice.cols, lattice.rows)
        rays = intr.rays(u, v)
        ground, reaches = geometry.ground_intersection(self.pose, rays)
        cam_xy = self.pose.translation[:2]
        plan = grid.GroundPlan.build(cfg.grid, ground, reaches, cam_xy, cfg.max_range)
        self._cache = {'lattice': lattice, 'rays': rays.astype(np.float32), 'plan': plan}
        self._cache_key = key
        return self._cache

    def process(self, labels: np.ndarray, depth: Optional[np.ndarray] = None,
                confidence: Optional[np.ndarray] = None,
                functional: Optional[np.ndarray] = None) -> TraversabilityResult:
        """
        Project one label image; ``depth`` (aligned, same size) switches to depth mode.

        Depth is used only when ``depth.enabled`` is set; without a depth image the
        projection falls back to the ground plane. ``confidence`` (the model's max softmax,
        same size) makes pixels below ``traversability.min_confidence`` unknown.
        ``functional``: :meth:`functional` of these labels and confidence when the caller
        has it already (the node publishes it first), so the frame is not mapped twice.
        """
        if labels.ndim != 2:
            raise ValueError(f'labels must be (H, W), got shape {labels.shape}')
        if not self.ready:
            raise RuntimeError('no camera_info yet: call set_camera_info first')
        if functional is None:
            functional = self.functional(labels, confidence)
        elif functional.shape != labels.shape:
            raise ValueError(f'functional image {functional.shape} does not match the labels '
                             f'{labels.shape}')
        h, w = labels.shape
        geo = self._geometry(w, h)
        lattice: grid.Lattice = geo['lattice']
        cfg = self.config
        if cfg.depth and depth is not None:
            fid = lattice.sample(functional)
            if depth.shape[:2] != labels.shape:
                raise ValueError(f'depth image {depth.shape[1]}x{depth.shape[0]} is not aligned '
                                 f'with the {w}x{h} image; register depth to the colour camera '
                                 '(e.g. depth_image_proc/register)')
            d = geometry.depth_to_metres(lattice.sample(depth))
            points = geometry.depth_points(self.pose, geo['rays'], d)
            proj = grid.from_depth(fid, points, geo['plan'], cfg.grid, self.taxonomy,
                                   cfg.max_range, cfg.min_obstacle_height,
                                   cfg.max_obstacle_height, cfg.obstacles_min_cost,
                                   cfg.ground_tolerance)
        else:
            proj = grid.monocular(functional[lattice.rows], lattice.cols, geo['plan'], cfg.grid,
                                  self.taxonomy, cfg.silhouette_jump, cfg.obstacles_min_cost,
                                  cfg.point_height, cfg.row_step)
        return TraversabilityResult(functional, proj.grid, cfg.grid, proj.obstacle_points,
                                    proj.obstacle_ids, classes=proj.classes)


UNKNOWN_ID = 0   # the built-in functional class ``unknown`` (ids 0..3 are fixed)


def mask_unconfident(functional: np.ndarray, confidence: np.ndarray,
                     threshold: float) -> np.ndarray:
    """
    Return ``functional`` with pixels whose ``confidence`` is below ``threshold`` unknown.

    An unsure pixel must not clear space nor mark an obstacle: as ``unknown`` it says nothing,
    and in monocular mode it ends the view along its column, like any unknown class. So the
    per-frame grid, the fused grid and the obstacle points all leave it out.
    """
    if confidence.shape != functional.shape:
        raise ValueError(f'confidence map {confidence.shape[1]}x{confidence.shape[0]} does not '
                         f'match the {functional.shape[1]}x{functional.shape[0]} label image')
    return np.where(confidence < threshold, np.uint8(UNKNOWN_ID), functional).astype(np.uint8)
