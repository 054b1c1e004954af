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
One camera frame through the node: the model, segmentation, traversability and fusion outputs.

:class:`FrameProcessor` holds what a frame needs (the loaded model, the taxonomy and grid built
for its classes, the fused grid) and is the :class:`seg_ros.ros.worker.Job` of the node's
worker: every method but :meth:`FrameProcessor.load` and :meth:`FrameProcessor.release` runs on
the worker thread. A frame is converted, segmented and published (labels, overlay, confidence);
then its traversability goes through small steps, each of which may end the frame's grid with
one problem on /diagnostics: the camera_info of the frame, its depth, the camera pose, the
grid, the Nav2 clouds and the fused grid.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
import gc
import time
from typing import Any, Optional

import numpy as np
from seg_ros import traversability
from seg_ros.common import conversions
from seg_ros.common import memory
from seg_ros.common import stats
from seg_ros.inference.backend import Backend, BackendError
from seg_ros.inference.loader import create_backend, resolve_model_path
from seg_ros.ros import messages
from seg_ros.ros import outputs as out
from seg_ros.ros import sync
from seg_ros.ros import tf_pose
from seg_ros.ros.diagnostics import Diagnostics
from seg_ros.ros.odometry import PoseTracker
from seg_ros.ros.parameters import Settings
from seg_ros.ros.worker import Requests
from seg_ros.traversability import nav2_clouds
from seg_ros.traversability.fusion import FusedGrid
from sensor_msgs.msg import CompressedImage


@dataclass
class Streams:
    """What *configure* creates and the frame path reads: the input topic, buffers and poses."""

    image_topic: str
    camera_info: sync.StreamBuffer
    depth: sync.StreamBuffer
    tf: Optional[tf_pose.TfPose]
    poses: PoseTracker


def describe_frame(msg: Any) -> str:
    """Name a frame in messages: stamp, frame id and size, so a log line points at it."""
    h = msg.header
    size = f' {msg.width}x{msg.height}' if hasattr(msg, 'width') else ''
    return f'the{size} frame stamped {h.stamp.sec}.{h.stamp.nanosec:09d} in "{h.frame_id}"'


