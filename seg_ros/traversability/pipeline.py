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

``PARAMETERS`` lists the node parameters with defaults and descriptions (dotted names, as in
the params YAML); ``from_parameters`` validates a dict of them into a ``Config`` and raises
``ValueError`` naming the parameter. Geometry that depends only on the camera (pixel rays,
ground points) is computed once per camera_info/pose and reused for every frame.
"""
from __future__ import annotations

from dataclasses import dataclass, field
import math
from typing import Any, Mapping, Optional, Sequence

import numpy as np

from seg_ros.traversability import fusion
from seg_ros.traversability import geometry
from seg_ros.traversability import grid
from seg_ros.traversability import taxonomy
from seg_ros.traversability.grid import GridSpec

# name -> (default, description). Nested names become the params YAML's nested keys.
PARAMETERS: dict[str, tuple[Any, str]] = {
    'traversability.enabled': (True, 'publish segmentation/functional, traversability/grid '
                                     'and traversability/obstacles'),
    'taxonomy': ('', 'taxonomy YAML file, or a preset name (camvid, cityscapes, ade20k, '
                     'cocostuff); '
                     "'' picks the preset of the model's dataset"),
    'camera_pose': ([0.0, 0.0, 0.5, 0.0, 0.3, 0.0],
                    'camera body frame in grid.frame_id as [x, y, z, roll, pitch, yaw] '
                    '(m, rad; REP-103, positive pitch looks down); used when TF has no '
                    'transform'),
    'grid.frame_id': ('base_link', 'frame of the grid; its z = 0 plane is the ground'),
    'grid.resolution': (0.05, 'cell size in metres'),
    'grid.x_min': (0.0, 'grid extent along x (forward), metres'),
    'grid.x_max': (8.0, 'grid extent along x (forward), metres'),
    'grid.y_min': (-4.0, 'grid extent along y (left), metres'),
    'grid.y_max': (4.0, 'grid extent along y (left), metres'),
    'grid.max_range': (8.0, 'ignore what lies farther than this from the camera (metres, '
                            'horizontal); monocular range error grows with distance squared'),
    'grid.sample_step': (4, 'use every n-th image column'),
    'grid.row_step': (2, 'use every n-th image row'),
    'grid.silhouette_jump': (0.3, 'monocular: an obstacle foot that ends an object at a '
                                  'near-vertical image edge and lies this much farther than '
                                  'its neighbour was seen past the side of the object: '
                                  'dropped (m)'),
    'depth.enabled': (False, 'use the aligned depth image (topic depth, 16UC1 mm or 32FC1 m) '
                             'instead of the ground-plane projection'),
    'depth.min_obstacle_height': (0.05, 'depth mode: obstacle points lower than this (m above '
                                        'the ground) are ignored'),
    'depth.max_obstacle_height': (2.0, 'depth mode: obstacle points higher than this are '
                                       'ignored (overhangs the robot passes under)'),
    'depth.ground_tolerance': (0.1, 'depth mode: ground-class points within this height of '
                                    'the z = 0 plane count as floor, and the floor seen '
                                    'between them is cleared (m)'),
    'obstacles.min_cost': (100, 'classes with at least this cost have their points in '
                                'traversability/obstacles'),
    'obstacles.point_height': (0.1, 'monocular: z of obstacle foot points in '
                                    'traversability/obstacles (m)'),
    'traversability.min_confidence': (0.0, 'pixels whose confidence (max softmax, when the '
                                           'model has it) is below this count as unknown in '
                                           'the functional image, the grids and the obstacle '
                                           'points; 0 = off'),
    'fusion.enabled': (False, 'publish traversability/fused_grid: the per-frame grids '
                              'accumulated in fusion.odom_frame (needs TF odom -> '
                              'grid.frame_id, or nav_msgs/Odometry on odom)'),
    'fusion.odom_frame': ('odom', 'fixed frame the fused grid is accumulated and published in'),
    'fusion.window_size': (16.0, 'side of the square fused window centred on the robot (m); '
                                 'cells leaving it are forgotten'),
    'fusion.decay.dynamic': (1.0, 'seconds a cell of a class in fusion.dynamic_classes stays '
                                  'after it was last seen'),
    'fusion.decay.obstacle': (60.0, 'seconds a cell of another obstacle-type class stays after '
                                    'it was last seen'),
    'fusion.decay.ground': (30.0, 'seconds a cell of a ground-type class (free space, road) '
                                  'stays after it was last seen'),
    'fusion.dynamic_classes': (['dynamic_obstacle'], 'functional classes that fade after '
                                                     'fusion.decay.dynamic'),
    'fusion.max_evidence': (5, 'a cell confirmed this many times needs as many contrary '
                               'observations of a lower cost to change class'),
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


def defaults() -> dict[str, Any]:
    """Return the default parameter values."""
    return {k: v[0] for k, v in PARAMETERS.items()}


def _number(params: Mapping[str, Any], name: str, positive: bool = False,
            minimum: Optional[float] = None) -> float:
    value = params[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f'parameter {name} must be a number, got {value!r}')
    if positive and not value > 0:
        raise ValueError(f'parameter {name} must be > 0, got {value}')
    if minimum is not None and value < minimum:
        raise ValueError(f'parameter {name} must be >= {minimum}, got {value}')
    return float(value)


def _integer(params: Mapping[str, Any], name: str, minimum: int) -> int:
    value = params[name]
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f'parameter {name} must be an integer >= {minimum}, got {value!r}')
    return int(value)


def _flag(params: Mapping[str, Any], name: str) -> bool:
    value = params[name]
    if not isinstance(value, bool):
        raise ValueError(f'parameter {name} must be true or false, got {value!r}')
    return value


def from_parameters(values: Mapping[str, Any]) -> Config:
    """Validate parameters (missing ones take their defaults) into a ``Config``."""
    unknown = sorted(k for k in values if k not in PARAMETERS)
    if unknown:
        raise ValueError(f'unknown traversability parameter(s) {unknown}; valid: '
                         f'{", ".join(PARAMETERS)}')
    p = defaults()
    p.update(values)
    pose = p['camera_pose']
    if (not isinstance(pose, (list, tuple)) or len(pose) != 6
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                       and math.isfinite(v) for v in pose)):
        raise ValueError('parameter camera_pose must be 6 numbers [x, y, z, roll, pitch, yaw] '
                         f'(metres, radians), got {pose!r}')
    if not isinstance(p['taxonomy'], str):
        raise ValueError(f'parameter taxonomy must be a file path or preset name, got '
                         f'{p["taxonomy"]!r}')
    if not isinstance(p['grid.frame_id'], str) or not p['grid.frame_id']:
        raise ValueError('parameter grid.frame_id must name a TF frame (e.g. base_link)')
    spec = GridSpec(_number(p, 'grid.resolution', positive=True),
                    _number(p, 'grid.x_min'), _number(p, 'grid.x_max'),
                    _number(p, 'grid.y_min'), _number(p, 'grid.y_max'), p['grid.frame_id'])
    lo = _number(p, 'depth.min_obstacle_height')
    hi = _number(p, 'depth.max_obstacle_height')
    if not hi > lo:
        raise ValueError(f'depth.max_obstacle_height ({hi}) must be above '
                         f'depth.min_obstacle_height ({lo})')
    min_cost = _integer(p, 'obstacles.min_cost', 0)
    if min_cost > 100:
        raise ValueError(f'parameter obstacles.min_cost must be in 0..100, got {min_cost}')
    min_confidence = _number(p, 'traversability.min_confidence', minimum=0.0)
    if min_confidence > 1:
        raise ValueError(f'parameter traversability.min_confidence must be in 0..1 (a '
                         f'probability), got {min_confidence}')
    return Config(
        enabled=_flag(p, 'traversability.enabled'), taxonomy=p['taxonomy'],
        camera_pose=tuple(float(v) for v in pose), grid=spec,
        max_range=_number(p, 'grid.max_range', positive=True),
        sample_step=_integer(p, 'grid.sample_step', 1),
        row_step=_integer(p, 'grid.row_step', 1),
        silhouette_jump=_number(p, 'grid.silhouette_jump', minimum=0.0),
        depth=_flag(p, 'depth.enabled'), min_obstacle_height=lo, max_obstacle_height=hi,
        ground_tolerance=_number(p, 'depth.ground_tolerance', minimum=0.0),
        obstacles_min_cost=min_cost,
        point_height=_number(p, 'obstacles.point_height'),
        min_confidence=min_confidence, fusion=_fusion_config(p))


def _fusion_config(p: Mapping[str, Any]) -> fusion.FusionConfig:
    frame = p['fusion.odom_frame']
    if not isinstance(frame, str) or not frame:
        raise ValueError('parameter fusion.odom_frame must name a TF frame (e.g. odom)')
    names = p['fusion.dynamic_classes']
    if (not isinstance(names, (list, tuple))
            or not all(isinstance(n, str) and n for n in names)):
        raise ValueError('parameter fusion.dynamic_classes must be a list of functional class '
                         f'names (e.g. [dynamic_obstacle]), got {names!r}')
    return fusion.FusionConfig(
        enabled=_flag(p, 'fusion.enabled'), odom_frame=frame,
        window_size=_number(p, 'fusion.window_size', positive=True),
        decay_dynamic=_number(p, 'fusion.decay.dynamic', positive=True),
        decay_obstacle=_number(p, 'fusion.decay.obstacle', positive=True),
        decay_ground=_number(p, 'fusion.decay.ground', positive=True),
        dynamic_classes=tuple(names),
        max_evidence=_integer(p, 'fusion.max_evidence', 1))


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
                confidence: Optional[np.ndarray] = None) -> TraversabilityResult:
        """
        Project one label image; ``depth`` (aligned, same size) switches to depth mode.

        Depth is used only when ``depth.enabled`` is set; without a depth image the
        projection falls back to the ground plane. ``confidence`` (the model's max softmax,
        same size) makes pixels below ``traversability.min_confidence`` unknown.
        """
        if labels.ndim != 2:
            raise ValueError(f'labels must be (H, W), got shape {labels.shape}')
        if not self.ready:
            raise RuntimeError('no camera_info yet: call set_camera_info first')
        functional = self.functional(labels, confidence)
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
