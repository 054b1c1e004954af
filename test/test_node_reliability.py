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
Never silently wrong: each fault over real topics, with a real node process.

Stale or foreign depth and camera_info, a failing model, QoS mismatches, an absent camera,
unbounded parameters and shutdown.

A background thread in the test streams frames at about 10 Hz with camera_info and depth whose
stamps, frame ids and contents the test changes on the fly; every condition must appear on
/diagnostics (each active entry is a ``problem: <kind>`` value) and clear when it is gone.
"""
import array
import signal
import threading
import time

from diagnostic_msgs.msg import DiagnosticArray
from nav_msgs.msg import OccupancyGrid
from node_harness import (NodeProcess, problems as entries, publish_until, set_parameter,
                          wait_cleared, wait_problem as wait_entry)
import numpy as np
import onnx
import pytest
from rclpy.duration import Duration
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from seg_ros.inference import contract
from seg_ros.testing import scene
from seg_ros.testing.synthetic import passthrough_model, save_passthrough
from seg_ros.traversability import geometry
from seg_ros.zoo import CAMVID_CLASSES
from sensor_msgs.msg import CameraInfo, Image

pytestmark = pytest.mark.slow
K = [500.0, 0.0, 320.0, 0.0, 500.0, 240.0, 0.0, 0.0, 1.0]
POSE = [0.0, 0.0, 1.0, 0.0, 0.3, 0.0]
FRAME = 'camera_optical_frame'
SCENE = scene.Scene(4, 0, [scene.Box(3.0, 3.4, -0.2, 0.2, 1.8, 9)], [])
PROBE_TOPICS = (('segmentation/labels', Image), ('traversability/grid', OccupancyGrid),
                ('/diagnostics', DiagnosticArray))   # what conftest's probe records


@pytest.fixture(scope='module')
def rendered():
    intr = geometry.Intrinsics.from_camera_info(K, [], 640, 480)
    return scene.render(SCENE, intr, POSE)


@pytest.fixture(scope='module')
def model(tmp_path_factory):
    return save_passthrough(str(tmp_path_factory.mktemp('m') / 'camvid_pt.onnx'),
                            CAMVID_CLASSES)


def node_process(model, **extra):
    params = {'model_path': model, 'taxonomy': 'camvid', 'camera_pose': str(POSE),
              'diagnostics_period': 0.2, **extra}
    return NodeProcess(params)


class Streamer:
    """Publish image (+ camera_info, + depth) every 0.1 s from a thread; settings change live."""

    def __init__(self, probe, labels, depth_m, reliable_image=False):
        self.probe = probe
        self.labels, self.depth_m = labels, depth_m
        self.image_pub = probe.publisher(Image, 'image', reliable=reliable_image, depth=1)
        self.info_pub = probe.publisher(CameraInfo, 'camera_info', reliable=True)
        self.depth_pub = probe.publisher(Image, 'depth', reliable=True)
        self.info = True                 # publish camera_info
        self.info_d = [0.0] * 5
        self.info_size = (640, 480)
        self.depth = 'good'              # good | none | nan
        self.depth_offset = 0.0          # seconds added to the depth stamp
        self.depth_frame = FRAME
        self.sent = 0
        self._stop = threading.Event()
        rgb = np.zeros(labels.shape + (3,), np.uint8)
        rgb[..., 0] = labels
        self._rgb = rgb.tobytes()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self, node):
        assert self.probe.wait_matched(self.image_pub), node.output()
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            now = self.probe.node.get_clock().now()
            stamp = now.to_msg()
            if self.info:
                info = CameraInfo(width=self.info_size[0], height=self.info_size[1],
                                  distortion_model='plumb_bob')
                info.header.frame_id, info.header.stamp = FRAME, stamp
                info.k, info.d = K, self.info_d
                self.info_pub.publish(info)
            if self.depth != 'none':
                if self.depth == 'nan':
                    data = np.full(self.depth_m.shape, np.nan, np.float32)
                else:
                    data = np.nan_to_num(self.depth_m, nan=0.0).astype(np.float32)
                msg = Image(height=480, width=640, encoding='32FC1', step=640 * 4)
                msg.header.frame_id = self.depth_frame
                msg.header.stamp = (now + Duration(nanoseconds=int(self.depth_offset * 1e9))
                                    ).to_msg() if self.depth_offset >= 0 else \
                    (now - Duration(nanoseconds=int(-self.depth_offset * 1e9))).to_msg()
                msg.data = array.array('B', data.tobytes())
                self.depth_pub.publish(msg)
            img = Image(height=480, width=640, encoding='rgb8', step=1920)
            img.header.frame_id, img.header.stamp = FRAME, stamp
            img.data = array.array('B', self._rgb)
            self.image_pub.publish(img)
            self.sent += 1
            time.sleep(0.1)

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=5)


def grids_arrive(probe, count=3, timeout=10.0):
    n = len(probe.messages('traversability/grid'))
    return probe.wait(lambda: len(probe.messages('traversability/grid')) >= n + count, timeout)


def test_depth_that_stops_is_stamped_off_or_in_another_frame(model, probe, rendered):
    labels, depth_m = rendered
    with node_process(model, **{'depth.enabled': True}) as node:
        assert node.wait_for_output('traversability:'), node.output()
        stream = Streamer(probe, labels, depth_m).start(node)
        try:
            assert grids_arrive(probe), node.output()
            wait_cleared(probe, node, 'depth')
            # The depth camera stops: WARN naming the stream and the gap; monocular grid goes on.
            stream.depth = 'none'
            text = wait_entry(probe, node, 'depth', 'stream stopped')
            assert text.startswith('WARN: no depth on /depth for') and 'before the image' in text
            assert 'falling back to the monocular projection' in text
            assert grids_arrive(probe), 'the monocular fallback published no grid'
            # sync.fallback: none -> no grid at all while depth is missing.
            assert set_parameter(probe, 'sync.fallback', 'none').successful
            time.sleep(0.5)
            n = len(probe.messages('traversability/grid'))
            time.sleep(1.0)
            assert len(probe.messages('traversability/grid')) == n
            assert 'sync.fallback: none' in wait_entry(probe, node, 'depth', 'no grid')
            assert set_parameter(probe, 'sync.fallback', 'monocular').successful
            # It comes back: the entry clears.
            stream.depth = 'good'
            wait_cleared(probe, node, 'depth')
            # Stamped 100 s early, then 100 s late: same clock?
            stream.depth_offset = -100.0
            wait_entry(probe, node, 'depth', '100.000 s before the image (tolerance 0.05 s)')
            stream.depth_offset = 100.0   # the nearest is the oldest of the buffered ones
            text = wait_entry(probe, node, 'depth', 's after the image (tolerance 0.05 s)')
            assert 'same clock' in text and ('stamped 99.' in text or 'stamped 100.' in text)
            stream.depth_offset = 0.0
            wait_cleared(probe, node, 'depth')
            # In another frame: refused with both frame names and the fix.
            stream.depth_frame = 'camera_depth_optical_frame'
            text = wait_entry(probe, node, 'depth', 'is in frame "camera_depth_optical_frame"')
            assert f'the image in "{FRAME}"' in text and 'depth_image_proc/register' in text
            stream.depth_frame = FRAME
            wait_cleared(probe, node, 'depth')
            # Valid but empty: all NaN.
            stream.depth = 'nan'
            wait_entry(probe, node, 'depth', 'has no valid pixel')
            stream.depth = 'good'
            wait_cleared(probe, node, 'depth')
        finally:
            stream.stop()
        assert node.proc.poll() is None


def test_camera_info_that_stops_changes_size_or_holds_nan(model, probe, rendered):
    labels, depth_m = rendered
    with node_process(model) as node:
        assert node.wait_for_output('traversability:'), node.output()
        stream = Streamer(probe, labels, depth_m).start(node)
        stream.depth = 'none'
        try:
            assert grids_arrive(probe), node.output()
            stream.info = False
            text = wait_entry(probe, node, 'camera_info', 'sync.max_age')
            assert 'before the image' in text and 'No grid' in text
            time.sleep(0.3)
            n = len(probe.messages('traversability/grid'))
            time.sleep(1.0)
            assert len(probe.messages('traversability/grid')) == n, 'grid from stale intrinsics'
            stream.info = True
            wait_cleared(probe, node, 'camera_info')
            assert grids_arrive(probe)
            stream.info_size = (640, 360)
            wait_entry(probe, node, 'camera_info', 'is 640x360 but the image is 640x480')
            stream.info_size = (640, 480)
            wait_cleared(probe, node, 'camera_info')
            stream.info_d = [float('nan')] + [0.0] * 4
            wait_entry(probe, node, 'camera_info', 'NaN or inf in d (distortion)')
            stream.info_d = [0.0] * 5
            wait_cleared(probe, node, 'camera_info')
        finally:
            stream.stop()


def _palette_overflow_model(path):
    m = passthrough_model(CAMVID_CLASSES)
    for prop in m.metadata_props:
        if prop.key == contract.KEY_PALETTE:
            prop.value = '[[1' + '0' * 400 + ', 0, 0]' + ', [0, 0, 0]' * 11 + ']'
    onnx.save(m, str(path))
    return str(path)


def test_model_failing_on_load_then_good_model_recovers(model, probe, rendered, tmp_path):
    """The huge palette value killed the worker (OverflowError) while /diagnostics said OK."""
    bad = _palette_overflow_model(tmp_path / 'huge_palette.onnx')
    labels, depth_m = rendered
    with node_process(bad) as node:
        text = wait_entry(probe, node, 'model', 'model not loaded')
        assert text.startswith('ERROR:') and 'huge_palette.onnx' in text
        assert 'seg_ros.palette' in text
        stream = Streamer(probe, labels, depth_m).start(node)
        stream.depth = 'none'
        try:
            assert set_parameter(probe, 'model_path', model).successful
            assert probe.wait(lambda: probe.messages('segmentation/labels'), 20), node.output()
            wait_cleared(probe, node, 'model')
            assert 'watchdog' not in entries(probe)
        finally:
            stream.stop()
        assert node.proc.poll() is None


def test_qos_mismatch_on_the_input(model, probe):
    """qos.reliability: reliable against a best-effort camera: both sides and the fix."""
    with node_process(model, **{'qos.reliability': 'reliable'}) as node:
        assert node.wait_for_output('listening on'), node.output()
        pub = probe.publisher(Image, 'image', reliable=False, depth=1)
        text = wait_entry(probe, node, 'qos /image', 'QoS mismatch on /image (reliability)')
        assert text.startswith('ERROR:')
        assert 'our subscription has reliability reliable' in text
        assert 'reliability best_effort, durability volatile) cannot connect' in text
        assert 'set qos.reliability: best_effort' in text
        probe.node.destroy_publisher(pub)
        wait_cleared(probe, node, 'qos /image')


def test_qos_mismatch_on_an_output(model, probe):
    """A transient-local (latched) subscriber on one of our volatile outputs."""
    with node_process(model) as node:
        assert node.wait_for_output('listening on'), node.output()
        qos = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST,
                         reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL)
        sub = probe.node.create_subscription(Image, 'segmentation/overlay', lambda m: None, qos)
        text = wait_entry(probe, node, 'qos /segmentation/overlay',
                          'QoS mismatch on /segmentation/overlay (durability)')
        assert 'our publisher has reliability reliable, durability volatile' in text
        assert 'durability transient_local' in text and 'durability volatile' in text
        probe.node.destroy_subscription(sub)
        wait_cleared(probe, node, 'qos /segmentation/overlay')


def test_no_publisher_then_no_frames_then_frames(model, probe, rendered):
    labels, depth_m = rendered
    with node_process(model, input_timeout=1.0) as node:
        text = wait_entry(probe, node, 'input topic', 'no publisher on /image for')
        assert 'remapped' in text
        pub = probe.publisher(Image, 'image', reliable=False, depth=1)
        assert probe.wait_matched(pub)
        text = wait_entry(probe, node, 'input topic',
                          'publisher present on /image (1) but no frames for')
        assert '32 MB' in text       # the tests run with the shipped SHM profile
        probe.node.destroy_publisher(pub)
        stream = Streamer(probe, labels, depth_m).start(node)
        try:
            assert probe.wait(lambda: probe.messages('segmentation/labels'), 20)
            wait_cleared(probe, node, 'input topic')
        finally:
            stream.stop()


# rcl's YAML reader (-p, params files) turns 5e-324 (subnormal) into a string, which is
# reported as a wrong type; at start-up 1.0e-300 takes the same bound check. The service takes
# the double itself.
@pytest.mark.parametrize('name, at_start, at_run_time, expected', [
    ('grid.x_max', '1e308', 1e308, 'must be between -1000.0 and 1000.0'),
    ('grid.resolution', '1.0e-300', 5e-324, 'must be between 0.001 and 100.0'),
    ('grid.resolution', '0.002', 0.002, 'above the bound of 1000000 cells'),
])
def test_unbounded_parameters_at_startup_and_at_run_time(model, probe, rendered, name, at_start,
                                                         at_run_time, expected):
    labels, depth_m = rendered
    with node_process(model, **{name: at_start}) as node:
        text = wait_entry(probe, node, 'traversability', expected)
        assert text.startswith('ERROR:') and 'traversability is off' in text
        stream = Streamer(probe, labels, depth_m).start(node)
        stream.depth = 'none'
        try:
            assert probe.wait(lambda: probe.messages('segmentation/labels'), 20), node.output()
            assert node.proc.poll() is None
            # A good value through the service turns traversability back on...
            assert set_parameter(probe, name, 0.05 if name == 'grid.resolution' else 8.0
                                 ).successful
            assert grids_arrive(probe), node.output()
            wait_cleared(probe, node, 'traversability')
            # ... and the bad one is refused, with the bound in the reason.
            result = set_parameter(probe, name, at_run_time)
            assert not result.successful and expected in result.reason
            assert grids_arrive(probe)
        finally:
            stream.stop()
        assert 'Traceback' not in node.output()


@pytest.mark.parametrize('sig', [signal.SIGINT, signal.SIGTERM])
def test_quiet_shutdown_while_frames_stream(model, probe, rendered, sig):
    labels, depth_m = rendered
    probe.subscribe(Image, 'segmentation/overlay')
    with node_process(model) as node:
        assert node.wait_for_output('traversability:'), node.output()
        stream = Streamer(probe, labels, depth_m).start(node)
        stream.depth = 'none'
        try:
            assert probe.wait(lambda: len(probe.messages('segmentation/labels')) > 5, 20)
            node.proc.send_signal(sig)
            # Exit status 0, not death by the signal: doc/diagnostics.md, and what
            # test_launch_segmentation requires of ros2 launch's SIGINT.
            assert node.proc.wait(10) == 0, node.output()
        finally:
            stream.stop()
        out = node.output()
        assert 'context is invalid' not in out and '[ERROR]' not in out, out[-3000:]
        assert 'Traceback' not in out


def _wrong_size_model(path):
    """Save a passthrough whose labels lose their last column: no overlay can be drawn."""
    from onnx import helper, numpy_helper

    m = passthrough_model(CAMVID_CLASSES, name='cropped')
    cast = next(n for n in m.graph.node if list(n.output) == ['labels'])
    cast.output[0] = 'labels_full'
    m.graph.initializer.extend([numpy_helper.from_array(np.array([0], np.int64), 'crop_start'),
                                numpy_helper.from_array(np.array([-1], np.int64), 'crop_end'),
                                numpy_helper.from_array(np.array([2], np.int64), 'crop_axis')])
    m.graph.node.append(helper.make_node('Slice', ['labels_full', 'crop_start', 'crop_end',
                                                   'crop_axis'], ['labels']))
    onnx.save(m, str(path))
    return str(path)


def test_error_of_one_model_cleared_by_the_next(model, probe, rendered, tmp_path):
    """The wrong-size-labels ERROR stayed on /diagnostics for good after a good model."""
    labels, depth_m = rendered
    probe.subscribe(Image, 'segmentation/overlay')
    with node_process(_wrong_size_model(tmp_path / 'cropped.onnx'),
                      **{'traversability.enabled': False}) as node:
        stream = Streamer(probe, labels, depth_m).start(node)
        stream.depth = 'none'
        try:
            text = wait_entry(probe, node, 'processing', 'differ in size')
            assert text.startswith('ERROR: unexpected ValueError while processing the 640x480 '
                                   'frame stamped') and 'cropped.onnx' in text
            assert set_parameter(probe, 'model_path', model).successful
            assert probe.wait(lambda: probe.messages('segmentation/overlay'), 20)
            wait_cleared(probe, node, 'processing')
        finally:
            stream.stop()


def test_watchdog_reports_a_frame_that_takes_too_long(probe, tmp_path):
    """A model far too slow for watchdog.timeout: ERROR while on the frame, cleared after."""
    slow = save_passthrough(str(tmp_path / 'very_slow.onnx'), [f'c{i}' for i in range(256)],
                            extra_matmuls=2000, matmul_size=512)   # about 2 s a frame
    with NodeProcess({'model_path': slow, 'traversability.enabled': False, 'threads': 1,
                      'diagnostics_period': 0.1, 'watchdog.timeout': 0.5}) as node:
        pub = probe.publisher(Image, 'image', reliable=False, depth=1)
        assert probe.wait_matched(pub) and node.wait_for_output('loaded'), node.output()
        msg = Image(height=48, width=64, encoding='rgb8', step=192)
        msg.header.frame_id = 'cam'
        msg.header.stamp.sec = 42
        msg.data = array.array('B', bytes(48 * 64 * 3))
        # The first best-effort frames may precede matching: send until the watchdog speaks.
        publish_until(probe, lambda: pub.publish(msg),
                      lambda _: 'watchdog' in (entries(probe) or {}), timeout=20, period=1.0)
        text = wait_entry(probe, node, 'watchdog', 'the inference worker has been on the 64x48 '
                          'frame stamped 42.000000000 in "cam" for')
        assert text.startswith('ERROR:') and '(bound 0.5 s, watchdog.timeout)' in text
        assert probe.wait(lambda: probe.messages('segmentation/labels'), 60), node.output()
        wait_cleared(probe, node, 'watchdog')
