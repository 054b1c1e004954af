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
Run the real node in its own process and talk to it over real rclpy topics.

``NodeProcess`` starts ``python -m seg_ros.ros.node`` with parameters through the package's
child-process helper (:mod:`seg_ros.ros.process`, the one the demo and the benchmark use),
collects its output and stops it with SIGINT (as ``ros2 launch`` does). ``Probe`` is an rclpy
node in the test process that publishes frames and records what comes back (the ``probe``
fixture in ``conftest.py`` makes one per test). The helpers below are the plumbing every node
test shares: setting a parameter through the service, reading /diagnostics, publishing until
the node answers, and finding the answer to one frame by its stamp (never by arrival order: a
reply to an earlier frame may arrive late). The DDS environment (domain, SHM profile) comes
from ``conftest.py``.
"""
from __future__ import annotations

import array
import os
import threading
import time
from typing import Any, Callable, Optional, TypeVar

from diagnostic_msgs.msg import DiagnosticStatus
import numpy as np
from rcl_interfaces.msg import Parameter as ParameterMsg, ParameterType, ParameterValue
from rcl_interfaces.msg import SetParametersResult
from rcl_interfaces.srv import SetParameters
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from seg_ros.ros import process
from sensor_msgs.msg import Image

T = TypeVar('T')
NODE_NAME = 'segmentation_node'
PASSTHROUGH_CLASSES = [f'c{i}' for i in range(256)]   # a passthrough model's labels: 0..255


class NodeProcess(process.NodeProcess):
    """The segmentation node as a child process, its log in a temporary file."""

    def __init__(self, params: dict[str, Any], remaps: Optional[dict[str, str]] = None,
                 extra_args: Optional[list[str]] = None) -> None:
        super().__init__(process.node_command(params, remaps, extra_args or []),
                         dict(os.environ))


class Probe:
    """An rclpy node spun in a background thread; records every message per topic."""

    def __init__(self, name: str = 'seg_ros_probe') -> None:
        if not rclpy.ok():
            rclpy.init()
        self.node = Node(name)
        self.received: dict[str, list[tuple[float, Any]]] = {}
        self._lock = threading.Lock()
        self._executor = SingleThreadedExecutor()
        self._executor.add_node(self.node)
        self._thread = threading.Thread(target=self._executor.spin, daemon=True)
        self._thread.start()

    def publisher(self, msg_type: Any, topic: str, reliable: bool = True, depth: int = 10) -> Any:
        qos = QoSProfile(depth=depth, history=HistoryPolicy.KEEP_LAST,
                         reliability=ReliabilityPolicy.RELIABLE if reliable
                         else ReliabilityPolicy.BEST_EFFORT)
        return self.node.create_publisher(msg_type, topic, qos)

    def subscribe(self, msg_type: Any, topic: str, depth: int = 100,
                  reliable: bool = True) -> None:
        self.received.setdefault(topic, [])

        def store(msg: Any) -> None:
            with self._lock:
                self.received[topic].append((time.monotonic(), msg))

        qos = QoSProfile(depth=depth, history=HistoryPolicy.KEEP_LAST,
                         reliability=ReliabilityPolicy.RELIABLE if reliable
                         else ReliabilityPolicy.BEST_EFFORT)
        self.node.create_subscription(msg_type, topic, store, qos)

    def messages(self, topic: str) -> list[Any]:
        with self._lock:
            return [m for _, m in self.received.get(topic, [])]

    def clear(self) -> None:
        with self._lock:
            for v in self.received.values():
                v.clear()

    def wait(self, predicate: Callable[[], bool], timeout: float = 20.0) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if predicate():
                return True
            time.sleep(0.02)
        return predicate()

    def wait_matched(self, publisher: Any, timeout: float = 20.0) -> bool:
        return self.wait(lambda: publisher.get_subscription_count() > 0, timeout)

    def close(self) -> None:
        self._executor.shutdown()
        self.node.destroy_node()
        self._thread.join(timeout=5)


def segmentation_node(params: dict[str, Any]) -> NodeProcess:
    """Return the node with traversability off (passthrough models have no taxonomy preset)."""
    return NodeProcess({'traversability.enabled': False, **params})


# --- parameters ------------------------------------------------------------------------------


def parameter_value(value: Any) -> ParameterValue:
    """Return the ParameterValue of a Python value, typed as ``ros2 param set`` would type it."""
    if isinstance(value, bool):
        return ParameterValue(type=ParameterType.PARAMETER_BOOL, bool_value=value)
    if isinstance(value, int):
        return ParameterValue(type=ParameterType.PARAMETER_INTEGER, integer_value=value)
    if isinstance(value, float):
        return ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=value)
    return ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=str(value))


def call_service(probe: Probe, srv_type: Any, name: str, request: Any,
                 timeout: float = 30.0, retry: bool = False) -> Any:
    """
    Call a service from the probe and return its response (the test fails if none).

    ``retry`` (idempotent calls only: describe, set the same value) sends the request again
    every 5 s without an answer: right after discovery Fast DDS may drop a service's response
    ("failed to send response (timeout)") before the server has matched the client's reader.
    """
    client = probe.node.create_client(srv_type, name)
    try:
        assert client.wait_for_service(timeout_sec=10), f'no service {name}'
        deadline = time.monotonic() + timeout
        while True:
            future = client.call_async(request)
            left = deadline - time.monotonic()
            if probe.wait(future.done, min(5.0, left) if retry else left):
                return future.result()
            client.remove_pending_request(future)
            assert retry and time.monotonic() < deadline, f'{name} did not answer'
    finally:
        probe.node.destroy_client(client)


def set_parameter(probe: Probe, name: str, value: Any, node: str = NODE_NAME,
                  timeout: float = 10.0) -> SetParametersResult:
    """Set one parameter through the node's service, as ``ros2 param set`` does."""
    request = SetParameters.Request(parameters=[ParameterMsg(name=name,
                                                             value=parameter_value(value))])
    return call_service(probe, SetParameters, f'/{node}/set_parameters', request,
                        timeout, retry=True).results[0]


