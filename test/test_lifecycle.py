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
The managed (lifecycle) node over the real lifecycle services, in its own process.

With ``autostart: false`` a lifecycle manager drives it: unconfigured and inactive it publishes
nothing and holds no model; active it segments; deactivate releases the model (its memory is
measured in the node process) and activate loads it again; a failed activation reports its
reason on /diagnostics and succeeds once the parameter is fixed.
"""
import time

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState
from node_harness import (call_service, frame, image_msg, last_status,
                          PASSTHROUGH_CLASSES as CLASSES, segmentation_node as seg_node,
                          set_parameter, values)
import numpy as np
import pytest
from seg_ros.testing.synthetic import save_passthrough
from sensor_msgs.msg import Image

pytestmark = pytest.mark.slow
BALLAST_MB = 200


@pytest.fixture(scope='module')
def ballast_model(tmp_path_factory):
    """Return a passthrough model holding BALLAST_MB of weights: its release shows in RSS."""
    path = tmp_path_factory.mktemp('lifecycle') / 'ballast.onnx'
    return save_passthrough(str(path), CLASSES, ballast_mb=BALLAST_MB)


def transition(probe, label):
    ids = {'configure': Transition.TRANSITION_CONFIGURE,
           'activate': Transition.TRANSITION_ACTIVATE,
           'deactivate': Transition.TRANSITION_DEACTIVATE,
           'cleanup': Transition.TRANSITION_CLEANUP,
           'shutdown': Transition.TRANSITION_INACTIVE_SHUTDOWN}
    request = ChangeState.Request(transition=Transition(id=ids[label]))
    return call_service(probe, ChangeState, '/segmentation_node/change_state', request).success


def state(probe):
    return call_service(probe, GetState, '/segmentation_node/get_state',
                        GetState.Request()).current_state.label


def rss_mb(node):
    with open(f'/proc/{node.proc.pid}/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) / 1024.0
    raise AssertionError('no VmRSS')


def answered(probe, pub, seconds):
    """Publish frames for ``seconds``; return how many label images came back."""
    before = len(probe.messages('segmentation/labels'))
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pub.publish(image_msg(probe, frame(7)))
        time.sleep(0.05)
    time.sleep(0.5)
    return len(probe.messages('segmentation/labels')) - before


def test_managed_node_follows_its_transitions_and_frees_the_model(ballast_model, probe):
    with seg_node({'model_path': ballast_model, 'autostart': False,
                   'diagnostics_period': 0.2}) as node:
        pub = probe.publisher(Image, 'image', reliable=False, depth=1)
        probe.subscribe(Image, 'segmentation/labels')
        probe.subscribe(DiagnosticArray, '/diagnostics')
        assert state(probe) == 'unconfigured', node.output()
        status = last_status(probe, lambda s: 'unconfigured' in s.message)
        assert status is not None and status.level == DiagnosticStatus.WARN

        assert transition(probe, 'configure'), node.output()
        assert state(probe) == 'inactive'
        assert probe.wait_matched(pub), node.output()
        assert answered(probe, pub, 1.5) == 0          # inactive: subscribed, silent
        rss_unloaded = rss_mb(node)

        assert transition(probe, 'activate'), node.output()
        assert state(probe) == 'active'
        assert answered(probe, pub, 2.0) > 0, node.output()
        labels = probe.messages('segmentation/labels')[-1]
        assert np.frombuffer(labels.data, np.uint8)[0] == frame(7)[0, 0, 0]
        rss_loaded = rss_mb(node)

        assert transition(probe, 'deactivate'), node.output()
        assert state(probe) == 'inactive'
        assert answered(probe, pub, 1.5) == 0
        rss_released = rss_mb(node)
        status = last_status(probe, lambda s: values(s).get('lifecycle state') == 'inactive')
        assert status is not None and values(status)['model name'] == 'n/a'
        # The model's weights are resident while active and gone after deactivate.
        print(f'RSS MB: configured {rss_unloaded:.0f}, active {rss_loaded:.0f}, '
              f'deactivated {rss_released:.0f} (model weights {BALLAST_MB} MB)')
        assert rss_loaded - rss_unloaded > 0.75 * BALLAST_MB
        assert rss_loaded - rss_released > 0.75 * BALLAST_MB

        assert transition(probe, 'activate'), node.output()
        assert answered(probe, pub, 2.0) > 0, node.output()
        assert transition(probe, 'deactivate') and transition(probe, 'cleanup')
        assert state(probe) == 'unconfigured'
        assert transition(probe, 'configure')
        assert transition(probe, 'shutdown')
        assert state(probe) == 'finalized'
        assert node.proc.poll() is None, node.output()   # finalized, still answering services


def test_failed_activation_is_reported_and_a_fixed_parameter_succeeds(probe, tmp_path):
    fast = save_passthrough(str(tmp_path / 'fast.onnx'), CLASSES)
    missing = str(tmp_path / 'nowhere.onnx')
    with seg_node({'model_path': missing, 'autostart': False,
                   'diagnostics_period': 0.2}) as node:
        probe.subscribe(DiagnosticArray, '/diagnostics')
        probe.subscribe(Image, 'segmentation/labels')
        assert transition(probe, 'configure'), node.output()
        assert not transition(probe, 'activate')
        assert state(probe) == 'inactive'
        status = last_status(probe, lambda s: 'activate failed' in s.message)
        assert status is not None and status.level == DiagnosticStatus.ERROR
        assert 'nowhere.onnx' in status.message

        assert set_parameter(probe, 'model_path', fast).successful
        assert state(probe) == 'inactive'              # managed: the manager activates
        assert transition(probe, 'activate'), node.output()
        pub = probe.publisher(Image, 'image', reliable=False, depth=1)
        assert probe.wait_matched(pub), node.output()
        assert answered(probe, pub, 2.0) > 0, node.output()
        status = last_status(probe, lambda s: s.level == DiagnosticStatus.OK)
        assert status is not None and values(status)['lifecycle state'] == 'active'
