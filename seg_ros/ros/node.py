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
``segmentation_node``: camera frames in, class labels, overlay and diagnostics out.

This file only wires things: parameters (:mod:`seg_ros.ros.parameters`), image conversion
(:mod:`seg_ros.common.conversions`), inference (:mod:`seg_ros.inference.backend`), the
functional taxonomy and grid (:mod:`seg_ros.traversability`, :mod:`seg_ros.ros.messages`) and
statistics (:mod:`seg_ros.common.stats`). Threading model: the executor thread only stores the
newest frame in a one-slot mailbox (replacing, and counting as dropped, a frame the worker has
not started yet); a worker thread converts, runs the model and publishes. Latency therefore
stays bounded by one inference when frames arrive faster than the model, and a slow model never
blocks callbacks, timers or parameter services.

Lifecycle: a managed node (``rclpy.lifecycle``), as Nav2 brings its nodes up. *configure*
creates the publishers and subscriptions, *activate* loads the model and starts the worker,
*deactivate* stops the worker and releases the model (and its memory), *cleanup* and *shutdown*
release everything. With ``autostart`` (the default) the node configures and activates itself,
so ``ros2 run`` and ``ros2 launch`` need no lifecycle manager. ``/diagnostics`` is published in
every state: a failed transition leaves its reason there.
"""
from __future__ import annotations

import dataclasses
import gc
import os
import re
import signal
import threading
import time
from typing import Any, Optional

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from nav_msgs.msg import OccupancyGrid, Odometry
import numpy as np
from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.signals import SignalHandlerOptions
from seg_ros import traversability
from seg_ros.common import conversions
from seg_ros.common import memory
from seg_ros.common import stats
from seg_ros.inference.backend import Backend, BackendError
from seg_ros.inference.loader import create_backend, resolve_model_path
from seg_ros.ros import dds_env
from seg_ros.ros import health
from seg_ros.ros import label_info
from seg_ros.ros import messages
from seg_ros.ros import sync
from seg_ros.ros import tf_pose
from seg_ros.ros.odometry import PoseTracker
from seg_ros.ros.parameters import ALL_PARAMETERS, check_value, PARAMETERS, Settings, validate
from seg_ros.traversability import nav2_clouds
from seg_ros.traversability.fusion import FusedGrid
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2

_NUMBERS = re.compile(r'\d+(?:\.\d+)?')
_LEVELS = {stats.OK: DiagnosticStatus.OK, stats.WARN: DiagnosticStatus.WARN,
           stats.ERROR: DiagnosticStatus.ERROR}


class SegmentationNode(LifecycleNode):
    """Segments every frame it can keep up with; see the module docstring for the threading."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__('segmentation_node', **kwargs)
        self._stats = stats.NodeStats()
        self._cond = threading.Condition()
        self._pending: Optional[tuple[Any, float]] = None
        self._reload = True
        self._stop = False
        self._active = False
        self._worker: Optional[threading.Thread] = None
        self._backend: Optional[Backend] = None
        self._lut = conversions.palette_lut(np.zeros((0, 3), np.uint8))
        self._watchdog = health.Watchdog()
        self._size_jump = memory.SizeJump()
        self._trav: Optional[traversability.Traversability] = None
        self._trav_reload = False
        self._fusion: Optional[FusedGrid] = None
        self._logged: dict[str, float] = {}
        self._lifecycle_pubs: list[Any] = []    # what configure created and cleanup destroys
        self._subscriptions_made: list[Any] = []
        self._input_monitor: Optional[health.InputMonitor] = None
        self._shm_profile = any(os.environ.get(v, '').endswith(dds_env.PROFILE_NAME)
                                for v in ('FASTDDS_DEFAULT_PROFILES_FILE',
                                          'FASTRTPS_DEFAULT_PROFILES_FILE'))
        self._tf: Optional[tf_pose.TfPose] = None           # created at configure
        self._poses = PoseTracker(None)
        self._label_info_pub: Any = None
        self._pose_source = 'camera_pose parameter (no frame yet)'
        self._input_topic = self.resolve_topic_name('image')
        self._state = 'unconfigured'

        self.settings = self._declare_parameters()
        self.trav_config = self._declare_traversability()
        self._qos = health.QosMonitor(self, self._problem, self._clear, stats.ERROR)
        # /diagnostics in every lifecycle state: a manager's failed transition is explained there.
        self._diag_pub = self._publisher(DiagnosticArray, '/diagnostics', QoSProfile(depth=10))
        self.add_on_set_parameters_callback(self._check_parameters)
        self.add_post_set_parameters_callback(self._apply_parameters)
        self.create_timer(self.settings.diagnostics_period, self._publish_diagnostics)
        if self.settings.autostart:
            if self.trigger_configure() == TransitionCallbackReturn.SUCCESS:
                self.trigger_activate()
        else:
            self.get_logger().info('autostart is false: waiting for a lifecycle manager '
                                   '(configure, then activate)')

    # ---------------------------------------------------------------- lifecycle
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Create the publishers, subscriptions and TF listener (parameters are read already)."""
        try:
            self._create_endpoints()
        except Exception as exc:  # noqa: B902 - any failure here is a failed transition
            self._destroy_endpoints()
            return self._transition_failed('configure', exc)
        self._state = 'inactive'
        self._stats.clear('lifecycle')
        s = self.settings
        self.get_logger().info(f'listening on {self._input_topic} ({s.input_transport}, '
                               f'{s.qos_reliability}, depth {s.qos_depth})')
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Load the model (failing the transition if it cannot be), start the worker, publish."""
        with self._cond:
            self._reload = self._trav_reload = False
            self._pending = None
        self._load_model()
        if self._backend is None:
            problem = self._stats.problems.get('model')
            return self._transition_failed(
                'activate', problem.message if problem else 'the model could not be loaded')
        with self._cond:
            self._stop = False
            self._active = True
        self._worker = threading.Thread(target=self._work, name='seg_ros_worker', daemon=True)
        self._worker.start()
        self._state = 'active'
        self._stats.clear('lifecycle')
        self.get_logger().info('active: segmenting')
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Stop the worker and release the model, so an inactive node holds no GPU/CPU memory."""
        self.stop_worker()
        self._release_model()
        self._state = 'inactive'
        self.get_logger().info('inactive: model released, not segmenting')
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Destroy what configure created; back to unconfigured."""
        self._destroy_endpoints()
        self._state = 'unconfigured'
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Release everything, whatever the state it is called from."""
        self.stop_worker()
        self._release_model()
        self._destroy_endpoints()
        self._state = 'finalized'
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Recover to unconfigured after an exception in a transition: release everything."""
        self.on_shutdown(state)
        self._state = 'unconfigured'
        return TransitionCallbackReturn.SUCCESS

    def _transition_failed(self, transition: str, reason: object) -> TransitionCallbackReturn:
        self._problem('lifecycle', stats.ERROR, f'{transition} failed: {reason}')
        return TransitionCallbackReturn.FAILURE

    def _create_endpoints(self) -> None:
        reliable = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE,
                              history=HistoryPolicy.KEEP_LAST)

        def publisher(msg_type: Any, topic: str) -> Any:
            return self._publisher(msg_type, topic, reliable, lifecycle=True)

        self._labels_pub = publisher(Image, 'segmentation/labels')
        self._overlay_pub = publisher(Image, 'segmentation/overlay')
        self._confidence_pub = publisher(Image, 'segmentation/confidence')
        self._functional_pub = publisher(Image, 'segmentation/functional')
        self._functional_color_pub = publisher(Image, 'segmentation/functional_color')
        self._grid_pub = publisher(OccupancyGrid, 'traversability/grid')
        self._cloud_pub = publisher(PointCloud2, 'traversability/obstacles')
        # Nav2's ObstacleLayer: dynamic obstacles marked apart, free space to clear with.
        self._dynamic_pub = publisher(PointCloud2, 'traversability/dynamic_obstacles')
        self._clearing_pub = publisher(PointCloud2, 'traversability/clearing')
        self._fused_pub = publisher(OccupancyGrid, 'traversability/fused_grid')
        self._lifecycle_pubs = [self._labels_pub, self._overlay_pub, self._confidence_pub,
                                self._functional_pub, self._grid_pub, self._cloud_pub,
                                self._fused_pub, self._dynamic_pub, self._clearing_pub,
                                self._functional_color_pub]
        # Class names (transient local): sent once per model load, kept for late subscribers.
        self._label_info_pub = label_info.create_publisher(self)

        sensor_qos = QoSProfile(
            depth=self.settings.qos_depth, history=HistoryPolicy.KEEP_LAST,
            reliability=(ReliabilityPolicy.BEST_EFFORT
                         if self.settings.qos_reliability == 'best_effort'
                         else ReliabilityPolicy.RELIABLE))
        if self.settings.input_transport == 'compressed':
            # image_transport's convention: <base>/compressed, following remaps of `image`.
            self._input_topic = self.resolve_topic_name('image') + '/compressed'
            image_sub = self._subscribe(CompressedImage, self._input_topic, self._on_image,
                                        sensor_qos)
        else:
            self._input_topic = self.resolve_topic_name('image')
            image_sub = self._subscribe(Image, 'image', self._on_image, sensor_qos)
        # camera_info and aligned depth (16UC1 mm / 32FC1 m) are matched to each frame by
        # stamp and frame id (seg_ros.ros.sync); a short buffer of depth images is kept.
        self._info_buf = sync.StreamBuffer('camera_info', self.resolve_topic_name('camera_info'),
                                           size=1)
        self._depth_buf = sync.StreamBuffer('depth', self.resolve_topic_name('depth'), size=4)
        self._subscriptions_made = [
            image_sub,
            self._subscribe(CameraInfo, 'camera_info', self._on_camera_info, sensor_qos),
            self._subscribe(Image, 'depth', self._on_depth, sensor_qos),
        ]
        self._input_monitor = health.InputMonitor(self._input_topic, self.settings.input_timeout,
                                                  time.monotonic())
        # The camera pose from TF at each image's stamp (tf2_ros_py), else camera_pose.
        self._tf = tf_pose.TfPose(self)
        self._poses = PoseTracker(self._tf.buffer)   # the robot in odom, for the fused grid
        # Robot pose for the fused grid where TF has no odom frame (best effort takes both).
        self._subscriptions_made.append(self._subscribe(
            Odometry, 'odom', self._poses.on_odometry,
            QoSProfile(depth=50, reliability=ReliabilityPolicy.BEST_EFFORT)))

    def _destroy_endpoints(self) -> None:
        for publisher in self._lifecycle_pubs:
            self.destroy_lifecycle_publisher(publisher)
        for subscription in self._subscriptions_made:
            self.destroy_subscription(subscription)
        self._lifecycle_pubs, self._subscriptions_made = [], []
        if self._label_info_pub is not None:
            self.destroy_publisher(self._label_info_pub)
            self._label_info_pub = None
        if self._tf is not None:
            self._tf.close()
            self._tf = None
        self._input_monitor = None

    def stop_worker(self, timeout: float = 10.0) -> None:
        """Stop the worker and wait for it, so nothing publishes once publishers or context go."""
        with self._cond:
            self._stop = True
            self._active = False
            self._pending = None
            self._cond.notify()
        worker = self._worker
        if worker is not None and worker is not threading.current_thread():
            worker.join(timeout=timeout)
            if not worker.is_alive():
                self._worker = None

    def _release_model(self) -> None:
        if self._worker is not None and self._worker.is_alive():
            # Stuck in the runtime: closing the session under it would crash the process.
            self._problem('lifecycle', stats.ERROR, 'the worker did not stop within 10 s (stuck '
                          'in the runtime); the model stays loaded until it returns')
            return
        backend, self._backend = self._backend, None
        self._trav = self._fusion = None
        if backend is not None:
            backend.close()
            del backend
            gc.collect()  # drop the runtime's session now, not at some later collection

    def _publisher(self, msg_type: Any, topic: str, qos: QoSProfile,
                   lifecycle: bool = False) -> Any:
        """Create a publisher whose incompatible-QoS events go to /diagnostics."""
        create = self.create_lifecycle_publisher if lifecycle else self.create_publisher
        return create(msg_type, topic, qos, event_callbacks=self._qos.publisher(topic, qos))

    def _subscribe(self, msg_type: Any, topic: str, callback: Any, qos: QoSProfile) -> Any:
        """Create a subscription whose incompatible-QoS events go to /diagnostics."""
        return self.create_subscription(msg_type, topic, callback, qos,
                                        event_callbacks=self._qos.subscription(topic, qos))

    # ---------------------------------------------------------------- parameters
    def _declare(self, name: str, default: Any, description: str,
                 read_only: bool = False, constraints: str = '') -> Any:
        """Declare one parameter; a value of the wrong type is reported and the default kept."""
        # The range goes in additional_constraints (shown by ros2 param describe); the check
        # itself is ours (check_value), so every violation gets the same message.
        descriptor = ParameterDescriptor(description=description, read_only=read_only,
                                         additional_constraints=constraints)
        try:
            return self.declare_parameter(name, default, descriptor).value
        except Exception as exc:  # noqa: B902 - rclpy raises several types for bad overrides
            self._problem('parameters', stats.ERROR,
                          f'parameter "{name}": {exc}. Using the default {default!r}.')
            return self.declare_parameter(name, default, descriptor,
                                          ignore_override=True).value

    def _declare_parameters(self) -> Settings:
        """Declare the whole table (node and traversability), then validate the node's part."""
        self._declared = {name: self._declare(name, spec.default, spec.description,
                                              spec.read_only, spec.range_text())
                          for name, spec in ALL_PARAMETERS.items()}
        settings, errors = validate({n: self._declared[n] for n in PARAMETERS})
        for message in errors:
            self._problem('parameters', stats.ERROR, message)
        return settings

    def _declare_traversability(self) -> Optional[traversability.Config]:
        values = {name: self._declared[name] for name in traversability.PARAMETERS}
        try:
            return traversability.from_parameters(values)
        except ValueError as exc:
            self._problem('traversability', stats.ERROR,
                          f'{exc}; traversability is off until the parameter is fixed')
            return None

    def _traversability_values(self, changed: list[Parameter]) -> dict[str, Any]:
        values = {n: self.get_parameter(n).value for n in traversability.PARAMETERS}
        values.update({p.name: p.value for p in changed if p.name in traversability.PARAMETERS})
        return values

    def _check_parameters(self, params: list[Parameter]) -> SetParametersResult:
        for param in params:
            if param.name in ALL_PARAMETERS:
                problem = check_value(param.name, param.value)
                if problem:
                    self._log(stats.WARN, f'rejected: {problem}')
                    return SetParametersResult(successful=False, reason=problem)
        if any(p.name in traversability.PARAMETERS for p in params):
            try:
                traversability.from_parameters(self._traversability_values(params))
            except ValueError as exc:
                self._log(stats.WARN, f'rejected: {exc}')
                return SetParametersResult(successful=False, reason=str(exc))
        return SetParametersResult(successful=True)

    def _apply_parameters(self, params: list[Parameter]) -> None:
        values = {name: self.get_parameter(name).value for name in PARAMETERS}
        self.settings, _ = validate(values)
        self._clear('parameters')
        trav_changed = any(p.name in traversability.PARAMETERS for p in params)
        if trav_changed:
            self.trav_config = traversability.from_parameters(self._traversability_values([]))
            self._clear('traversability')
        if (any(PARAMETERS[p.name].reload_model for p in params if p.name in PARAMETERS)
                or any(p.name == 'traversability.min_confidence' for p in params)):
            if self._state == 'inactive' and self.settings.autostart:
                # autostart's activation failed (say, a bad model): a new model retries it.
                self.trigger_activate()
                return
            with self._cond:
                self._reload = True
                self._cond.notify()
        elif trav_changed:
            with self._cond:
                self._trav_reload = True

    # ---------------------------------------------------------------- callbacks
    def _on_image(self, msg: Any) -> None:
        now = time.monotonic()
        with self._cond:
            if not self._active:
                return  # configured but inactive: subscribed, not segmenting
            self._stats.on_input(now)
            if self._pending is not None:
                self._stats.on_drop()
            self._pending = (msg, now)
            self._cond.notify()

    def _on_camera_info(self, msg: CameraInfo) -> None:
        _keep(self._info_buf, msg)

    def _on_depth(self, msg: Image) -> None:
        _keep(self._depth_buf, msg)

    # ---------------------------------------------------------------- worker
    def _work(self) -> None:
        """Take the newest frame and process it; no exception ends this loop, only stop."""
        while True:
            with self._cond:
                while self._pending is None and not self._reload and not self._stop:
                    self._cond.wait()
                if self._stop:
                    return
                item, self._pending = self._pending, None
                reload, self._reload = self._reload, False
                trav_reload, self._trav_reload = self._trav_reload, False
            try:
                if reload:
                    self._load_model()
                elif trav_reload:
                    self._load_traversability()
            except Exception as exc:  # noqa: B902 - CUDA, RecursionError, a newer TensorRT...
                self._problem('model', stats.ERROR,
                              f'model not loaded: unexpected {type(exc).__name__} while loading '
                              f'{self.settings.model_path!r}: {exc}; set model_path to a good '
                              'model (ros2 param set) to recover')
                self._backend, self._trav = None, None
            if item is None:
                continue
            msg = item[0]
            what = _describe_frame(msg)
            self._watchdog.begin(what, time.monotonic())
            try:
                if self._process(msg):
                    self._clear('processing')
            except Exception as exc:  # noqa: B902 - keep serving frames whatever happens
                self._problem('processing', stats.ERROR,
                              f'unexpected {type(exc).__name__} while processing {what} with '
                              f'model {self.settings.model_path!r}: {exc}')
            finally:
                self._watchdog.end()
            if self._size_jump.changed(getattr(msg, 'width', 0) * getattr(msg, 'height', 0)):
                del item, msg
                memory.trim_heap()   # an outlier frame's buffers go back to the system

    def _load_model(self) -> None:
        settings = self.settings
        if self._backend is not None:
            self._backend.close()
            self._backend = None
        try:
            path = resolve_model_path(settings.model_path)
            options = settings.backend_options
            if self.trav_config is not None and self.trav_config.min_confidence > 0:
                options = dataclasses.replace(options, confidence=True)  # for the mask
            self._backend = create_backend(settings.backend, path, options)
        except (BackendError, OSError) as exc:
            self._problem('model', stats.ERROR, f'model not loaded: {exc}')
            return
        for kind in ('model', 'inference', 'processing'):  # they concerned the previous model
            self._clear(kind)
        self._lut = conversions.palette_lut(self._backend.info.palette)
        self.get_logger().info(
            f'loaded {path} with {self._backend.describe()}: model '
            f'"{self._backend.info.name}", {self._backend.info.num_classes} classes')
        if self._label_info_pub is not None:
            self._label_info_pub.publish(label_info.message(
                self._backend.info.classes, self.get_clock().now().to_msg()))
        self._load_traversability()

    def _load_traversability(self) -> None:
        """(Re)build the taxonomy and grid for the loaded model's classes."""
        self._trav = None
        self._fusion = None
        config, backend = self.trav_config, self._backend
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
            self._problem('traversability', level,
                          f'taxonomy not loaded: {exc}; no functional image or grid until the '
                          '"taxonomy" parameter is set right')
            return
        self._clear('traversability')
        self.get_logger().info(f'traversability: taxonomy {self._trav.taxonomy_path}, grid in '
                               f'{config.grid.frame_id}')
        if config.min_confidence > 0 and not backend.info.has_confidence:
            self.get_logger().warning('traversability.min_confidence is set but the model has '
                                      'no confidence output: every pixel is used')
        if config.fusion.enabled:
            try:
                self._fusion = FusedGrid(config.fusion, self._trav.taxonomy,
                                         config.grid.resolution)
            except ValueError as exc:
                self._problem('fusion', stats.ERROR, f'{exc}; no fused grid until it is fixed')

    def _process(self, msg: Any) -> bool:
        """Segment one frame and publish; False when it was rejected or not segmented."""
        try:
            if isinstance(msg, CompressedImage):
                rgb = conversions.compressed_to_rgb(msg.format, msg.data)
            else:
                rgb = conversions.image_msg_to_rgb(msg)
        except conversions.ImageError as exc:
            self._problem('input', stats.WARN, f'frame rejected on {self._input_topic}: {exc}')
            return False
        backend = self._backend
        if backend is None:
            return False  # the 'model' problem already explains why on /diagnostics
        t0 = time.perf_counter()
        try:
            result = backend.infer(rgb)
        except Exception as exc:  # noqa: B902 - runtimes raise their own types
            self._problem('inference', stats.ERROR,
                          f'inference failed on a {rgb.shape[1]}x{rgb.shape[0]} frame: {exc}')
            return False
        inference_s = time.perf_counter() - t0
        self._clear('inference')

        header = msg.header
        labels_msg = messages.image_message(result.labels, 'mono8', header)
        self._labels_pub.publish(labels_msg)
        with_overlay = self._overlay_pub.get_subscription_count() > 0
        if with_overlay:
            blend = conversions.overlay(rgb, result.labels, self._lut,
                                        self.settings.overlay_alpha)
            self._overlay_pub.publish(messages.image_message(blend, 'rgb8', header))
        if (self.settings.publish_confidence and result.confidence is not None
                and self._confidence_pub.get_subscription_count() > 0):
            conf = np.clip(result.confidence * 255.0 + 0.5, 0, 255).astype(np.uint8)
            self._confidence_pub.publish(messages.image_message(conf, 'mono8', header))
        if self._trav is not None:
            self._publish_traversability(self._trav, header, result.labels, result.confidence)
        stamp_ns = conversions.stamp_ns(header.stamp)
        age = ((self.get_clock().now().nanoseconds - stamp_ns) / 1e9) if stamp_ns else None
        with self._cond:
            self._stats.on_output(time.monotonic(), inference_s, age, with_overlay)
        return True

    def _publish_traversability(self, trav: traversability.Traversability, header: Any,
                                labels: np.ndarray,
                                confidence: Optional[np.ndarray] = None) -> None:
        functional = trav.functional(labels, confidence)
        self._functional_pub.publish(messages.image_message(functional, 'mono8', header))
        if self._functional_color_pub.get_subscription_count() > 0:
            self._functional_color_pub.publish(messages.image_message(
                trav.taxonomy.colorize(functional), 'rgb8', header))
        settings = self.settings
        stamp, frame = conversions.stamp_ns(header.stamp), header.frame_id
        found = self._info_buf.match_recent(stamp, frame, settings.sync_max_age,
                                            settings.equivalent_frames)
        info = found.item.msg if found.item is not None else None
        problem = found.problem or (info is not None and sync.camera_info_problem(
            info.k, info.d, info.width, info.height, (labels.shape[1], labels.shape[0]),
            self._info_buf.topic))
        if problem or info is None:
            self._problem('camera_info', stats.WARN,
                          f'{problem or "no camera_info"}. No grid; publishing the functional '
                          'image only')
            return
        self._clear('camera_info')
        try:
            depth = (self._matched_depth(stamp, frame, labels.shape) if trav.config.depth
                     else None)
            if depth is False:
                return   # sync.fallback: none
            trav.set_camera_info(info.k, info.d, info.width, info.height,
                                 info.distortion_model)
            camera_frame = frame or info.header.frame_id
            from_tf = self._update_camera_pose(trav, camera_frame, header.stamp)
            result = trav.process(labels, depth, confidence)
        except (ValueError, conversions.ImageError) as exc:
            self._problem('traversability', stats.WARN, f'no grid for this frame: {exc}')
            return
        self._grid_pub.publish(messages.occupancy_grid(result.grid, result.spec, header))
        static, dynamic, clearing = nav2_clouds.nav2_clouds(
            result.grid, result.spec, result.obstacle_points, result.obstacle_ids,
            trav.taxonomy.names, trav.pose, trav.config.max_range, in_camera_frame=from_tf,
            full_clearing=trav.config.full_clearing_cloud)
        frame = camera_frame if from_tf else result.spec.frame_id
        self._cloud_pub.publish(messages.point_cloud(static, frame, header))
        self._dynamic_pub.publish(messages.point_cloud(dynamic, frame, header))
        self._clearing_pub.publish(messages.point_cloud(clearing, frame, header))
        if self._fusion is not None:
            self._publish_fused(self._fusion, result, header)

    def _publish_fused(self, fused: FusedGrid, result: traversability.TraversabilityResult,
                       header: Any) -> None:
        """Add the frame to the fused grid at the robot's pose in odom; publish it."""
        try:
            pose, _ = self._poses.lookup(fused.config.odom_frame, result.spec.frame_id,
                                         header.stamp)
        except LookupError as exc:
            self._problem('fusion', stats.WARN, f'no fused grid for this frame: {exc}')
            return
        self._clear('fusion')
        if result.classes is None:  # every projection fills it; None only in hand-made results
            return
        stamp = (conversions.stamp_seconds(header.stamp)
                 or self.get_clock().now().nanoseconds * 1e-9)
        out = fused.update(result.classes, result.spec, pose, stamp)
        self._fused_pub.publish(messages.occupancy_grid(out.grid, out.spec, header))

    def _matched_depth(self, stamp: int, frame: str, shape: tuple[int, ...]) -> Any:
        """
        Return the depth array of this frame; None to fall back to monocular, False: no grid.

        Stale, mismatched, foreign-frame or empty depth never reaches the grid: it would show
        obstacles (or free space) that are no longer there as current.
        """
        s = self.settings
        self._depth_buf.wait_for(stamp, s.sync_tolerance, timeout_s=min(0.1, s.sync_tolerance))
        found = self._depth_buf.match_nearest(stamp, frame, s.sync_tolerance,
                                              s.equivalent_frames)
        problem = found.problem
        depth = None
        if found.item is not None:
            try:
                depth = conversions.depth_msg_to_array(found.item.msg)
            except conversions.ImageError as exc:
                problem = f'depth on {self._depth_buf.topic} unusable: {exc}'
            else:
                problem = (sync.depth_size_problem(depth, shape, self._depth_buf.topic)
                           or sync.depth_content_problem(depth, self._depth_buf.topic))
        if problem is None:
            self._clear('depth')
            return depth
        then = ('falling back to the monocular projection' if s.sync_fallback == 'monocular'
                else 'no grid (sync.fallback: none)')
        self._problem('depth', stats.WARN, f'{problem}; {then}')
        return None if s.sync_fallback == 'monocular' else False

    def _update_camera_pose(self, trav: traversability.Traversability, camera_frame: str,
                            stamp: Any) -> bool:
        """Take the camera pose from TF at the image's stamp, else ``camera_pose``; say which."""
        target = trav.config.grid.frame_id
        tf = self._tf
        found = (tf.lookup(target, camera_frame, stamp, self.settings.tf_tolerance)
                 if tf is not None else tf_pose.Lookup(None, None, 'the node is not configured'))
        if found.translation is not None and found.rotation is not None:
            # Image frames are optical frames (REP-103): z forward, x right, y down.
            trav.set_camera_transform(found.translation, found.rotation, optical=True)
            self._clear('tf')
            self._pose_source = f'TF {target} <- {camera_frame}'
            return True
        self._pose_source = 'camera_pose parameter'
        self._problem('tf', stats.WARN, f'{found.problem}; using the camera_pose parameter '
                      f'{list(trav.config.camera_pose)} for the grid')
        trav.set_camera_pose_xyzrpy(trav.config.camera_pose)
        return False

    # ---------------------------------------------------------------- diagnostics
    def _problem(self, kind: str, level: int, message: str, log: bool = True) -> None:
        with self._cond:
            self._stats.report(kind, level, message, time.monotonic())
        if log:
            self._log(level, message)

    def _clear(self, kind: str) -> None:
        """Drop a diagnostics entry whose condition is gone."""
        with self._cond:
            self._stats.clear(kind)

    def _check_health(self) -> None:
        """Watchdog, input-topic presence and QoS peers, on each diagnostics tick."""
        now = time.monotonic()
        worker = self._worker
        problem = (self._watchdog.check(now, worker is not None and worker.is_alive(),
                                        self.settings.watchdog_timeout)
                   if self._state == 'active' else None)
        if problem:
            self._problem('watchdog', stats.ERROR, problem)
        else:
            self._clear('watchdog')
        with self._cond:
            last_input = self._stats.last_input
        monitor = self._input_monitor   # exists once configured (the input topic is known)
        problem = monitor.check(now, self.count_publishers(self._input_topic), last_input,
                                self._shm_profile) if monitor is not None else None
        if problem:
            # Logged when it starts; /diagnostics keeps the count of seconds up to date.
            with self._cond:
                new = 'input topic' not in self._stats.problems
            self._problem('input topic', stats.WARN, problem, log=new)
        else:
            self._clear('input topic')
        self._qos.recheck()

    def _log(self, level: int, message: str) -> None:
        """
        Log each distinct message at most once a second, so a bad stream cannot flood.

        Messages that differ only in their numbers (seconds since, stamps, counts) are one
        message here: a stale stream at 30 Hz logs once a second, not 30 times.
        """
        now = time.monotonic()
        key = _NUMBERS.sub('#', message)
        if now - self._logged.get(key, -1e9) < 1.0:
            return
        self._logged = {m: t for m, t in self._logged.items() if now - t < 1.0}
        self._logged[key] = now
        # One call site per severity: rclpy refuses a call site whose severity changes.
        if level == stats.ERROR:
            self.get_logger().error(message)
        elif level == stats.WARN:
            self.get_logger().warning(message)
        else:
            self.get_logger().info(message)

    def _publish_diagnostics(self) -> None:
        self._check_health()
        with self._cond:
            level, message, values = self._stats.summary(time.monotonic(),
                                                         topic=self._input_topic)
        if self._state != 'active' and level < stats.ERROR:
            level, message = stats.WARN, (
                f'lifecycle state "{self._state}": not segmenting'
                + ('' if self.settings.autostart else
                   ' (autostart is false: a lifecycle manager or "ros2 lifecycle set" '
                   'configures and activates it)'))
        backend = self._backend
        values.update({
            'lifecycle state': self._state,
            'backend': backend.describe() if backend else f'{self.settings.backend} (not loaded)',
            'model': self.settings.model_path or '(none)',
            'model name': backend.info.name if backend else 'n/a',
            'classes': str(backend.info.num_classes) if backend else 'n/a',
            'input topic': self._input_topic,
            'camera pose': self._pose_source,
        })
        status = DiagnosticStatus(
            level=_LEVELS[level], name=f'{self.get_fully_qualified_name()}: segmentation',
            message=message, hardware_id=backend.describe() if backend else 'none',
            values=[KeyValue(key=k, value=v) for k, v in values.items()])
        array = DiagnosticArray(status=[status])
        array.header.stamp = self.get_clock().now().to_msg()
        self._diag_pub.publish(array)

    def destroy_node(self) -> None:
        self.stop_worker()
        self._release_model()
        super().destroy_node()


