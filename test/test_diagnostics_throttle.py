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
The node's log throttle: a bad stream logs each distinct problem once a second, not per frame.

:class:`LogThrottle` is driven with explicit times; :class:`Diagnostics` is checked on a real
rclpy node, its log read from the process's stderr (where rcutils writes it).
"""
from __future__ import annotations

import rclpy
from rclpy.node import Node
from seg_ros.common import stats
from seg_ros.ros.diagnostics import Diagnostics, LogThrottle, node_status_values


def test_the_same_message_passes_once_per_period():
    throttle = LogThrottle(period_s=1.0)
    assert throttle.allow('depth stale', 10.0)
    assert not throttle.allow('depth stale', 10.2)
    assert not throttle.allow('depth stale', 10.99)
    assert throttle.allow('depth stale', 11.0)        # a full period later
    assert not throttle.allow('depth stale', 11.5)    # counted from the last time it passed


def test_messages_that_differ_only_in_numbers_are_one_message():
    throttle = LogThrottle(period_s=1.0)
    assert throttle.allow('no frames on /image for 3 s', 0.0)
    assert not throttle.allow('no frames on /image for 4 s', 0.3)
    assert throttle.allow('frame stamped 12.000000034 rejected', 0.0)
    assert not throttle.allow('frame stamped 99.5 rejected', 0.4)
    # Different words are different messages, whatever the timing.
    assert throttle.allow('no publisher on /image', 0.5)
    assert throttle.allow('no frames on /depth for 3 s', 0.5)


def test_old_entries_are_forgotten():
    throttle = LogThrottle(period_s=1.0)
    for i in range(100):
        assert throttle.allow(f'problem {"x" * i}', i * 0.5)
    assert len(throttle._last) <= 2   # a stream of distinct messages does not grow it


def test_diagnostics_logs_a_repeated_problem_once_but_records_every_one(capfd):
    context = rclpy.Context()   # its own: other tests of the session may hold the default one
    rclpy.init(context=context)
    try:
        node = Node('seg_ros_throttle_test', context=context)
        diag = Diagnostics(node)
        for i in range(30):   # a 30 Hz stream of one problem, one second's worth and less
            diag.problem('depth', stats.WARN, f'depth stamped {i}.5 s after the frame')
        diag.problem('tf', stats.WARN, 'no transform from camera to base_link')
        problem = diag.get('depth')
        assert problem is not None and problem.message == 'depth stamped 29.5 s after the frame'
        node.destroy_node()
    finally:
        rclpy.shutdown(context=context)
    err = capfd.readouterr().err
    assert err.count('depth stamped') == 1, err
    assert 'depth stamped 0.5 s after the frame' in err
    assert err.count('no transform from camera to base_link') == 1, err


def test_the_nodes_status_is_found_among_others():
    # The demo, the soak and the benchmark read the node's figures back from /diagnostics.
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
    other = DiagnosticStatus(name='/camera: segmentation_fault_counter', level=DiagnosticStatus.OK,
                             values=[KeyValue(key='inference time p50 (ms)', value='1.00')])
    ours = DiagnosticStatus(name='/robot/seg: segmentation', level=DiagnosticStatus.WARN,
                            message='slow', values=[KeyValue(key='frames dropped (overload)',
                                                             value='3')])
    assert node_status_values(DiagnosticArray(status=[other])) == {}
    values = node_status_values(DiagnosticArray(status=[other, ours]))
    assert values == {'frames dropped (overload)': '3', 'level': '1', 'message': 'slow'}
