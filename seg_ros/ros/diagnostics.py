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
What the node says about itself: the problem table, the statistics, the log and /diagnostics.

:class:`Diagnostics` keeps the problem table and the frame statistics
(:class:`seg_ros.common.stats.NodeStats`) under a lock of their own, so the executor thread,
the worker and the QoS event callbacks report without ever touching the worker's hand-off. It
logs each problem through :class:`LogThrottle` (a bad stream at 30 Hz logs once a second, not
30 times), runs the health checks of :mod:`seg_ros.ros.health` on each tick and publishes one
``DiagnosticStatus`` built from the counters and a :class:`NodeView` of the node's state.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
import os
import re
import threading
import time
from typing import Any, Callable, Iterator, Optional

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.qos import QoSProfile
from seg_ros.common import stats
from seg_ros.inference.backend import Backend
from seg_ros.ros import dds_env
from seg_ros.ros import health

_NUMBERS = re.compile(r'\d+(?:\.\d+)?')
STATUS_NAME = 'segmentation'   # the node's status is '<node's full name>: segmentation'
_LEVELS = {stats.OK: DiagnosticStatus.OK, stats.WARN: DiagnosticStatus.WARN,
           stats.ERROR: DiagnosticStatus.ERROR}


class LogThrottle:
    """
    Lets each distinct message through at most once per ``period_s``, so a bad stream cannot flood.

    Messages that differ only in their numbers (seconds since, stamps, counts) are one message
    here. Not thread-safe on its own: :class:`Diagnostics` calls it under its lock.
    """

    def __init__(self, period_s: float = 1.0) -> None:
        self.period_s = period_s
        self._last: dict[str, float] = {}

    def allow(self, message: str, now: float) -> bool:
        """Whether to log ``message`` at ``now`` (monotonic seconds); remembers it if so."""
        key = _NUMBERS.sub('#', message)
        if now - self._last.get(key, -1e9) < self.period_s:
            return False
        self._last = {m: t for m, t in self._last.items() if now - t < self.period_s}
        self._last[key] = now
        return True


@dataclass(frozen=True)
class NodeView:
    """The node's state as /diagnostics shows it, taken on each tick."""

    state: str                   # lifecycle state
    autostart: bool
    backend: Optional[Backend]   # None while no model is loaded
    backend_name: str            # the backend parameter
    model_path: str
    input_topic: str
    pose_source: str
    worker_alive: bool
    watchdog_timeout: float


