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
The node in its own process over real rclpy topics.

A passthrough model (labels = red channel) makes every expected label exact; a deliberately slow
variant of it creates overload. Each test starts its own node process.
"""
import array
import time

import cv2
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from node_harness import NodeProcess, Probe
import numpy as np
import pytest
from rcl_interfaces.msg import Parameter as ParameterMsg, ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters
import rclpy
from seg_ros.testing.synthetic import save_passthrough
from sensor_msgs.msg import CompressedImage, Image

pytestmark = pytest.mark.slow
CLASSES = [f'c{i}' for i in range(256)]
H, W = 48, 64


# The passthrough models have no taxonomy preset: these tests are about segmentation alone.
NO_GRID = {'traversability.enabled': False}


def seg_node(params):
    return NodeProcess({**NO_GRID, **params})


@pytest.fixture(scope='module')
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp('models')
    return {'fast': save_passthrough(str(d / 'fast.onnx'), CLASSES),
            'slow': save_passthrough(str(d / 'slow.onnx'), CLASSES, extra_matmuls=30,
                                     matmul_size=512)}


@pytest.fixture
def probe():
    p = Probe()
    yield p
    p.close()


def frame(value: int, h: int = H, w: int = W) -> np.ndarray:
    """RGB frame whose label (red channel) encodes ``value`` and its column."""
    rgb = np.zeros((h, w, 3), np.uint8)
    rgb[..., 0] = (value + np.arange(w)[None, :] // 8) % 256
    rgb[..., 1] = 200
    return rgb


def image_msg(probe, rgb, encoding='rgb8', frame_id='camera_optical', pad=0):
    data = rgb if encoding == 'rgb8' else cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
    h, w = data.shape[:2]
    rows = np.zeros((h, w * 3 + pad), np.uint8)
    rows[:, :w * 3] = data.reshape(h, -1)
    msg = Image(height=h, width=w, encoding=encoding, step=w * 3 + pad)
    msg.header.frame_id = frame_id
    msg.header.stamp = probe.node.get_clock().now().to_msg()
    msg.data = array.array('B', rows.tobytes())
    return msg


def labels_of(msg) -> np.ndarray:
    return np.frombuffer(msg.data, np.uint8).reshape(msg.height, msg.step)[:, :msg.width]


def start(probe, node, transport='raw'):
    """Wire the probe to the node; return the image publisher once the node is ready."""
    topic = 'image' if transport == 'raw' else 'image/compressed'
    pub = probe.publisher(Image if transport == 'raw' else CompressedImage, topic,
                          reliable=False, depth=1)
    for t, typ in (('segmentation/labels', Image), ('segmentation/overlay', Image),
                   ('/diagnostics', DiagnosticArray)):
        probe.subscribe(typ, t)
    assert probe.wait_matched(pub), node.output()
    assert node.wait_for_output('listening on'), node.output()
    return pub


def send_until_labelled(probe, pub, make_msg, timeout=20.0):
    """Publish until the node answers: the first best-effort frames may precede matching."""
    end = time.monotonic() + timeout
    n = len(probe.messages('segmentation/labels'))
    while time.monotonic() < end:
        pub.publish(make_msg())
        if probe.wait(lambda: len(probe.messages('segmentation/labels')) > n, 0.5):
            return True
    return False


def last_status(probe, predicate=lambda s: True, timeout=10.0):
    found = []

    def check():
        for arr in reversed(probe.messages('/diagnostics')):
            for s in arr.status:
                if 'segmentation' in s.name and predicate(s):
                    found.append(s)
                    return True
        return False

    probe.wait(check, timeout)
    return found[0] if found else None


def values(status) -> dict:
    return {kv.key: kv.value for kv in status.values}


def test_labels_headers_overlay_and_diagnostics(models, probe):
    with seg_node({'model_path': models['fast'], 'diagnostics_period': 0.2}) as node:
        pub = start(probe, node)
        assert send_until_labelled(probe, pub, lambda: image_msg(probe, frame(0)))
        probe.clear()
        sent = []
        for i, (encoding, pad) in enumerate([('rgb8', 0), ('bgr8', 0), ('rgb8', 5),
                                             ('bgr8', 13)]):
            msg = image_msg(probe, frame(i + 1), encoding, frame_id=f'cam{i}', pad=pad)
            sent.append(msg)
            pub.publish(msg)
            assert probe.wait(lambda: len(probe.messages('segmentation/labels')) > i), \
                node.output()
        labels = probe.messages('segmentation/labels')
        overlays = probe.messages('segmentation/overlay')
        assert len(labels) == 4
        for i, (msg, out) in enumerate(zip(sent, labels)):
            assert out.encoding == 'mono8' and (out.width, out.height) == (W, H)
            assert out.header.frame_id == msg.header.frame_id
            assert out.header.stamp == msg.header.stamp
            np.testing.assert_array_equal(labels_of(out), frame(i + 1)[..., 0])
        assert probe.wait(lambda: len(probe.messages('segmentation/overlay')) == 4)
        ov = probe.messages('segmentation/overlay')[0]
        assert ov.encoding == 'rgb8' and ov.header.stamp == sent[0].header.stamp
        assert overlays
        status = last_status(probe, lambda s: values(s).get('frames processed') == '5')
        assert status is not None and status.level == DiagnosticStatus.OK
        v = values(status)
        assert 'onnxruntime' in v['backend'] and v['model'] == models['fast']
        assert v['model name'] == 'passthrough' and v['classes'] == '256'
        assert float(v['inference time p50 (ms)']) > 0
        assert float(v['age of frame at publish p95 (ms)']) > 0


def test_overlay_only_computed_with_subscribers(models, probe):
    with seg_node({'model_path': models['fast'], 'diagnostics_period': 0.2}) as node:
        pub = probe.publisher(Image, 'image', reliable=False, depth=1)
        probe.subscribe(Image, 'segmentation/labels')
        probe.subscribe(DiagnosticArray, '/diagnostics')
        assert probe.wait_matched(pub)
        for i in range(3):
            assert send_until_labelled(probe, pub, lambda: image_msg(probe, frame(i)))
        status = last_status(probe, lambda s: int(values(s)['frames processed']) >= 3)
        assert values(status)['overlays published'] == '0'
        probe.subscribe(Image, 'segmentation/overlay')
        assert probe.wait(lambda: probe.node.count_subscribers('/segmentation/overlay') == 1)
        time.sleep(0.5)   # let the node's publisher see the new subscriber
        assert send_until_labelled(probe, pub, lambda: image_msg(probe, frame(7)))
        assert probe.wait(lambda: len(probe.messages('segmentation/overlay')) >= 1)
        status = last_status(probe, lambda s: int(values(s)['overlays published']) >= 1)
        assert status is not None and node.proc.poll() is None


@pytest.mark.parametrize('bad, problem', [
    ({'encoding': '16UC1'}, 'unsupported image encoding "16UC1"'),
    ({'step': 10}, 'step 10 is shorter than one row'),
    ({'height': 0, 'width': 0, 'step': 0}, 'empty image 0x0'),
    ({'height': H + 10}, 'is truncated'),
])
def test_bad_input_rejected_and_next_frame_served(models, probe, bad, problem):
    with seg_node({'model_path': models['fast'], 'diagnostics_period': 0.2}) as node:
        pub = start(probe, node)
        assert send_until_labelled(probe, pub, lambda: image_msg(probe, frame(0)))
        probe.clear()
        msg = image_msg(probe, frame(3))
        for k, v in bad.items():
            setattr(msg, k, v)
        pub.publish(msg)
        assert node.wait_for_output(problem), node.output()
        status = last_status(probe, lambda s: problem in s.message)
        assert status is not None and status.level == DiagnosticStatus.WARN
        assert values(status)['frames rejected (bad input)'] == '1'
        assert probe.messages('segmentation/labels') == []
        good = image_msg(probe, frame(9))
        pub.publish(good)
        assert probe.wait(lambda: len(probe.messages('segmentation/labels')) == 1), node.output()
        np.testing.assert_array_equal(labels_of(probe.messages('segmentation/labels')[0]),
                                      frame(9)[..., 0])
        assert node.proc.poll() is None


def test_compressed_transport_and_corrupt_payload(models, probe):
    params = {'model_path': models['fast'], 'input_transport': 'compressed',
              'diagnostics_period': 0.2}
    with seg_node(params) as node:
        pub = start(probe, node, transport='compressed')

        def png(value):
            msg = CompressedImage(format='png')
            msg.header.stamp = probe.node.get_clock().now().to_msg()
            ok, buf = cv2.imencode('.png', cv2.cvtColor(frame(value), cv2.COLOR_RGB2BGR))
            msg.data = array.array('B', buf.tobytes())
            return msg

        assert send_until_labelled(probe, pub, lambda: png(0)), node.output()
        probe.clear()
        bad = CompressedImage(format='jpeg')
        bad.data = array.array('B', b'\xff\xd8\xff\xe0 not a jpeg at all')
        pub.publish(bad)
        assert node.wait_for_output('cannot decode compressed image'), node.output()
        pub.publish(png(42))
        assert probe.wait(lambda: len(probe.messages('segmentation/labels')) == 1)
        np.testing.assert_array_equal(labels_of(probe.messages('segmentation/labels')[0]),
                                      frame(42)[..., 0])


def test_overload_keeps_newest_frame_and_counts_drops(models, probe):
    with seg_node({'model_path': models['slow'], 'threads': 1,
                   'diagnostics_period': 0.2}) as node:
        pub = start(probe, node)
        assert send_until_labelled(probe, pub, lambda: image_msg(probe, frame(0)))
        probe.clear()
        n = 60
        for i in range(1, n + 1):               # far faster than the model (~tens of ms each)
            pub.publish(image_msg(probe, frame(i)))
            time.sleep(0.005)
        # The newest frame is always the one kept, so the last label is the last frame's.
        assert probe.wait(lambda: any(labels_of(m)[0, 0] == n
                                      for m in probe.messages('segmentation/labels')), 20)
        labels = probe.messages('segmentation/labels')
        firsts = [int(labels_of(m)[0, 0]) for m in labels]
        assert firsts == sorted(firsts), 'frames published out of order'
        assert len(labels) < n / 2, f'{len(labels)} of {n} processed: no overload happened'
        status = last_status(probe, lambda s: int(values(s)['frames processed']) ==
                             len(labels) + 1)
        v = values(status)
        assert int(v['frames dropped (overload)']) > 0
        received = int(v['frames received'])
        assert int(v['frames dropped (overload)']) + int(v['frames processed']) == received


def _set_parameter(probe, node_name, name, value: str):
    client = probe.node.create_client(SetParameters, f'/{node_name}/set_parameters')
    assert client.wait_for_service(timeout_sec=10)
    req = SetParameters.Request(parameters=[ParameterMsg(
        name=name, value=ParameterValue(type=ParameterType.PARAMETER_STRING,
                                        string_value=value))])
    future = client.call_async(req)
    end = time.monotonic() + 10
    while not future.done() and time.monotonic() < end:
        time.sleep(0.05)
    return future.result()


def test_missing_model_is_an_error_until_fixed_at_run_time(models, probe, tmp_path):
    missing = str(tmp_path / 'nowhere.onnx')
    with seg_node({'model_path': missing, 'diagnostics_period': 0.2}) as node:
        pub = start(probe, node)
        assert node.wait_for_output(f'model file not found: {missing}'), node.output()
        status = last_status(probe, lambda s: 'model not loaded' in s.message)
        assert status.level == DiagnosticStatus.ERROR
        pub.publish(image_msg(probe, frame(1)))
        time.sleep(0.5)
        assert probe.messages('segmentation/labels') == []
        assert node.proc.poll() is None
        result = _set_parameter(probe, 'segmentation_node', 'model_path', models['fast'])
        assert result.results[0].successful
        assert node.wait_for_output('loaded'), node.output()
        assert send_until_labelled(probe, pub, lambda: image_msg(probe, frame(5)))
        status = last_status(probe, lambda s: s.level == DiagnosticStatus.OK)
        assert status is not None


def test_broken_model_file_reported(probe, tmp_path):
    broken = tmp_path / 'broken.onnx'
    broken.write_bytes(b'\x08\x07garbage')
    with seg_node({'model_path': str(broken), 'diagnostics_period': 0.2}) as node:
        start(probe, node)
        assert node.wait_for_output('cannot load model'), node.output()
        status = last_status(probe, lambda s: 'broken.onnx' in s.message)
        assert status.level == DiagnosticStatus.ERROR


def test_bad_parameters_reported_node_keeps_running(models, probe):
    params = {'model_path': models['fast'], 'overlay_alpha': 3.0, 'diagnostics_period': 0.2,
              'threads': 'many'}
    with seg_node(params) as node:
        pub = start(probe, node)
        assert node.wait_for_output('"overlay_alpha" = 3.0 must be between 0.0 and 1.0')
        assert node.wait_for_output('parameter "threads"'), node.output()   # wrong type
        status = last_status(probe, lambda s: 'overlay_alpha' in s.message)
        assert status.level == DiagnosticStatus.ERROR
        assert send_until_labelled(probe, pub, lambda: image_msg(probe, frame(2)))
        # An invalid value set at run time is refused with the reason.
        result = _set_parameter(probe, 'segmentation_node', 'backend', 'tflite')
        assert not result.results[0].successful
        assert 'must be one of onnxruntime, tensorrt' in result.results[0].reason


def teardown_module():
    if rclpy.ok():
        rclpy.shutdown()


def test_real_model_on_camvid_frames(probe, camvid_onnx, camvid_val):
    """The node's labels for real frames equal the model's own output, pixel for pixel."""
    from seg_ros.inference.loader import create_backend
    frames = sorted(camvid_val[0].glob('*.png'))[:3]
    backend = create_backend('onnxruntime', camvid_onnx)
    with seg_node({'model_path': camvid_onnx, 'diagnostics_period': 0.5}) as node:
        pub = start(probe, node)
        rgbs = [cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB) for f in frames]
        assert send_until_labelled(probe, pub, lambda: image_msg(probe, rgbs[0]), timeout=60)
        probe.clear()
        for i, rgb in enumerate(rgbs):
            pub.publish(image_msg(probe, rgb, 'bgr8' if i % 2 else 'rgb8', frame_id='camvid'))
            assert probe.wait(lambda: len(probe.messages('segmentation/labels')) > i, 30)
        for rgb, out in zip(rgbs, probe.messages('segmentation/labels')):
            expected = backend.infer(rgb).labels
            assert (out.width, out.height) == (480, 360) and out.header.frame_id == 'camvid'
            np.testing.assert_array_equal(labels_of(out), expected)
            # A real segmentation: several CamVid classes present, mostly not void (11).
            assert len(np.unique(expected)) >= 4 and (expected != 11).mean() > 0.9
        status = last_status(probe, lambda s: 'espnet' in values(s)['model name'])
        assert status is not None and values(status)['classes'] == '12'
