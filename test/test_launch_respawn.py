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
``managed:=true respawn:=true``: a node killed under its lifecycle manager comes back.

The launch file runs in its own process (``launch.LaunchService``, what ``ros2 launch`` runs).
This test plays the lifecycle manager the way ``nav2_lifecycle_manager`` starts a node (its
``change_state`` service: configure, then activate; Nav2's manager is not installable here).
Then it kills the node process with SIGKILL, as a crash would: launch starts it again, and the
launch file's recovery must configure and activate it again, because a bond-less manager never
notices. A node the manager had deactivated comes back inactive, not active.
"""
import os
from pathlib import Path
import signal
import sys
import time

from lifecycle_msgs.srv import ChangeState, GetState
from node_harness import Probe
import pytest
from seg_ros.ros import process
from seg_ros.testing.synthetic import save_passthrough
from sensor_msgs.msg import Image

try:
    import launch  # noqa: F401
    import launch_ros  # noqa: F401
    HAVE_LAUNCH = True
except ImportError:
    HAVE_LAUNCH = False

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not HAVE_LAUNCH, reason='launch / launch_ros is not installed')]
LAUNCH_FILE = Path(__file__).resolve().parents[1] / 'launch' / 'segmentation.launch.py'
RUNNER = """
import sys
from launch import LaunchDescription, LaunchService
from launch.actions import IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
args = [tuple(a.split(':=', 1)) for a in sys.argv[2:]]
service = LaunchService()
service.include_launch_description(LaunchDescription([IncludeLaunchDescription(
    PythonLaunchDescriptionSource(sys.argv[1]), launch_arguments=args)]))
sys.exit(service.run())
"""
NODE = '/segmentation_node'


def _children(pid):
    """Return the pids whose parent is ``pid`` (from /proc)."""
    out = []
    for entry in Path('/proc').iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / 'stat').read_text().rsplit(')', 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(entry.name))
    return out


def _node_pid(launcher):
    """Return the pid of the node process under the launch process (None while there is none)."""
    for pid in _children(launcher.proc.pid):
        try:
            cmdline = Path(f'/proc/{pid}/cmdline').read_bytes()
        except OSError:
            continue
        if b'segmentation_node' in cmdline:
            return pid
    return None


def test_killed_managed_node_is_brought_back_to_its_managed_state(tmp_path):
    model = save_passthrough(str(tmp_path / 'camvid.onnx'), [f'c{i}' for i in range(12)])
    cmd = [sys.executable, '-c', RUNNER, str(LAUNCH_FILE), f'model:={model}',
           'managed:=true', 'respawn:=true', 'respawn_delay:=0.5', 'dds_profile:=']
    launcher = process.NodeProcess(cmd, dict(os.environ), name='the launch')
    probe = Probe('seg_ros_respawn_probe')
    try:
        change = probe.node.create_client(ChangeState, f'{NODE}/change_state')
        get = probe.node.create_client(GetState, f'{NODE}/get_state')

        def call(client, request, timeout=30.0):
            assert client.wait_for_service(timeout_sec=timeout), launcher.tail(30)
            future = client.call_async(request)
            assert probe.wait(future.done, timeout), launcher.tail(30)
            return future.result()

        def transition(tid):
            request = ChangeState.Request()
            request.transition.id = tid
            assert call(change, request).success, launcher.tail(30)

        def state(timeout=30.0):
            if not get.wait_for_service(timeout_sec=timeout):
                return None
            future = get.call_async(GetState.Request())
            # A request in flight when the process dies is never answered: ask again.
            if not probe.wait(future.done, min(timeout, 3.0)):
                return None
            return future.result().current_state.label

        def wait_state(label, timeout=60.0):
            end = time.monotonic() + timeout
            while time.monotonic() < end:
                if _node_pid(launcher) is not None and state(3.0) == label:
                    return True
                time.sleep(0.2)
            return False

        probe.subscribe(Image, 'segmentation/labels', depth=5)
        image_pub = probe.publisher(Image, '/camera/image_raw', reliable=False, depth=1)

        def segments():
            probe.clear()
            for _ in range(40):
                msg = Image(height=8, width=8, encoding='rgb8', step=24, data=bytes(192))
                msg.header.stamp = probe.node.get_clock().now().to_msg()
                image_pub.publish(msg)
                if probe.wait(lambda: probe.messages('segmentation/labels'), 0.5):
                    return True
            return False

        # The manager's start-up: the node waits unconfigured, then configure + activate.
        assert wait_state('unconfigured'), launcher.tail(30)
        transition(1)
        transition(3)
        assert state() == 'active' and segments(), launcher.tail(30)

        # It runs a while (launch learns its state from its transition events and by asking
        # it every half second; see Recovery in the launch file), then dies.
        time.sleep(1.2)
        first = _node_pid(launcher)
        os.kill(first, signal.SIGKILL)
        assert probe.wait(lambda: _node_pid(launcher) not in (None, first), 30.0), \
            'not respawned\n' + launcher.tail(30)
        assert wait_state('active'), 'the respawned node was not brought back to active\n' + \
            launcher.tail(30)
        assert segments(), launcher.tail(30)
        assert 'respawned: bringing it back to "active"' in launcher.output()

        # Deactivated by its manager, then killed: it comes back configured but inactive.
        transition(4)
        time.sleep(1.2)
        second = _node_pid(launcher)
        os.kill(second, signal.SIGKILL)
        assert probe.wait(lambda: _node_pid(launcher) not in (None, second), 30.0)
        assert wait_state('inactive'), launcher.tail(30)
        time.sleep(1.0)
        assert state() == 'inactive', 'a node its manager had deactivated came back active'
    finally:
        probe.close()
        launcher.close(timeout=15.0)
        assert not _children(launcher.proc.pid)
