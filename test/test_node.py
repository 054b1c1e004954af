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
from node_harness import (answer_to, answers_to, frame, image_msg, labels_of, last_status,
                          PASSTHROUGH_CLASSES, segmentation_node as seg_node,
                          send_until_labelled, set_parameter, values)
import numpy as np
import pytest
import rclpy
from seg_ros.testing.synthetic import save_passthrough
from sensor_msgs.msg import CompressedImage, Image

pytestmark = pytest.mark.slow
CLASSES = PASSTHROUGH_CLASSES
H, W = 48, 64


@pytest.fixture(scope='module')
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp('models')
    return {'fast': save_passthrough(str(d / 'fast.onnx'), CLASSES),
            'slow': save_passthrough(str(d / 'slow.onnx'), CLASSES, extra_matmuls=30,
                                     matmul_size=512)}


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


def test_labels_headers_overlay_and_diagnostics(models, probe):
    with seg_node({'model_path': models['fast'], 'diagnostics_period': 0.2}) as node:
        pub = start(probe, node)
        assert send_until_labelled(probe, pub, lambda: image_msg(probe, frame(0)))
        sent = []
        for i, (encoding, pad) in enumerate([('rgb8', 0), ('bgr8', 0), ('rgb8', 5),
                                             ('bgr8', 13)]):
            msg = image_msg(probe, frame(i + 1), encoding, frame_id=f'cam{i}', pad=pad)
            sent.append(msg)
            pub.publish(msg)
            # One at a time (the node keeps only the newest frame); the answer is the label
            # stamped as this frame, whatever else (a late warm-up reply) arrives meanwhile.
            out = answer_to(probe, 'segmentation/labels', msg.header.stamp)
            assert out.encoding == 'mono8' and (out.width, out.height) == (W, H)
            assert out.header.frame_id == msg.header.frame_id
            np.testing.assert_array_equal(labels_of(out), frame(i + 1)[..., 0])
        for i, msg in enumerate(sent):
            ov = answer_to(probe, 'segmentation/overlay', msg.header.stamp)
            assert ov.encoding == 'rgb8' and (ov.width, ov.height) == (W, H)
            assert ov.header.frame_id == msg.header.frame_id
            # Blended over the frame: the class colour changes the pixels, the frame shows.
            pixels = np.frombuffer(ov.data, np.uint8).reshape(H, ov.step)[:, :W * 3]
            assert not np.array_equal(pixels.reshape(H, W, 3), frame(i + 1))
        labelled = {(m.header.stamp.sec, m.header.stamp.nanosec)
                    for m in probe.messages('segmentation/labels')}
        status = last_status(probe, lambda s: values(s).get('frames processed') ==
                             str(len(labelled)))
        assert status is not None and status.level == DiagnosticStatus.OK
        v = values(status)
        assert 'onnxruntime' in v['backend'] and v['model'] == models['fast']
        assert v['model name'] == 'passthrough' and v['classes'] == '256'
        assert float(v['inference time p50 (ms)']) > 0
        assert float(v['age of frame at publish p95 (ms)']) > 0
        # rclpy of Kilted on has it: the receiving path then costs least (seg_ros.ros.spin).
        from test_spin import EVENTS
        assert f'spinning with the {EVENTS}' in node.output()


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
        msg = image_msg(probe, frame(3))
        for k, v in bad.items():
            setattr(msg, k, v)
        pub.publish(msg)
        assert node.wait_for_output(problem), node.output()
        status = last_status(probe, lambda s: problem in s.message)
        assert status is not None and status.level == DiagnosticStatus.WARN
        assert values(status)['frames rejected (bad input)'] == '1'
        assert answers_to(probe, 'segmentation/labels', msg.header.stamp) == []
        good = image_msg(probe, frame(9))
        pub.publish(good)
        np.testing.assert_array_equal(
            labels_of(answer_to(probe, 'segmentation/labels', good.header.stamp)),
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
        bad = CompressedImage(format='jpeg')
        bad.data = array.array('B', b'\xff\xd8\xff\xe0 not a jpeg at all')
        pub.publish(bad)
        assert node.wait_for_output('cannot decode compressed image'), node.output()
        good = png(42)
        pub.publish(good)
        np.testing.assert_array_equal(
            labels_of(answer_to(probe, 'segmentation/labels', good.header.stamp)),
            frame(42)[..., 0])


def test_overload_keeps_newest_frame_and_counts_drops(models, probe):
    with seg_node({'model_path': models['slow'], 'threads': 1,
                   'diagnostics_period': 0.2}) as node:
        pub = start(probe, node)
        assert send_until_labelled(probe, pub, lambda: image_msg(probe, frame(0)))
        n = 60
        sent = []
        for i in range(1, n + 1):               # far faster than the model (~tens of ms each)
            sent.append(image_msg(probe, frame(i)))
            pub.publish(sent[-1])
            time.sleep(0.005)
        # The newest frame is always the one kept, so the last frame is answered.
        answer_to(probe, 'segmentation/labels', sent[-1].header.stamp, timeout=20)
        ours = {(m.header.stamp.sec, m.header.stamp.nanosec) for m in sent}
        labels = [m for m in probe.messages('segmentation/labels')
                  if (m.header.stamp.sec, m.header.stamp.nanosec) in ours]
        firsts = [int(labels_of(m)[0, 0]) for m in labels]
        assert firsts == sorted(firsts), 'frames published out of order'
        assert len(labels) < n / 2, f'{len(labels)} of {n} processed: no overload happened'
        # Every processed frame was published (warm-up frames included).
        status = last_status(probe, lambda s: int(values(s)['frames processed']) ==
                             len(probe.messages('segmentation/labels')))
        v = values(status)
        assert int(v['frames dropped (overload)']) > 0
        received = int(v['frames received'])
        assert int(v['frames dropped (overload)']) + int(v['frames processed']) == received


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
        assert set_parameter(probe, 'model_path', models['fast']).successful
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
        result = set_parameter(probe, 'backend', 'tflite')
        assert not result.successful
        assert 'must be one of onnxruntime, tensorrt' in result.reason


def teardown_module():
    if rclpy.ok():
        rclpy.shutdown()


def test_real_model_on_camvid_frames(probe, camvid_onnx, camvid_val):
    """
    The node segments real frames as CamVid's annotators did, in rgb8 and bgr8 alike.

    Pixel accuracy against the val annotations (void excluded) measured 94.8, 94.6 and 94.4 %
    for these three frames; with red and blue swapped it falls to 45 %.
    """
    val, annot = camvid_val
    frames = sorted(val.glob('*.png'))[:3]
    with seg_node({'model_path': camvid_onnx, 'diagnostics_period': 0.5}) as node:
        pub = start(probe, node)
        rgbs = [cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB) for f in frames]
        assert send_until_labelled(probe, pub, lambda: image_msg(probe, rgbs[0]), timeout=60)
        for i, (path, rgb) in enumerate(zip(frames, rgbs)):
            msg = image_msg(probe, rgb, 'bgr8' if i % 2 else 'rgb8', frame_id='camvid')
            pub.publish(msg)
            # The label stamped as this frame: a late answer to a warm-up frame is not it.
            out = answer_to(probe, 'segmentation/labels', msg.header.stamp, timeout=30)
            assert (out.width, out.height) == (480, 360) and out.header.frame_id == 'camvid'
            truth = cv2.imread(str(annot / path.name), cv2.IMREAD_UNCHANGED)
            scored = truth != 11
            accuracy = float((labels_of(out) == truth)[scored].mean())
            assert accuracy > 0.93, f'{path.name}: pixel accuracy {accuracy:.3f}'
        status = last_status(probe, lambda s: 'espnet' in values(s)['model name'])
        assert status is not None and values(status)['classes'] == '12'
