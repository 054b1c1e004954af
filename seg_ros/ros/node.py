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

This file only wires things: its parameters (:mod:`seg_ros.ros.parameters`, declared with
:mod:`seg_ros.ros.descriptors`), its subscriptions, its outputs (:mod:`seg_ros.ros.outputs`),
the frame path (:mod:`seg_ros.ros.frame`, :mod:`seg_ros.ros.grids`), the two workers of the
pipeline (:mod:`seg_ros.ros.worker`: the executor thread decodes, an inference worker and a
publishing worker each take the newest frame through a one-slot mailbox) and what it says about
itself (:mod:`seg_ros.ros.diagnostics`). It is a lifecycle node (``rclpy.lifecycle``):
configure creates the endpoints, activate loads the model and starts the workers, deactivate
stops them (bounded, then interrupting the runtime) and releases the model. With ``autostart``
it brings itself up; if that first activation fails, fixing a model parameter retries it (only
that one). Threading, lifecycle and why: doc/node.md and doc/lifecycle.md.
"""
from __future__ import annotations

from contextlib import contextmanager
import time
from typing import Any, Iterator, Optional

from nav_msgs.msg import Odometry
from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
import rclpy
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.parameter import Parameter
from rclpy.qos import QoSProfile
from rclpy.signals import SignalHandlerOptions
from seg_ros import traversability
from seg_ros.common import conversions
from seg_ros.common import stats
from seg_ros.ros import descriptors
from seg_ros.ros import qos
from seg_ros.ros import sync
from seg_ros.ros import tf_pose
from seg_ros.ros.diagnostics import Diagnostics, heartbeat, NodeView
from seg_ros.ros.frame import Decoded, FrameProcessor, PublishJob, Segmented
from seg_ros.ros.grids import Streams
from seg_ros.ros.odometry import PoseTracker
from seg_ros.ros.outputs import Outputs
from seg_ros.ros.parameters import (ALL_PARAMETERS, PARAMETERS, refusal, reloads_model,
                                    Settings, validate)
from seg_ros.ros.spin import spin
from seg_ros.ros.worker import Pipeline, Put
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

SHUTDOWN_WAIT = 5.0     # seconds a shutdown waits for the frame in flight (doc/diagnostics.md)
DEACTIVATE_WAIT = 1.0   # seconds a deactivate waits for it: its result is not published anyway
INTERRUPT_WAIT = 2.0    # seconds more, once the runtime was asked to give up the inference
# How far the publishing thread's nice value is raised above the node's (Linux, per thread).
# 0: measured with the EventsExecutor, +10 changed neither the rate nor the age of the labels
# (BENCHMARKS.md, "The publishing worker's priority"), and the grid and clouds Nav2 consumes
# should not be the ones to starve on a busy robot computer.
TAIL_NICENESS = 0


class SegmentationNode(LifecycleNode):
    """Segments every frame it can keep up with; see the module docstring for the threading."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__('segmentation_node', **kwargs)
        self._retry_activation = False   # autostart's activation failed: a new model retries
        self._reload_after_activate = False
        self._diag = Diagnostics(self)
        self._outputs = Outputs(self, self._diag.qos)
        self._subscriptions_made: list[Any] = []
        self._input_topic = self.resolve_topic_name('image')
        self._state = 'unconfigured'
        settings = self._declare_parameters()
        self._frames = FrameProcessor(self.get_logger(), self.get_clock(), self._diag,
                                      self._outputs, settings)
        self._frames.trav_config = self._traversability_config()
        watchdog = self._diag.watchdog
        self._worker: Pipeline[Decoded, Segmented] = Pipeline(
            self._frames, PublishJob(self._frames), watchdog.stage('inference'),
            watchdog.stage('publishing'), on_tail_drop=self._diag.on_skip,
            tail_niceness=TAIL_NICENESS)
        # A frame a stage took before a stop is neither published nor reported after it: each
        # worker thread knows its generation (Worker.serving), whichever stage asks.
        self._frames.current = lambda: self._worker.head.serving() or self._worker.tail.serving()
        self.add_on_set_parameters_callback(self._check_parameters)
        self.add_post_set_parameters_callback(self._apply_parameters)
        self.create_timer(settings.diagnostics_period, self._publish_diagnostics)
        if settings.autostart:
            if self.trigger_configure() == TransitionCallbackReturn.SUCCESS:
                self._retry_activation = (self.trigger_activate()
                                          != TransitionCallbackReturn.SUCCESS)
        else:
            self.get_logger().info('autostart is false: waiting for a lifecycle manager '
                                   '(configure, then activate)')

    @contextmanager
    def _transition(self, state: str) -> Iterator[None]:
        """Be in ``state`` (activating, deactivating); /diagnostics keeps coming meanwhile."""
        self._state = state
        with heartbeat(self.settings.diagnostics_period, self._publish_diagnostics):
            yield

    @property
    def settings(self) -> Settings:
        """Return the validated parameter values in use."""
        return self._frames.settings

    @property
    def trav_config(self) -> Optional[traversability.Config]:
        """Return the traversability configuration; None while its parameters are bad."""
        return self._frames.trav_config

    # ---------------------------------------------------------------- lifecycle
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Create the publishers, subscriptions and TF listener (parameters are read already)."""
        try:
            self._outputs.create()
            self._subscribe_inputs()
        except Exception as exc:  # noqa: B902 - any failure here is a failed transition
            self._destroy_endpoints()
            return self._transition_failed('configure', exc)
        self._state = 'inactive'
        self._diag.clear('lifecycle')
        s = self.settings
        self.get_logger().info(f'listening on {self._input_topic} ({s.input_transport}, '
                               f'{s.qos_reliability}, depth {s.qos_depth})')
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Load the model (failing the transition if it cannot be), start the worker, publish."""
        if self._worker.any_alive:
            # A runtime that cannot be interrupted is still on a frame of the last activation:
            # two workers would share one model, and its frame would come out after this.
            return self._transition_failed(
                'activate', 'the worker of the previous activation is still in the runtime '
                '(it could not be interrupted); activate again once it has returned')
        self._reload_after_activate = False
        self.get_logger().info(f'activating: loading {self.settings.model_path!r}')
        with self._transition('activating'):
            loaded = self._frames.load()
        if not loaded:
            self._state = 'inactive'
            problem = self._diag.get('model')
            return self._transition_failed(
                'activate', problem.message if problem else 'the model could not be loaded')
        self._worker.start()
        self._state = 'active'   # from here a model parameter is served by the worker ...
        if self._reload_after_activate:   # ... and one changed while it was loading, now
            self._worker.request(model=True)
        self._retry_activation = False
        self._diag.clear('lifecycle')
        self.get_logger().info('active: segmenting')
        return super().on_activate(state)

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Stop the worker and release the model, so an inactive node holds no GPU/CPU memory."""
        self._retry_activation = False   # a manager took over: it decides when to activate
        with self._transition('deactivating'):
            self.stop_worker(DEACTIVATE_WAIT)
            self._release_model()
        self._state = 'inactive'
        self.get_logger().info('inactive: model released, not segmenting')
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Destroy what configure created; back to unconfigured."""
        self._retry_activation = False
        self._destroy_endpoints()
        self._state = 'unconfigured'
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        """Release everything, whatever the state it is called from."""
        self._retry_activation = False
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
        self._diag.problem('lifecycle', stats.ERROR, f'{transition} failed: {reason}')
        return TransitionCallbackReturn.FAILURE

    def _subscribe_inputs(self) -> None:
        s = self.settings
        sensor_qos = qos.sensor_data(s.qos_depth, reliable=s.qos_reliability == 'reliable')
        if s.input_transport == 'compressed':
            # image_transport's convention: <base>/compressed, following remaps of `image`.
            self._input_topic = self.resolve_topic_name('image') + '/compressed'
            image_sub = self._subscribe(CompressedImage, self._input_topic, self._on_image,
                                        sensor_qos)
        else:
            self._input_topic = self.resolve_topic_name('image')
            image_sub = self._subscribe(Image, 'image', self._on_image, sensor_qos)
        # camera_info and aligned depth (16UC1 mm / 32FC1 m) are matched to each frame by
        # stamp and frame id (seg_ros.ros.sync); a short buffer of depth images is kept.
        info = sync.StreamBuffer('camera_info', self.resolve_topic_name('camera_info'), size=1)
        depth = sync.StreamBuffer('depth', self.resolve_topic_name('depth'), size=4)
        self._subscriptions_made = [
            image_sub,
            self._subscribe(CameraInfo, 'camera_info', lambda m: _keep(info, m), sensor_qos),
            self._subscribe(Image, 'depth', lambda m: _keep(depth, m), sensor_qos),
        ]
        self._diag.watch_input(self._input_topic, s.input_timeout)
        # The camera pose from TF at each image's stamp (tf2_ros_py), else camera_pose.
        tf = tf_pose.TfPose(self)
        poses = PoseTracker(tf.buffer)   # the robot in odom, for the fused grid
        self._frames.streams = Streams(self._input_topic, info, depth, tf, poses)
        # Robot pose for the fused grid where TF has no odom frame (best effort takes both).
        self._subscriptions_made.append(self._subscribe(
            Odometry, 'odom', poses.on_odometry, qos.sensor_data(depth=50)))

    def _destroy_endpoints(self) -> None:
        self._outputs.destroy()
        for subscription in self._subscriptions_made:
            self.destroy_subscription(subscription)
        self._subscriptions_made = []
        streams, self._frames.streams = self._frames.streams, None
        if streams is not None and streams.tf is not None:
            streams.tf.close()
        self._diag.watch_input(None)

    def stop_worker(self, timeout: float = SHUTDOWN_WAIT) -> bool:
        """Stop the workers (Pipeline.stop); False while one is in a runtime that won't stop."""
        return self._worker.stop(
            timeout, interrupt=self._frames.interrupt, grace=INTERRUPT_WAIT,
            overdue=lambda: self._diag.log(stats.WARN, f'the worker is still on a frame after '
                                           f'{timeout:g} s: interrupting the inference'))

    def _release_model(self) -> None:
        if self._worker.any_alive:
            # Stuck in the runtime: closing the session under it would crash the process.
            self._diag.problem('lifecycle', stats.ERROR, 'the worker did not stop (stuck in a '
                               'runtime that cannot be interrupted); the model stays loaded '
                               'until it returns')
            return
        self._frames.release()

    def _subscribe(self, msg_type: Any, topic: str, callback: Any, profile: QoSProfile) -> Any:
        """Create a subscription whose incompatible-QoS events go to /diagnostics."""
        return self.create_subscription(msg_type, topic, callback, profile,
                                        event_callbacks=self._diag.qos.subscription(topic,
                                                                                    profile))

    # ---------------------------------------------------------------- parameters
    def _declare(self, name: str, default: Any, descriptor: ParameterDescriptor) -> Any:
        """Declare one parameter; a value of the wrong type is reported and the default kept."""
        try:
            return self.declare_parameter(name, default, descriptor).value
        except Exception as exc:  # noqa: B902 - rclpy raises several types for bad overrides
            self._diag.problem('parameters', stats.ERROR,
                               f'parameter "{name}": {exc}. Using the default {default!r}.')
            return self.declare_parameter(name, default, descriptor,
                                          ignore_override=True).value

    def _declare_parameters(self) -> Settings:
        """Declare the whole table (node and traversability), then validate the node's part."""
        self._declared = {name: self._declare(name, spec.default, descriptors.declared(spec))
                          for name, spec in ALL_PARAMETERS.items()}
        settings, errors = validate({n: self._declared[n] for n in PARAMETERS})
        for message in errors:
            self._diag.problem('parameters', stats.ERROR, message)
        return settings

    def describe_parameter(self, name: str) -> ParameterDescriptor:
        """Return the declared descriptor plus the range of a bounded number (descriptors)."""
        stored = super().describe_parameter(name)
        spec = ALL_PARAMETERS.get(name)
        return descriptors.described(stored, spec) if spec is not None else stored

    def _traversability_config(self) -> Optional[traversability.Config]:
        values = {name: self._declared[name] for name in traversability.PARAMETERS}
        try:
            return traversability.from_parameters(values)
        except ValueError as exc:
            self._diag.problem('traversability', stats.ERROR,
                               f'{exc}; traversability is off until the parameter is fixed')
            return None

    def _traversability_values(self, changed: list[Parameter]) -> dict[str, Any]:
        values = {n: self.get_parameter(n).value for n in traversability.PARAMETERS}
        values.update({p.name: p.value for p in changed if p.name in traversability.PARAMETERS})
        return values

    def _check_parameters(self, params: list[Parameter]) -> SetParametersResult:
        """Refuse a bad value (or a bad traversability combination) with one message."""
        problem = refusal({p.name: p.value for p in params}, self._traversability_values(params))
        if problem:
            self._diag.log(stats.WARN, f'rejected: {problem}')
            return SetParametersResult(successful=False, reason=problem)
        return SetParametersResult(successful=True)

    def _apply_parameters(self, params: list[Parameter]) -> None:
        """Take checked values: settings, traversability config, then what must be rebuilt."""
        self._frames.settings, _ = validate(
            {name: self.get_parameter(name).value for name in PARAMETERS})
        self._diag.clear('parameters')
        names = [p.name for p in params]
        trav_changed = any(n in traversability.PARAMETERS for n in names)
        if trav_changed:
            self._frames.trav_config = traversability.from_parameters(
                self._traversability_values([]))
            self._diag.clear('traversability')
        if reloads_model(names):
            self._reload_model()
        elif trav_changed:
            self._worker.request(traversability=True)

    def _reload_model(self) -> None:
        """Reload on the worker; retry activation when autostart's activation failed."""
        if self._state == 'active':
            self._worker.request(model=True)
        elif self._state == 'activating':
            self._reload_after_activate = True
        elif self._retry_activation and self._state == 'inactive':
            # autostart's activation failed (say, a bad model): a new model retries it, from a
            # timer, so this parameter request is answered before the model loads.
            timers: list[Any] = []
            timers.append(self.create_timer(0.0, lambda: self._retry(timers[0])))
        else:
            self._note_new_model()

    def _retry(self, timer: Any) -> None:
        self.destroy_timer(timer)
        if self._retry_activation and self._state == 'inactive':
            self.trigger_activate()

    def _note_new_model(self) -> None:
        """Not active: the model is loaded at the next activate; errors of the old one go."""
        self._diag.clear('model')
        failed = self._diag.get('lifecycle')
        if failed is not None and failed.message.startswith('activate failed'):
            self._diag.problem('lifecycle', stats.WARN,
                               f'the last activate failed; model_path is now '
                               f'{self.settings.model_path!r}: activate again to load it')

    # ---------------------------------------------------------------- callbacks
    def _on_image(self, msg: Any) -> None:
        now = time.monotonic()
        if not self._worker.is_open:
            return  # configured but inactive: subscribed, not segmenting
        self._diag.on_input(now)
        frame = self._frames.decode(msg)   # here, so inference never waits for it
        if frame is not None and self._worker.put(frame) is Put.REPLACED:
            self._diag.on_drop()

    def _publish_diagnostics(self) -> None:
        frames = self._frames
        self._diag.publish(NodeView(
            state=self._state, autostart=self.settings.autostart, backend=frames.backend,
            backend_name=self.settings.backend, model_path=self.settings.model_path,
            input_topic=self._input_topic, pose_source=frames.pose_source,
            worker_alive=self._worker.alive, watchdog_timeout=self.settings.watchdog_timeout))

    def destroy_node(self) -> None:
        self.stop_worker()
        self._release_model()
        super().destroy_node()


def _keep(buffer: sync.StreamBuffer, msg: Any) -> None:
    """Buffer a camera_info or depth message by stamp and frame, to be matched to a frame."""
    buffer.add(conversions.stamp_ns(msg.header.stamp), msg.header.frame_id, msg,
               time.monotonic())


def main(args: Optional[list[str]] = None) -> None:
    """Entry point of ``segmentation_node`` / ``ros2 run seg_ros segmentation_node``."""
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    # Built inside spin, with its signal handlers in place: autostart loads the model in the
    # constructor.
    spin(SegmentationNode)


if __name__ == '__main__':
    main()
