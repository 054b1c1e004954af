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


"""The executor the node spins with (seg_ros.ros.spin.make_executor) and what it says."""

import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from seg_ros.ros import spin

try:   # rclpy of Kilted on has it; with an older one the node falls back, saying so
    from rclpy.experimental import EventsExecutor  # noqa: F401
    HAS_EVENTS = True
except ImportError:
    HAS_EVENTS = False
EVENTS = 'EventsExecutor' if HAS_EVENTS else 'SingleThreadedExecutor'


@pytest.fixture
def context():
    """Use the default rclpy context, as the node's main does (and leave it as found)."""
    started = not rclpy.ok()
    if started:
        rclpy.init()
    yield
    if started:
        rclpy.shutdown()


@pytest.mark.parametrize('value, wants_events', [
    (None, True), ('', True), ('events', True), (' Single ', False), ('single', False)])
def test_environment_chooses_the_executor(context, monkeypatch, value, wants_events):
    expected = EVENTS if wants_events else 'SingleThreadedExecutor'
    if value is None:
        monkeypatch.delenv(spin.EXECUTOR_VARIABLE, raising=False)
    else:
        monkeypatch.setenv(spin.EXECUTOR_VARIABLE, value)
    executor, warning = spin.make_executor()
    try:
        # rclpy.experimental.EventsExecutor is a factory of rclpy's C++ EventsExecutor class.
        assert type(executor).__name__ == expected
        assert isinstance(executor, SingleThreadedExecutor) == (expected != 'EventsExecutor')
        assert (warning is None) == (HAS_EVENTS or not wants_events)
    finally:
        executor.shutdown()


def test_argument_overrides_the_environment(context, monkeypatch):
    monkeypatch.setenv(spin.EXECUTOR_VARIABLE, 'events')
    executor, _ = spin.make_executor('single')
    executor.shutdown()
    assert type(executor).__name__ == 'SingleThreadedExecutor'


def test_unknown_value_warns_and_spins_with_events(context, monkeypatch):
    monkeypatch.setenv(spin.EXECUTOR_VARIABLE, 'multi')
    executor, warning = spin.make_executor()
    executor.shutdown()
    assert type(executor).__name__ == EVENTS
    assert warning is not None and "SEG_ROS_EXECUTOR='multi'" in warning
    assert 'events, single' in warning


def test_a_given_context_is_the_executors():
    # The benchmark's client spins in its own context (it may run inside a process using rclpy).
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        for choice in ('events', 'single'):
            executor, _ = spin.make_executor(choice, context=context)
            try:
                assert executor.context is context
            finally:
                executor.shutdown()
    finally:
        context.try_shutdown()
