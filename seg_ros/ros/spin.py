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
Spin one node until SIGINT/SIGTERM/SIGHUP, then stop it in order: its worker, the node, rclpy.

Generic (any rclpy node; one with a ``stop_worker()`` has it called first), so the
segmentation node and the benchmark's relay and naive nodes stop the same way.

The executor is rclpy's ``EventsExecutor`` where rclpy has one (``rclpy.experimental``, Kilted
on): it takes each message as the middleware announces it instead of rebuilding a wait set of
every subscription, service, timer and event handler on each turn. On the segmentation node
(its parameter and lifecycle services, QoS event handlers, inputs and timers), with the camera
faster than the model, that bookkeeping was most of the cost of a frame that is received only
to be replaced: measured on 2 cores with the camera at 3x the model's rate, the executor
thread's CPU fell from 0.91 to 0.32 ms per received frame and the labels went from 0.87 to 0.93
of the bare model's rate (BENCHMARKS.md).
``SEG_ROS_EXECUTOR=single`` (or an rclpy without it) spins with the ``SingleThreadedExecutor``
instead (doc/node.md, "Threading").
"""
from __future__ import annotations

import os
import signal
import sys
import threading
from typing import Callable, Optional, Union

import rclpy
from rclpy.context import Context
from rclpy.executors import Executor, ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
EXECUTOR_VARIABLE = 'SEG_ROS_EXECUTOR'
EXECUTORS = ('events', 'single')


def make_executor(choice: Optional[str] = None,
                  context: Optional[Context] = None) -> tuple[Executor, Optional[str]]:
    """
    Return the executor to spin with and a warning (None when all went well).

    ``choice`` is ``events`` (the default), ``single`` or None to read ``SEG_ROS_EXECUTOR``. A
    value that is neither, or ``events`` where rclpy has no EventsExecutor, is not fatal: the
    node spins anyway, and the warning says with what and why. ``context``: the rclpy context
    to spin in (None: the default one).

    The benchmark's and the soak's feeding processes spin with it too: they time each output as
    their callback receives it, so their own executor's cost per message is part of every age
    they report.
    """
    if choice is None:
        choice = os.environ.get(EXECUTOR_VARIABLE, '').strip().lower() or 'events'
    warning = None
    if choice not in EXECUTORS:
        warning = (f'{EXECUTOR_VARIABLE}={choice!r} is not one of {", ".join(EXECUTORS)}: '
                   'using events; unset it or set it to one of those')
        choice = 'events'
    if choice == 'events':
        try:
            from rclpy.experimental import EventsExecutor
        except ImportError:
            warning = ('this rclpy has no EventsExecutor (rclpy.experimental, Kilted on): '
                       'spinning with the SingleThreadedExecutor, which costs more CPU per '
                       'received frame')
        else:
            return EventsExecutor(context=context), warning
    return SingleThreadedExecutor(context=context), warning


def spin(node: Union[Node, Callable[[], Node]], executor_choice: Optional[str] = None) -> int:
    """
    Spin until a signal or shutdown; stop the worker, destroy the node, shut rclpy down.

    The signals only set a flag here (rclpy's own handler, which shuts the context down at
    once, is not installed by the nodes' ``main``), so a worker finishes its frame and stops
    while its publishers are still valid: no "publisher's context is invalid" at shutdown.
    SIGHUP (the terminal closing) is handled like SIGTERM. ``node`` may be a factory: it is
    then built with the handlers in place, so a signal during a long model load at start-up
    stops the node cleanly once the load returns (no KeyboardInterrupt traceback, no death by
    SIGTERM).

    A worker that is still in the runtime after ``stop_worker()`` (it waits, then interrupts
    the inference) cannot be joined, and closing the runtime under it would abort the process
    (std::terminate, SIGABRT): the process then logs that and exits at once with status 0,
    leaving the runtime to the operating system.

    ``executor_choice`` goes to :func:`make_executor` (None: the environment decides).
    """
    stop = threading.Event()
    received: list[str] = []

    def on_signal(signum: int, _frame: object) -> None:
        received.append(signal.Signals(signum).name)
        stop.set()

    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in SIGNALS:
            previous[sig] = signal.signal(sig, on_signal)
    executor, warning = make_executor(executor_choice)
    built = None
    try:
        built = node if isinstance(node, Node) else node()
        if warning:
            built.get_logger().warning(warning)
        # rclpy.experimental.EventsExecutor is a factory: the class is rclpy's C++ one.
        built.get_logger().info(f'spinning with the {type(executor).__name__}')
        executor.add_node(built)
        while not stop.is_set() and rclpy.ok():
            executor.spin_once(timeout_sec=0.1)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if built is not None:
            if received:
                built.get_logger().info(f'{received[0]} received: shutting down')
            stop_worker = getattr(built, 'stop_worker', None)
            if stop_worker is not None and stop_worker() is False:
                built.get_logger().warning(
                    'the worker is still in the runtime after the shutdown grace and did not '
                    'give up when interrupted; exiting now without closing the model (closing '
                    'it under a running inference would abort the process)')
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(0)
            executor.shutdown()
            built.destroy_node()
        rclpy.try_shutdown()
        for sig, handler in previous.items():
            if handler is not None:   # None: the handler was not installed from Python
                signal.signal(sig, handler)
    return 0