# --- /diagnostics ----------------------------------------------------------------------------


def values(status: DiagnosticStatus) -> dict[str, str]:
    """Return a status's key/value pairs as a dict."""
    return {kv.key: kv.value for kv in status.values}


def segmentation_statuses(probe: Probe) -> list[DiagnosticStatus]:
    """Return the node's statuses received on /diagnostics, newest first."""
    return [s for arr in reversed(probe.messages('/diagnostics')) for s in arr.status
            if 'segmentation' in s.name]


def last_status(probe: Probe, predicate: Callable[[DiagnosticStatus], bool] = lambda s: True,
                timeout: float = 10.0) -> Optional[DiagnosticStatus]:
    """Wait for the newest segmentation status that satisfies ``predicate``; None if none."""
    found: list[DiagnosticStatus] = []

    def check() -> bool:
        found[:] = [s for s in segmentation_statuses(probe) if predicate(s)][:1]
        return bool(found)

    probe.wait(check, timeout)
    return found[0] if found else None


def problems(probe: Probe) -> Optional[dict[str, str]]:
    """Return the ``problem: <kind>`` entries of the newest segmentation status (or None)."""
    for s in segmentation_statuses(probe)[:1]:
        return {k[len('problem: '):]: v for k, v in values(s).items()
                if k.startswith('problem: ')}
    return None


def wait_problem(probe: Probe, node: NodeProcess, kind: str, text: str,
                 timeout: float = 20.0) -> str:
    """Wait until ``kind`` is on /diagnostics with ``text``; return its value."""
    found: list[str] = []

    def check() -> bool:
        e = problems(probe) or {}
        if kind in e and text in e[kind]:
            found.append(e[kind])
            return True
        return False

    assert probe.wait(check, timeout), f'{kind!r} with {text!r} never shown; last ' \
        f'{problems(probe)}\n{node.output()[-3000:]}'
    return found[-1]