def spin(node: Node) -> int:
    """
    Spin until SIGINT/SIGTERM or shutdown; stop the worker, destroy the node, shut rclpy down.

    The signals only set a flag here (rclpy's own handler, which shuts the context down at
    once, is not installed by :func:`main`), so the worker finishes its frame and stops while
    its publishers are still valid: no "publisher's context is invalid" at shutdown.
    """
    stop = threading.Event()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda *_: stop.set())
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        while not stop.is_set() and rclpy.ok():
            executor.spin_once(timeout_sec=0.1)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        stop_worker = getattr(node, 'stop_worker', None)
        if stop_worker is not None:
            stop_worker()
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
        for sig, handler in previous.items():
            if handler is not None:   # None: the handler was not installed from Python
                signal.signal(sig, handler)
    return 0


def _keep(buffer: sync.StreamBuffer, msg: Any) -> None:
    """Buffer a camera_info or depth message by stamp and frame, to be matched to a frame."""
    buffer.add(conversions.stamp_ns(msg.header.stamp), msg.header.frame_id, msg,
               time.monotonic())


def _describe_frame(msg: Any) -> str:
    """Name a frame in messages: stamp, frame id and size, so a log line points at it."""
    h = msg.header
    size = f' {msg.width}x{msg.height}' if hasattr(msg, 'width') else ''
    return f'the{size} frame stamped {h.stamp.sec}.{h.stamp.nanosec:09d} in "{h.frame_id}"'


def main(args: Optional[list[str]] = None) -> None:
    """Entry point of ``segmentation_node`` / ``ros2 run seg_ros segmentation_node``."""
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    spin(SegmentationNode())


if __name__ == '__main__':
    main()
