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
node in the test process that publishes frames and records what comes back. The DDS
environment (domain, SHM profile) comes from ``conftest.py``.
"""
from __future__ import annotations

import os
import threading
import time
from typing import Any, Callable, Optional

import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from seg_ros.ros import process


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
