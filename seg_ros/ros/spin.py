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
Spin one node until SIGINT/SIGTERM, then stop it in order: its worker, the node, rclpy.

Generic (any rclpy node; one with a ``stop_worker()`` has it called first), so the
segmentation node and the benchmark's relay and naive nodes stop the same way.
"""
from __future__ import annotations

import signal
import threading

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node


def spin(node: Node) -> int:
    """
    Spin until SIGINT/SIGTERM or shutdown; stop the worker, destroy the node, shut rclpy down.

    The signals only set a flag here (rclpy's own handler, which shuts the context down at
    once, is not installed by the nodes' ``main``), so a worker finishes its frame and stops
    while its publishers are still valid: no "publisher's context is invalid" at shutdown.
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
