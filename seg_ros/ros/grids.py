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
The traversability half of a frame: its functional image, grid, Nav2 clouds and fused grid.

:class:`Grids` takes the labels of one segmented frame through small steps, each of which may
end the frame's grid with one problem on /diagnostics: the camera_info that belongs to the
frame, its depth (or the monocular fallback), the camera pose (TF at the frame's stamp, else
the ``camera_pose`` parameter), the grid, the clouds for Nav2's ObstacleLayer and the fused
grid. It runs on the publishing worker (:mod:`seg_ros.ros.frame` calls it); :attr:`Grids.trav` and
:attr:`Grids.fusion` are rebuilt on the inference worker and handed over with each frame.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
from seg_ros import traversability
from seg_ros.common import conversions
from seg_ros.common import stats
from seg_ros.ros import messages
from seg_ros.ros import outputs as out
from seg_ros.ros import sync
from seg_ros.ros import tf_pose
from seg_ros.ros.diagnostics import Diagnostics
from seg_ros.ros.odometry import PoseTracker
from seg_ros.ros.parameters import Settings
from seg_ros.traversability import nav2_clouds
from seg_ros.traversability.fusion import FusedGrid


@dataclass
class Streams:
    """What *configure* creates and the frame path reads: the input topic, buffers and poses."""

    image_topic: str
    camera_info: sync.StreamBuffer
    depth: sync.StreamBuffer
    tf: Optional[tf_pose.TfPose]
    poses: PoseTracker


