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

"""The node's self-checks as plain logic: watchdog, input-topic presence, QoS fix texts."""
from types import SimpleNamespace

from seg_ros.ros import health


def test_watchdog():
    dog = health.Watchdog()
    assert dog.check(0.0, True, 2.0) is None
    dog.begin('the 64x48 frame stamped 1.0', 10.0)
    assert dog.check(11.0, True, 2.0) is None
    late = dog.check(12.5, True, 2.0)
    assert 'on the 64x48 frame stamped 1.0 for 2.5 s (bound 2.0 s' in late
    dog.end()
    assert dog.check(100.0, True, 2.0) is None
    assert 'worker thread is not running' in dog.check(100.0, False, 2.0)


def test_watchdog_names_the_stage_that_is_stuck():
    dog = health.Watchdog()
    inference, publishing = dog.stage('inference'), dog.stage('publishing')
    inference.begin('frame A', 10.0)
    publishing.begin('frame B', 11.0)
    inference.end()                                    # one stage's end leaves the other's
    late = dog.check(13.5, True, 2.0)
    assert late is not None
    assert late.startswith('the publishing worker has been on frame B for 2.5 s')
    publishing.end()
    inference.begin('frame C', 20.0)
    assert dog.check(21.0, True, 2.0) is None
    assert dog.check(23.0, True, 2.0).startswith('the inference worker has been on frame C')


def test_input_monitor_no_publisher_then_no_frames_then_ok():
    mon = health.InputMonitor('/camera/image', 3.0, started=0.0)
    assert mon.check(1.0, 0, None) is None
    assert 'no publisher on /camera/image for 4 s' in mon.check(4.0, 0, None)
    assert mon.check(5.0, 1, None) is None             # a publisher appeared: give it time
    silent = mon.check(8.5, 1, None, shm_profile=True)
    assert 'publisher present on /camera/image (1) but no frames for 4 s' in silent
    assert '32 MB' in silent
    assert mon.check(9.0, 1, 8.9) is None               # frames arrive
    assert 'no new frames' in mon.check(13.0, 1, 8.9)
    assert '32 MB' not in mon.check(13.0, 1, 8.9, shm_profile=False)


def test_qos_texts():
    profile = SimpleNamespace(reliability=SimpleNamespace(name='RELIABLE'),
                              durability=SimpleNamespace(name='VOLATILE'),
                              history=SimpleNamespace(name='KEEP_LAST'), depth=1)
    assert health.describe_qos(profile) == ('reliability reliable, durability volatile, '
                                            'history keep_last depth 1')
    assert 'set qos.reliability: best_effort' in health.qos_fix(False, 'RELIABILITY', '/image')
    assert 'durability volatile' in health.qos_fix(True, 'DURABILITY', '/segmentation/labels')


def test_qos_entry_names_only_the_incompatible_peer_and_clears_when_it_leaves():
    """A volatile subscriber was named incompatible (its "Infinite" deadline), for good."""
    import time

    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
    from seg_ros.ros.health import QosMonitor
    from seg_ros.ros.outputs import QOS
    from sensor_msgs.msg import Image

    context = rclpy.Context()   # its own: other tests of the session may hold the default one
    rclpy.init(context=context)
    reports: dict[str, str] = {}
    try:
        ours = Node('seg_ros_qos_ours', context=context)
        ordinary = Node('seg_ros_qos_ordinary', context=context)
        latched = Node('seg_ros_qos_latched', context=context)
        monitor = QosMonitor(ours, lambda kind, level, text: reports.update({kind: text}),
                             lambda kind: reports.pop(kind, None), 2)
        ours.create_publisher(Image, 'labels', QOS,
                              event_callbacks=monitor.publisher('labels', QOS))
        ordinary.create_subscription(Image, 'labels', lambda m: None, 10)
        transient = latched.create_subscription(
            Image, 'labels', lambda m: None,
            QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST,
                       reliability=ReliabilityPolicy.RELIABLE,
                       durability=DurabilityPolicy.TRANSIENT_LOCAL))
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(ours)
        end = time.monotonic() + 10
        while 'qos /labels' not in reports and time.monotonic() < end:
            executor.spin_once(timeout_sec=0.1)   # the incompatible-QoS event
        text = reports.get('qos /labels', '')
        assert 'durability' in text and '/seg_ros_qos_latched' in text, reports
        assert 'seg_ros_qos_ordinary' not in text
        monitor.recheck()                     # the transient_local peer is still there
        assert 'qos /labels' in reports
        latched.destroy_subscription(transient)
        while 'qos /labels' in reports and time.monotonic() < end + 5:
            time.sleep(0.1)
            monitor.recheck()                 # what the diagnostics tick does
        assert 'qos /labels' not in reports, reports
    finally:
        rclpy.shutdown(context=context)
