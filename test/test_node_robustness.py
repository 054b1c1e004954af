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
Stopping and reconfiguring the node in the middle of a long inference, in its own process.

One paced model (``seg_ros.testing.synthetic.paced_model``) serves every test: a frame whose
first pixel has green 0 is answered at once, one with green 255 runs for about a minute, longer
than any wait here. So a signal, a deactivate or a parameter lands while the worker is in the
runtime, which is where the node used to abort (SIGABRT at exit), keep two workers, publish a
frame captured before a transition after it, or stall its executor.
"""
import signal
import time

from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState, GetState
from node_harness import (answers_to, call_service, image_msg, last_status, NodeProcess,
                          PASSTHROUGH_CLASSES as CLASSES, problems, send_until_labelled,
                          set_parameter, values, wait_problem)
import numpy as np
import onnx
import pytest
from seg_ros.testing.synthetic import paced_model
from sensor_msgs.msg import Image

pytestmark = pytest.mark.slow
PROBE_TOPICS = (('segmentation/labels', Image), ('/diagnostics', DiagnosticArray))
QUICK, LONG = 0, 255          # green of the first pixel: no work, about a minute of work
LONG_STAMP = Time(sec=77)     # the long frame's stamp: it must never be published
SHUTDOWN_WAIT = 5.0           # doc/diagnostics.md: the worker may finish its frame, up to 5 s


@pytest.fixture(scope='module')
def paced(tmp_path_factory):
    path = tmp_path_factory.mktemp('paced') / 'paced.onnx'
    onnx.save(paced_model(CLASSES), str(path))
    return str(path)


def start(model, **params):
    return NodeProcess({'model_path': model, 'traversability.enabled': False, 'threads': 1,
                        'diagnostics_period': 0.1, 'watchdog.timeout': 0.2, **params})


def paced_frame(probe, level, stamp=None):
    rgb = np.zeros((48, 64, 3), np.uint8)
    rgb[..., 0] = 7
    rgb[0, 0, 1] = level
    msg = image_msg(probe, rgb)
    if stamp is not None:
        msg.header.stamp = stamp
    return msg


def put_on_a_long_frame(probe, node):
    """Get a quick frame answered (the streams are matched), then the long one taken."""
    pub = probe.publisher(Image, 'image', reliable=False, depth=1)
    assert probe.wait_matched(pub), node.output()
    assert send_until_labelled(probe, pub, lambda: paced_frame(probe, QUICK)), node.output()
    pub.publish(paced_frame(probe, LONG, LONG_STAMP))
    wait_problem(probe, node, 'watchdog', 'stamped 77.000000000', timeout=10)
    return pub


def change_state_async(probe, transition_id):
    client = probe.node.create_client(ChangeState, '/segmentation_node/change_state')
    assert client.wait_for_service(timeout_sec=10)
    return client.call_async(ChangeState.Request(transition=Transition(id=transition_id)))


def transition(probe, transition_id):
    future = change_state_async(probe, transition_id)
    assert probe.wait(future.done, 20), 'no answer from change_state'
    return future.result().success


def state(probe):
    return call_service(probe, GetState, '/segmentation_node/get_state',
                        GetState.Request()).current_state.label


@pytest.mark.parametrize('sig', [signal.SIGINT, signal.SIGHUP], ids=['SIGINT', 'SIGHUP'])
def test_a_signal_during_a_long_inference_interrupts_it_and_exits_cleanly(paced, probe, sig):
    """It ended in 'terminate called without an active exception' and SIGABRT after 20 s."""
    with start(paced) as node:
        assert node.wait_for_output('active: segmenting'), node.output()
        put_on_a_long_frame(probe, node)
        node.proc.send_signal(sig)
        # The grace, then the interrupt (ORT's terminate flag) and some slack for a busy host.
        rc = node.proc.wait(SHUTDOWN_WAIT + 10)
        out = node.output()
        assert rc == 0, out[-3000:]
        assert f'{sig.name} received: shutting down' in out
        assert 'interrupting the inference' in out, out[-3000:]
        assert 'exiting now without closing' not in out   # the runtime gave up: a normal stop
        assert 'terminate called' not in out and 'Traceback' not in out, out[-3000:]
        assert not answers_to(probe, 'segmentation/labels', LONG_STAMP)


def test_deactivate_during_a_long_inference_is_bounded_and_nothing_stale_comes_out(
        paced, probe):
    """Deactivate took 10 s, left two workers, and the old frame came out after activate."""
    with start(paced) as node:
        assert node.wait_for_output('active: segmenting'), node.output()
        pub = put_on_a_long_frame(probe, node)
        future = change_state_async(probe, Transition.TRANSITION_DEACTIVATE)
        # While it waits for the worker, /diagnostics says so; a parameter request is answered
        # once the bounded wait is over.
        status = last_status(probe, lambda s: values(s).get('lifecycle state') == 'deactivating',
                             timeout=5)
        assert status is not None, node.output()[-3000:]
        assert set_parameter(probe, 'overlay_alpha', 0.4, timeout=10).successful
        assert probe.wait(future.done, 15) and future.result().success, node.output()[-3000:]
        assert state(probe) == 'inactive'
        assert transition(probe, Transition.TRANSITION_ACTIVATE), node.output()[-3000:]
        assert send_until_labelled(probe, pub, lambda: paced_frame(probe, QUICK)), node.output()
        time.sleep(0.5)
        assert not answers_to(probe, 'segmentation/labels', LONG_STAMP)
        # The interrupted run is the stop's doing, not a failure of the model to report.
        out = node.output()
        assert 'Traceback' not in out and 'inference failed' not in out, out[-3000:]
        assert 'inference' not in (problems(probe) or {})


def test_a_deactivated_node_stays_inactive_when_a_parameter_changes(paced, probe):
    """A manager deactivated it; setting threads made it activate itself again."""
    with start(paced) as node:
        assert node.wait_for_output('active: segmenting'), node.output()
        assert transition(probe, Transition.TRANSITION_DEACTIVATE)
        assert set_parameter(probe, 'threads', 2).successful
        assert state(probe) == 'inactive'
        time.sleep(0.5)   # the autostart retry would run from a timer: give it its chance
        assert state(probe) == 'inactive', node.output()[-3000:]
        assert transition(probe, Transition.TRANSITION_ACTIVATE)
        assert state(probe) == 'active'


def test_a_fixed_model_path_updates_the_errors_of_a_failed_activate(paced, probe, tmp_path):
    """After a failed activate, the model and lifecycle ERRORs kept naming the old path."""
    missing = str(tmp_path / 'nowhere.onnx')
    with start(missing, autostart=False) as node:
        assert transition(probe, Transition.TRANSITION_CONFIGURE)
        assert not transition(probe, Transition.TRANSITION_ACTIVATE)
        wait_problem(probe, node, 'lifecycle', 'nowhere.onnx')
        assert set_parameter(probe, 'model_path', paced).successful
        text = wait_problem(probe, node, 'lifecycle', 'paced.onnx')
        assert text.startswith('WARN:') and 'activate again' in text
        assert probe.wait(lambda: 'nowhere' not in str(problems(probe)), 5), problems(probe)
        assert 'model' not in problems(probe)
        assert transition(probe, Transition.TRANSITION_ACTIVATE), node.output()[-3000:]


@pytest.mark.parametrize('sig', [signal.SIGINT, signal.SIGTERM], ids=['SIGINT', 'SIGTERM'])
def test_a_signal_during_the_model_load_stops_the_node_cleanly(probe, tmp_path, sig):
    """SIGINT printed a KeyboardInterrupt traceback; SIGTERM killed at once (rc -15)."""
    path = str(tmp_path / 'slow_to_load.onnx')
    onnx.save(paced_model(CLASSES, load_nodes=20000), path)   # about 2.5 s to load
    with start(path) as node:
        assert node.wait_for_output('activating: loading'), node.output()
        node.proc.send_signal(sig)
        rc = node.proc.wait(30)
        out = node.output()
        assert rc == 0, out[-3000:]
        assert 'Traceback' not in out and 'KeyboardInterrupt' not in out, out[-3000:]
        assert f'{sig.name} received: shutting down' in out
        # The load was under way when the signal came (it finished before the node stopped).
        assert out.index('activating: loading') < out.index('loaded ') \
            < out.index(f'{sig.name} received'), out[-3000:]


def test_diagnostics_are_published_while_activate_loads(probe, tmp_path):
    """Activate blocked the executor while the model loaded: no /diagnostics meanwhile."""
    path = str(tmp_path / 'slow_to_load.onnx')
    onnx.save(paced_model(CLASSES, load_nodes=20000), path)   # about 2.5 s to load
    with start(path, autostart=False) as node:
        assert transition(probe, Transition.TRANSITION_CONFIGURE)
        future = change_state_async(probe, Transition.TRANSITION_ACTIVATE)
        status = last_status(probe, lambda s: values(s).get('lifecycle state') == 'activating',
                             timeout=10)
        assert status is not None, node.output()[-3000:]
        assert 'activating' in status.message
        assert set_parameter(probe, 'overlay_alpha', 0.3, timeout=30).successful   # after it
        assert probe.wait(future.done, 30) and future.result().success, node.output()[-3000:]
        assert state(probe) == 'active'