class Grids:
    """The traversability outputs of each frame, for the taxonomy and fused grid in use."""

    def __init__(self, diagnostics: Diagnostics, outputs: out.Outputs, clock: Any) -> None:
        self._diag = diagnostics
        self._out = outputs
        self._clock = clock
        self.trav: Optional[traversability.Traversability] = None   # None: traversability off
        self.fusion: Optional[FusedGrid] = None
        self.pose_source = 'camera_pose parameter (no frame yet)'

    def publish(self, settings: Settings, streams: Streams, header: Any, labels: np.ndarray,
                confidence: Optional[np.ndarray], trav: traversability.Traversability,
                fusion: Optional[FusedGrid]) -> None:
        """
        Publish the functional image, then the grid and clouds where camera_info matches.

        ``trav`` and ``fusion`` are those built for the model that made ``labels`` (taken with
        them on the inference thread; :attr:`trav` may have been rebuilt since).
        """
        functional = self._publish_functional(trav, header, labels, confidence)
        stamp, frame = conversions.stamp_ns(header.stamp), header.frame_id
        info = self._camera_info(settings, streams, stamp, frame, labels.shape)
        if info is None:
            return
        try:
            depth = (self._matched_depth(settings, streams, stamp, frame, labels.shape)
                     if trav.config.depth else None)
            if depth is False:
                return   # sync.fallback: none
            trav.set_camera_info(info.k, info.d, info.width, info.height,
                                 info.distortion_model)
            camera_frame = frame or info.header.frame_id
            from_tf = self._update_camera_pose(settings, trav, streams, camera_frame,
                                               header.stamp)
            result = trav.process(labels, depth, confidence, functional)
        except (ValueError, conversions.ImageError) as exc:
            self._diag.problem('traversability', stats.WARN, f'no grid for this frame: {exc}')
            return
        self._out.publish(out.GRID, messages.occupancy_grid(result.grid, result.spec, header))
        self._publish_clouds(trav, result, camera_frame if from_tf else result.spec.frame_id,
                             header, from_tf)
        if fusion is not None:
            self._publish_fused(settings, fusion, streams, result, header)

    def _publish_functional(self, trav: traversability.Traversability, header: Any,
                            labels: np.ndarray, confidence: Optional[np.ndarray]) -> np.ndarray:
        """Publish the functional image (and its colours if wanted); return it for the grid."""
        functional = trav.functional(labels, confidence)
        self._out.publish(out.FUNCTIONAL, messages.image_message(functional, 'mono8', header))
        if self._out.wanted(out.FUNCTIONAL_COLOR):
            self._out.publish(out.FUNCTIONAL_COLOR, messages.image_message(
                trav.taxonomy.colorize(functional), 'rgb8', header))
        return functional

    def _camera_info(self, s: Settings, streams: Streams, stamp: int, frame: str,
                     shape: tuple[int, ...]) -> Any:
        """Return the camera_info of this frame, or None (and a WARN: no grid for it)."""
        buffer = streams.camera_info
        found = buffer.match_recent(stamp, frame, s.sync_max_age, s.equivalent_frames)
        info = found.item.msg if found.item is not None else None
        problem = found.problem or (info is not None and sync.camera_info_problem(
            info.k, info.d, info.width, info.height, (shape[1], shape[0]), buffer.topic))
        if problem or info is None:
            self._diag.problem('camera_info', stats.WARN,
                               f'{problem or "no camera_info"}. No grid; publishing the '
                               'functional image only')
            return None
        self._diag.clear('camera_info')
        return info

    def _matched_depth(self, s: Settings, streams: Streams, stamp: int, frame: str,
                       shape: tuple[int, ...]) -> Any:
        """
        Return the depth array of this frame; None to fall back to monocular, False: no grid.

        Stale, mismatched, foreign-frame or empty depth never reaches the grid: it would show
        obstacles (or free space) that are no longer there as current.
        """
        buffer = streams.depth
        buffer.wait_for(stamp, s.sync_tolerance, timeout_s=min(0.1, s.sync_tolerance))
        found = buffer.match_nearest(stamp, frame, s.sync_tolerance, s.equivalent_frames)
        problem = found.problem
        depth = None
        if found.item is not None:
            try:
                depth = conversions.depth_msg_to_array(found.item.msg)
            except conversions.ImageError as exc:
                problem = f'depth on {buffer.topic} unusable: {exc}'
            else:
                problem = (sync.depth_size_problem(depth, shape, buffer.topic)
                           or sync.depth_content_problem(depth, buffer.topic))
        if problem is None:
            self._diag.clear('depth')
            return depth
        then = ('falling back to the monocular projection' if s.sync_fallback == 'monocular'
                else 'no grid (sync.fallback: none)')
        self._diag.problem('depth', stats.WARN, f'{problem}; {then}')
        return None if s.sync_fallback == 'monocular' else False

    def _update_camera_pose(self, s: Settings, trav: traversability.Traversability,
                            streams: Streams, camera_frame: str, stamp: Any) -> bool:
        """Take the camera pose from TF at the image's stamp, else ``camera_pose``; say which."""
        target = trav.config.grid.frame_id
        tf = streams.tf
        found = (tf.lookup(target, camera_frame, stamp, s.tf_tolerance)
                 if tf is not None else tf_pose.Lookup(None, None, 'the node is not configured'))
        if found.translation is not None and found.rotation is not None:
            # Image frames are optical frames (REP-103): z forward, x right, y down.
            trav.set_camera_transform(found.translation, found.rotation, optical=True)
            self._diag.clear('tf')
            self.pose_source = f'TF {target} <- {camera_frame}'
            return True
        self.pose_source = 'camera_pose parameter'
        self._diag.problem('tf', stats.WARN, f'{found.problem}; using the camera_pose parameter '
                           f'{list(trav.config.camera_pose)} for the grid')
        trav.set_camera_pose_xyzrpy(trav.config.camera_pose)
        return False

    def _publish_clouds(self, trav: traversability.Traversability,
                        result: traversability.TraversabilityResult, frame: str, header: Any,
                        in_camera_frame: bool) -> None:
        """Nav2's ObstacleLayer clouds: static and dynamic obstacles, and free space."""
        static, dynamic, clearing = nav2_clouds.nav2_clouds(
            result.grid, result.spec, result.obstacle_points, result.obstacle_ids,
            trav.taxonomy.names, trav.pose, trav.config.max_range,
            in_camera_frame=in_camera_frame,
            full_clearing=trav.config.full_clearing_cloud)
        self._out.publish(out.OBSTACLES, messages.point_cloud(static, frame, header))
        self._out.publish(out.DYNAMIC_OBSTACLES, messages.point_cloud(dynamic, frame, header))
        self._out.publish(out.CLEARING, messages.point_cloud(clearing, frame, header))

    def _publish_fused(self, s: Settings, fused: FusedGrid, streams: Streams,
                       result: traversability.TraversabilityResult, header: Any) -> None:
        """
        Add the frame to the fused grid at the robot's pose in odom; publish it.

        Only with a pose that belongs to the frame: within ``tf_tolerance`` of its stamp,
        finite, with a usable quaternion (odometry.PoseTracker); otherwise the frame is left
        out with a WARN, and the next good pose resumes fusion.
        """
        try:
            pose, _ = streams.poses.lookup(fused.config.odom_frame, result.spec.frame_id,
                                           header.stamp, max_age=s.tf_tolerance)
        except LookupError as exc:
            self._diag.problem('fusion', stats.WARN, f'no fused grid for this frame: {exc}')
            return
        if result.classes is None:  # every projection fills it; None only in hand-made results
            return
        stamp = (conversions.stamp_seconds(header.stamp)
                 or self._clock.now().nanoseconds * 1e-9)
        try:
            out_grid = fused.update(result.classes, result.spec, pose, stamp)
        except ValueError as exc:
            self._diag.problem('fusion', stats.WARN, f'no fused grid for this frame: {exc}')
            return
        warning = fused.restarted or streams.poses.take_rejected()
        if warning:
            self._diag.problem('fusion', stats.WARN, warning)
        else:
            self._diag.clear('fusion')
        self._out.publish(out.FUSED_GRID,
                          messages.occupancy_grid(out_grid.grid, out_grid.spec, header))