class Diagnostics:
    """The problem table, statistics, throttled log and health checks of one node."""

    def __init__(self, node: Any) -> None:
        self._node = node
        self._lock = threading.Lock()     # the statistics and the log throttle; nothing else
        self._stats = stats.NodeStats()
        self._throttle = LogThrottle()
        self.watchdog = health.Watchdog()
        self.qos = health.QosMonitor(node, self.problem, self.clear, stats.ERROR)
        self._input: Optional[health.InputMonitor] = None
        self._shm_profile = any(os.environ.get(v, '').endswith(dds_env.PROFILE_NAME)
                                for v in ('FASTDDS_DEFAULT_PROFILES_FILE',
                                          'FASTRTPS_DEFAULT_PROFILES_FILE'))
        # In every lifecycle state: a manager's failed transition is explained there.
        qos = QoSProfile(depth=10)
        self._pub = node.create_publisher(DiagnosticArray, '/diagnostics', qos,
                                          event_callbacks=self.qos.publisher('/diagnostics', qos))

    # ---------------------------------------------------------------- problems and the log
    def problem(self, kind: str, level: int, message: str, log: bool = True) -> None:
        """Record a problem of ``kind`` (one entry per kind); log it, throttled."""
        with self._lock:
            self._stats.report(kind, level, message, time.monotonic())
        if log:
            self.log(level, message)

    def clear(self, kind: str) -> None:
        """Drop a diagnostics entry whose condition is gone."""
        with self._lock:
            self._stats.clear(kind)

    def get(self, kind: str) -> Optional[stats.Problem]:
        """Return the current problem of ``kind``, or None."""
        with self._lock:
            return self._stats.problems.get(kind)

    def log(self, level: int, message: str) -> None:
        """Log ``message`` at ``level`` unless the same message was logged within a second."""
        with self._lock:
            allowed = self._throttle.allow(message, time.monotonic())
        if not allowed:
            return
        logger = self._node.get_logger()
        # One call site per severity: rclpy refuses a call site whose severity changes.
        if level == stats.ERROR:
            logger.error(message)
        elif level == stats.WARN:
            logger.warning(message)
        else:
            logger.info(message)

    # ---------------------------------------------------------------- statistics
    def on_input(self, now: float) -> None:
        """Count a frame that arrived (and was handed to the worker)."""
        with self._lock:
            self._stats.on_input(now)

    def on_decode(self, now: float, decode_s: float) -> None:
        """Record the time one frame took to decode (in the receiving callback)."""
        with self._lock:
            self._stats.on_decode(now, decode_s)

    def on_drop(self) -> None:
        """Count a frame inference had not started, replaced by a newer one."""
        with self._lock:
            self._stats.on_drop()

    def on_skip(self) -> None:
        """Count a frame whose publishing step was replaced by a newer one (labels went out)."""
        with self._lock:
            self._stats.on_skip()

    def on_output(self, now: float, inference_s: float, age_s: Optional[float]) -> None:
        """Count a frame segmented and its labels published, with its timings."""
        with self._lock:
            self._stats.on_output(now, inference_s, age_s)

    def on_publishing(self, now: float, seconds: float, overlay: bool) -> None:
        """Record the publishing step of one frame."""
        with self._lock:
            self._stats.on_publishing(now, seconds, overlay)

    # ---------------------------------------------------------------- health and the message
    def watch_input(self, topic: Optional[str], timeout_s: float = 0.0) -> None:
        """Watch ``topic`` for publishers and frames (at configure); None stops (at cleanup)."""
        self._input = (health.InputMonitor(topic, timeout_s, time.monotonic())
                       if topic is not None else None)

    def check_health(self, view: NodeView) -> None:
        """Watchdog, input-topic presence and QoS peers, on each diagnostics tick."""
        now = time.monotonic()
        problem = (self.watchdog.check(now, view.worker_alive, view.watchdog_timeout)
                   if view.state == 'active' else None)
        if problem:
            self.problem('watchdog', stats.ERROR, problem)
        else:
            self.clear('watchdog')
        with self._lock:
            last_input = self._stats.last_input
        monitor = self._input   # exists once configured (the input topic is known)
        problem = monitor.check(now, self._node.count_publishers(monitor.topic), last_input,
                                self._shm_profile) if monitor is not None else None
        if problem:
            # Logged when it starts; /diagnostics keeps the count of seconds up to date.
            self.problem('input topic', stats.WARN, problem, log=self.get('input topic') is None)
        else:
            self.clear('input topic')
        self.qos.recheck()

    def publish(self, view: NodeView) -> None:
        """Check health, then publish the status: the worst problem, or how segmenting goes."""
        self.check_health(view)
        with self._lock:
            level, message, values = self._stats.summary(time.monotonic(),
                                                         topic=view.input_topic)
        if view.state != 'active' and level < stats.ERROR:
            level, message = stats.WARN, (
                f'lifecycle state "{view.state}": not segmenting'
                + ('' if view.autostart else
                   ' (autostart is false: a lifecycle manager or "ros2 lifecycle set" '
                   'configures and activates it)'))
        backend = view.backend
        values.update({
            'lifecycle state': view.state,
            'backend': backend.describe() if backend else f'{view.backend_name} (not loaded)',
            'model': view.model_path or '(none)',
            'model name': backend.info.name if backend else 'n/a',
            'classes': str(backend.info.num_classes) if backend else 'n/a',
            'input topic': view.input_topic,
            'camera pose': view.pose_source,
        })
        if backend and backend.memory():
            values['accelerator memory'] = backend.memory()
        status = DiagnosticStatus(
            level=_LEVELS[level], name=f'{self._node.get_fully_qualified_name()}: {STATUS_NAME}',
            message=message, hardware_id=backend.hardware() if backend else 'none',
            values=[KeyValue(key=k, value=v) for k, v in values.items()])
        array = DiagnosticArray(status=[status])
        array.header.stamp = self._node.get_clock().now().to_msg()
        self._pub.publish(array)


def node_status_values(msg: Any) -> dict[str, str]:
    """
    Return the key/values of a seg_ros node's status in a DiagnosticArray; {} when it has none.

    ``level`` (as a number) and ``message`` are added to the values. The demo, the soak and the
    benchmark read the node's own figures back through this, by the names in
    :mod:`seg_ros.common.stats`.
    """
    for status in getattr(msg, 'status', []):
        if status.name.endswith(f': {STATUS_NAME}'):
            values = {kv.key: kv.value for kv in status.values}
            level = status.level
            values['level'] = str(int.from_bytes(level, 'little') if isinstance(level, bytes)
                                  else level)
            values['message'] = status.message
            return values
    return {}


@contextmanager
def heartbeat(period: float, publish: Callable[[], None]) -> Iterator[None]:
    """
    Call ``publish`` every ``period`` s from a thread of its own while the block runs.

    A lifecycle transition holds the executor thread (its diagnostics timer with it) for as
    long as a model loads (seconds; a TensorRT engine build, minutes) or a worker takes to stop:
    this keeps the status coming, so an operator sees what the node waits for, not silence.
    """
    done = threading.Event()

    def beat() -> None:
        while not done.wait(period):
            publish()

    thread = threading.Thread(target=beat, name='seg_ros_transition_diagnostics', daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
