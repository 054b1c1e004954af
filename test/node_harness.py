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

``NodeProcess`` starts ``python -m seg_ros.ros.node`` with parameters through the demo's process
wrapper, collects its output and stops it with SIGINT (as ``ros2 launch`` does). ``Probe`` is
an rclpy node in the test process that publishes frames and records what comes back. The DDS
environment (domain, SHM profile) comes from ``conftest.py``.
"""
from __future__ import annotations

import os
from pathlib import Path
import sys
import tempfile
import threading
import time
from typing import Any, Callable, Optional

import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from seg_ros.tools import demo


def ros_arg(value: Any) -> str:
    """Format a parameter value for ``-p name:=value`` (YAML syntax)."""
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, str):
        return f"'{value}'" if value == '' else value
    return str(value)


class NodeProcess(demo.NodeProcess):
    """The segmentation node as a child process (the demo's), its log in a temporary file."""

    def __init__(self, params: dict[str, Any], remaps: Optional[dict[str, str]] = None,
                 extra_args: Optional[list[str]] = None) -> None:
        args = [sys.executable, '-m', 'seg_ros.ros.node', '--ros-args']
        for name, value in params.items():
            args += ['-p', f'{name}:={ros_arg(value)}']
        for src, dst in (remaps or {}).items():
            args += ['-r', f'{src}:={dst}']
        args += extra_args or []
        handle, log = tempfile.mkstemp(suffix='.log', prefix='seg_ros_node_')
        os.close(handle)
        super().__init__(args, dict(os.environ), Path(log))

    def output(self) -> str:
        return self.log_path.read_text(errors='replace')

    def wait_for_output(self, text: str, timeout: float = 20.0) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if text in self.output():
                return True
            if self.proc.poll() is not None:
                return text in self.output()
            time.sleep(0.05)
        return False

    def __enter__(self) -> 'NodeProcess':
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self.log_path.unlink(missing_ok=True)


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