def wait_cleared(probe: Probe, node: NodeProcess, kind: str, timeout: float = 20.0) -> None:
    """Wait until a fresh status no longer lists ``kind``."""
    probe.clear()
    assert probe.wait(lambda: problems(probe) is not None and kind not in problems(probe),
                      timeout), f'{kind!r} not cleared: {problems(probe)}\n' \
        f'{node.output()[-3000:]}'


# --- frames and answers ----------------------------------------------------------------------


def publish_until(probe: Probe, publish: Callable[[], T], answered: Callable[[T], Any],
                  timeout: float = 30.0, period: float = 0.3) -> Optional[tuple[T, Any]]:
    """
    Call ``publish()`` again and again until ``answered(what it returned)`` is truthy.

    Best-effort frames sent before the node's subscription matched are lost, and the node may
    drop a frame for a newer one: so the frame is sent again (fresh) every ``period`` s.
    Returns ``(sent, answer)``, or None after ``timeout``.
    """
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        sent = publish()
        answer: list[Any] = []

        def check() -> bool:
            got = answered(sent)
            if got:
                answer.append(got)
            return bool(got)

        if probe.wait(check, period):
            return sent, answer[0]
    return None


def answers_to(probe: Probe, topic: str, stamp: Any) -> list[Any]:
    """Return the messages on ``topic`` stamped ``stamp``: the node's answers to that frame."""
    return [m for m in probe.messages(topic) if m.header.stamp == stamp]


def answer_to(probe: Probe, topic: str, stamp: Any, timeout: float = 10.0) -> Any:
    """Wait for the message on ``topic`` stamped ``stamp``; return it."""
    assert probe.wait(lambda: bool(answers_to(probe, topic, stamp)), timeout), \
        f'nothing on {topic} for the frame stamped {stamp.sec}.{stamp.nanosec:09d}'
    return answers_to(probe, topic, stamp)[-1]


def frame(value: int, h: int = 48, w: int = 64) -> np.ndarray:
    """RGB frame whose passthrough label (red channel) encodes ``value`` and its column."""
    rgb = np.zeros((h, w, 3), np.uint8)
    rgb[..., 0] = (value + np.arange(w)[None, :] // 8) % 256
    rgb[..., 1] = 200
    return rgb


def image_msg(probe: Probe, rgb: np.ndarray, encoding: str = 'rgb8',
              frame_id: str = 'camera_optical', pad: int = 0) -> Image:
    """Return ``rgb`` as an Image stamped now (``bgr8``: channels swapped; ``pad``: row bytes)."""
    data = rgb if encoding == 'rgb8' else np.ascontiguousarray(rgb[..., ::-1])
    h, w = data.shape[:2]
    rows = np.zeros((h, w * 3 + pad), np.uint8)
    rows[:, :w * 3] = data.reshape(h, -1)
    msg = Image(height=h, width=w, encoding=encoding, step=w * 3 + pad)
    msg.header.frame_id = frame_id
    msg.header.stamp = probe.node.get_clock().now().to_msg()
    msg.data = array.array('B', rows.tobytes())
    return msg


def labels_of(msg: Image) -> np.ndarray:
    """Return a mono8 label image's pixels (row padding dropped)."""
    return np.frombuffer(msg.data, np.uint8).reshape(msg.height, msg.step)[:, :msg.width]


def send_until_labelled(probe: Probe, pub: Any, make_msg: Callable[[], Image],
                        timeout: float = 20.0) -> Optional[Image]:
    """Publish fresh frames until the node labels one; return that label image (or None)."""
    def publish() -> Image:
        msg = make_msg()
        pub.publish(msg)
        return msg

    done = publish_until(probe, publish, lambda msg: answers_to(
        probe, 'segmentation/labels', msg.header.stamp), timeout, period=0.5)
    return done[1][-1] if done else None