class FrameProcessor:
    """The model and what is built on it; segments one frame at a time and publishes."""

    def __init__(self, logger: Any, clock: Any, diagnostics: Diagnostics,
                 outputs: out.Outputs, settings: Settings) -> None:
        self._logger = logger
        self._clock = clock
        self._diag = diagnostics
        self._out = outputs
        self.settings = settings
        self.trav_config: Optional[traversability.Config] = None
        self.streams: Optional[Streams] = None    # set at configure
        self.backend: Optional[Backend] = None
        self._lut = conversions.palette_lut(np.zeros((0, 3), np.uint8))
        self._trav: Optional[traversability.Traversability] = None
        self._fusion: Optional[FusedGrid] = None
        self._size_jump = memory.SizeJump()
        self._pixels = 0
        self.pose_source = 'camera_pose parameter (no frame yet)'

    # ---------------------------------------------------------------- the model
    def load(self) -> bool:
        """Load the model, announce its classes and build traversability; False if it failed."""
        if not self.load_model():
            return False
        assert self.backend is not None
        self._out.publish_label_info(self.backend.info.classes, self._clock.now().to_msg())
        self.load_traversability()
        return True

    def load_model(self) -> bool:
        """(Re)load the model of the settings; on failure a 'model' ERROR says why."""
        settings = self.settings
        if self.backend is not None:
            self.backend.close()
            self.backend = None
        try:
            path = resolve_model_path(settings.model_path)
            options = settings.backend_options
            if self.trav_config is not None and self.trav_config.min_confidence > 0:
                options = dataclasses.replace(options, confidence=True)  # for the mask
            backend = create_backend(settings.backend, path, options)
        except (BackendError, OSError) as exc:
            self._diag.problem('model', stats.ERROR, f'model not loaded: {exc}')
            return False
        self.backend = backend
        for kind in ('model', 'inference', 'processing'):  # they concerned the previous model
            self._diag.clear(kind)
        self._lut = conversions.palette_lut(backend.info.palette)
        self._logger.info(f'loaded {path} with {backend.describe()}: model '
                          f'"{backend.info.name}", {backend.info.num_classes} classes')
        return True

    def load_traversability(self) -> None:
        """(Re)build the taxonomy and grid for the loaded model's classes."""
        self._trav = None
        self._fusion = None
        config, backend = self.trav_config, self.backend
        if config is None or backend is None or not config.enabled:
            return
        try:
            self._trav = traversability.Traversability(
                config, backend.info.classes, dataset=backend.info.metadata.get(
                    'seg_ros.dataset'))
        except (ValueError, OSError) as exc:
            # A model with no preset and no taxonomy given is a gap in the set-up (WARN); a
            # taxonomy file that is given but wrong is an error that stays until fixed.
            level = stats.WARN if not config.taxonomy else stats.ERROR
            self._diag.problem('traversability', level,
                               f'taxonomy not loaded: {exc}; no functional image or grid until '
                               'the "taxonomy" parameter is set right')
            return
        self._diag.clear('traversability')
        self._logger.info(f'traversability: taxonomy {self._trav.taxonomy_path}, grid in '
                          f'{config.grid.frame_id}')
        if config.min_confidence > 0 and not backend.info.has_confidence:
            self._logger.warning('traversability.min_confidence is set but the model has '
                                 'no confidence output: every pixel is used')
        if config.fusion.enabled:
            try:
                self._fusion = FusedGrid(config.fusion, self._trav.taxonomy,
                                         config.grid.resolution)
            except ValueError as exc:
                self._diag.problem('fusion', stats.ERROR,
                                   f'{exc}; no fused grid until it is fixed')

    def release(self) -> None:
        """Close the model and drop what is built on it (its memory goes back now)."""
        backend, self.backend = self.backend, None
        self._trav = self._fusion = None
        if backend is not None:
            backend.close()
            del backend
            gc.collect()  # drop the runtime's session now, not at some later collection

    # ---------------------------------------------------------------- the worker's job
    def describe(self, msg: Any) -> str:
        return describe_frame(msg)

    def reload(self, requests: Requests) -> None:
        if requests.model:
            self.load()
        elif requests.traversability:
            self.load_traversability()

    def process(self, msg: Any) -> None:
        self._pixels = getattr(msg, 'width', 0) * getattr(msg, 'height', 0)
        if self.segment(msg):
            self._diag.clear('processing')

    def failed(self, what: str, exc: Exception) -> None:
        model = self.settings.model_path
        if not what:   # while (re)loading
            self._diag.problem('model', stats.ERROR,
                               f'model not loaded: unexpected {type(exc).__name__} while loading '
                               f'{model!r}: {exc}; set model_path to a good model (ros2 param '
                               'set) to recover')
            self.backend, self._trav = None, None
            return
        self._diag.problem('processing', stats.ERROR,
                           f'unexpected {type(exc).__name__} while processing {what} with '
                           f'model {model!r}: {exc}')

    def settle(self) -> None:
        if self._size_jump.changed(self._pixels):
            memory.trim_heap()   # an outlier frame's buffers go back to the system

    # ---------------------------------------------------------------- one frame
    def segment(self, msg: Any) -> bool:
        """Segment one frame and publish; False when it was rejected or not segmented."""
        topic = self.streams.image_topic if self.streams is not None else 'image'
        try:
            if isinstance(msg, CompressedImage):
                rgb = conversions.compressed_to_rgb(msg.format, msg.data)
            else:
                rgb = conversions.image_msg_to_rgb(msg)
        except conversions.ImageError as exc:
            self._diag.problem('input', stats.WARN, f'frame rejected on {topic}: {exc}')
            return False
        backend = self.backend
        if backend is None:
            return False  # the 'model' problem already explains why on /diagnostics
        t0 = time.perf_counter()
        try:
            result = backend.infer(rgb)
        except Exception as exc:  # noqa: B902 - runtimes raise their own types
            self._diag.problem('inference', stats.ERROR,
                               f'inference failed on a {rgb.shape[1]}x{rgb.shape[0]} frame: {exc}')
            return False
        inference_s = time.perf_counter() - t0
        self._diag.clear('inference')

        header = msg.header
        self._out.publish(out.LABELS, messages.image_message(result.labels, 'mono8', header))
        with_overlay = self._out.wanted(out.OVERLAY)
        if with_overlay:
            blend = conversions.overlay(rgb, result.labels, self._lut,
                                        self.settings.overlay_alpha)
            self._out.publish(out.OVERLAY, messages.image_message(blend, 'rgb8', header))
        if (self.settings.publish_confidence and result.confidence is not None
                and self._out.wanted(out.CONFIDENCE)):
            conf = np.clip(result.confidence * 255.0 + 0.5, 0, 255).astype(np.uint8)
            self._out.publish(out.CONFIDENCE, messages.image_message(conf, 'mono8', header))
        if self._trav is not None and self.streams is not None:
            self.publish_traversability(self._trav, self.streams, header, result.labels,
                                        result.confidence)
        stamp_ns = conversions.stamp_ns(header.stamp)
        age = ((self._clock.now().nanoseconds - stamp_ns) / 1e9) if stamp_ns else None
        self._diag.on_output(time.monotonic(), inference_s, age, with_overlay)
        return True

    # ---------------------------------------------------------------- traversability
    def publish_traversability(self, trav: traversability.Traversability, streams: Streams,
                               header: Any, labels: np.ndarray,
                               confidence: Optional[np.ndarray] = None) -> None:
        """Publish the functional image, then the grid and clouds where camera_info matches."""
        self._publish_functional(trav, header, labels, confidence)
        stamp, frame = conversions.stamp_ns(header.stamp), header.frame_id
        info = self._camera_info(streams, stamp, frame, labels.shape)
        if info is None:
            return
        try:
            depth = (self._matched_depth(streams, stamp, frame, labels.shape)
                     if trav.config.depth else None)
            if depth is False:
                return   # sync.fallback: none
            trav.set_camera_info(info.k, info.d, info.width, info.height,
                                 info.distortion_model)
            camera_frame = frame or info.header.frame_id
            from_tf = self._update_camera_pose(trav, streams, camera_frame, header.stamp)
            result = trav.process(labels, depth, confidence)
        except (ValueError, conversions.ImageError) as exc:
            self._diag.problem('traversability', stats.WARN, f'no grid for this frame: {exc}')
            return
        self._out.publish(out.GRID, messages.occupancy_grid(result.grid, result.spec, header))
        self._publish_clouds(trav, result, camera_frame if from_tf else result.spec.frame_id,
                             header, from_tf)
        if self._fusion is not None:
            self._publish_fused(self._fusion, streams, result, header)

    def _publish_functional(self, trav: traversability.Traversability, header: Any,
                            labels: np.ndarray, confidence: Optional[np.ndarray]) -> None:
        functional = trav.functional(labels, confidence)
        self._out.publish(out.FUNCTIONAL, messages.image_message(functional, 'mono8', header))
        if self._out.wanted(out.FUNCTIONAL_COLOR):
            self._out.publish(out.FUNCTIONAL_COLOR, messages.image_message(
                trav.taxonomy.colorize(functional), 'rgb8', header))

    def _camera_info(self, streams: Streams, stamp: int, frame: str,
                     shape: tuple[int, ...]) -> Any:
        """Return the camera_info of this frame, or None (and a WARN: no grid for it)."""
        buffer, s = streams.camera_info, self.settings
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

    def _matched_depth(self, streams: Streams, stamp: int, frame: str,
                       shape: tuple[int, ...]) -> Any:
        """
        Return the depth array of this frame; None to fall back to monocular, False: no grid.

        Stale, mismatched, foreign-frame or empty depth never reaches the grid: it would show
        obstacles (or free space) that are no longer there as current.
        """
        buffer, s = streams.depth, self.settings
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

    def _update_camera_pose(self, trav: traversability.Traversability, streams: Streams,
                            camera_frame: str, stamp: Any) -> bool:
        """Take the camera pose from TF at the image's stamp, else ``camera_pose``; say which."""
        target = trav.config.grid.frame_id
        tf = streams.tf
        found = (tf.lookup(target, camera_frame, stamp, self.settings.tf_tolerance)
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
            in_camera_frame=in_camera_frame)
        self._out.publish(out.OBSTACLES, messages.point_cloud(static, frame, header))
        self._out.publish(out.DYNAMIC_OBSTACLES, messages.point_cloud(dynamic, frame, header))
        self._out.publish(out.CLEARING, messages.point_cloud(clearing, frame, header))

    def _publish_fused(self, fused: FusedGrid, streams: Streams,
                       result: traversability.TraversabilityResult, header: Any) -> None:
        """Add the frame to the fused grid at the robot's pose in odom; publish it."""
        try:
            pose, _ = streams.poses.lookup(fused.config.odom_frame, result.spec.frame_id,
                                           header.stamp)
        except LookupError as exc:
            self._diag.problem('fusion', stats.WARN, f'no fused grid for this frame: {exc}')
            return
        self._diag.clear('fusion')
        if result.classes is None:  # every projection fills it; None only in hand-made results
            return
        stamp = (conversions.stamp_seconds(header.stamp)
                 or self._clock.now().nanoseconds * 1e-9)
        out_grid = fused.update(result.classes, result.spec, pose, stamp)
        self._out.publish(out.FUSED_GRID,
                          messages.occupancy_grid(out_grid.grid, out_grid.spec, header))
