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

"""Replay: bags and image folders played to real rclpy subscribers, recording, bad inputs."""
import json
from pathlib import Path
import sqlite3
import time

import cv2
import numpy as np
import pytest
import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.serialization import deserialize_message, serialize_message
from rosbags.rosbag2 import Reader
from seg_ros.offline import replay
from seg_ros.offline.replay import ReplayError
from seg_ros.ros import messages
from seg_ros.ros import player
from seg_ros.tools import cli
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header


def _frame(i: int, h: int = 48, w: int = 64) -> np.ndarray:
    rng = np.random.default_rng(i)
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


def _stamp(i: int):
    from builtin_interfaces.msg import Time
    return Time(sec=1000 + i, nanosec=i * 1000)


def write_bag(path: Path, n: int = 5, storage: str = 'mcap', period_ns: int = 20_000_000,
              extra: tuple = ()) -> list[bytes]:
    """Write n Image + CameraInfo pairs with rclpy serialisation; return the image payloads."""
    rec = replay.BagRecorder(path, storage)
    rec.add_topic('/cam/image', replay.IMAGE_TYPE)
    rec.add_topic('/cam/info', replay.CAMERA_INFO_TYPE)
    for topic, msgtype, raw in extra:
        rec.add_topic(topic, msgtype)
        rec.write(topic, 1, raw)
    cam = replay.pinhole_guess(64, 48)
    images = []
    for i in range(n):
        t = 1_000_000_000 + i * period_ns
        rec.write('/cam/info', t, serialize_message(
            player.camera_info_message(cam, _stamp(i), 'cam')))
        raw = serialize_message(messages.image_message(_frame(i), 'rgb8',
                                                       Header(stamp=_stamp(i), frame_id='cam')))
        rec.write('/cam/image', t + 1, raw)
        images.append(raw)
    rec.close()
    return images


class Listener:
    """A plain rclpy subscriber in its own context: what any consumer of the replay sees."""

    def __init__(self, topics: dict) -> None:
        self.context = Context()
        rclpy.init(context=self.context)
        self.node = Node('listener', context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.got: dict[str, list] = {t: [] for t in topics}
        qos = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
        for topic, cls in topics.items():
            self.node.create_subscription(cls, topic, self.got[topic].append, qos)

    def spin_until(self, done, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not done() and time.monotonic() < deadline:
            self.executor.spin_once(timeout_sec=0.05)

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)


@pytest.mark.parametrize('storage', ['mcap', 'sqlite3'])
def test_bag_replayed_end_to_end(tmp_path, storage):
    images = write_bag(tmp_path / 'in', n=6, storage=storage)
    source = replay.BagSource(tmp_path / 'in')
    assert source.image_topic == '/cam/image'
    listener = Listener({'/cam/image': Image, '/cam/info': CameraInfo})
    p = player.Player(reply_topic=None)
    try:
        p.publisher('/cam/image', replay.IMAGE_TYPE)
        p.publisher('/cam/info', replay.CAMERA_INFO_TYPE)
        for topic in ('/cam/image', '/cam/info'):
            p.wait_for_peer(topic, 10.0, 'listener')
        # The listener spins in the same thread between frames: asap pacing with reliable QoS
        # and depth 10 must still lose nothing (6 frames).
        sent = p.play(player.bag_items(source), replay.Pacer('recorded'))
        listener.spin_until(lambda: len(listener.got['/cam/image']) == 6)
    finally:
        p.close()
        source.close()
    got = listener.got['/cam/image']
    listener.close()
    assert sent == 6
    assert [m.header.stamp.sec for m in got] == [1000 + i for i in range(6)]
    # Identical content, in order (compared field by field: CDR alignment padding is not
    # initialised by the serialiser, so the bytes on the wire may differ there).
    assert [deserialize_message(raw, Image) for raw in images] == got
    assert np.array_equal(np.frombuffer(got[3].data, np.uint8).reshape(48, 64, 3), _frame(3))


def test_folder_replay_and_recording_to_bag(tmp_path):
    folder = tmp_path / 'frames'
    folder.mkdir()
    for i in range(4):
        cv2.imwrite(str(folder / f'{i:03d}.png'), _frame(i)[:, :, ::-1])  # stored BGR
    calib = tmp_path / 'cam.yaml'
    calib.write_text(
        'image_width: 128\nimage_height: 96\ncamera_name: test\n'
        'camera_matrix: {rows: 3, cols: 3, data: [100, 0, 64, 0, 100, 48, 0, 0, 1]}\n'
        'distortion_model: plumb_bob\n'
        'distortion_coefficients: {rows: 1, cols: 5, data: [0.1, 0, 0, 0, 0]}\n')
    cam = replay.load_camera_info_yaml(calib)
    # An echo node stands in for the segmentation node: labels = R channel, header kept.
    listener = Listener({'image': Image, 'camera_info': CameraInfo})
    echo = listener.node.create_publisher(Image, 'segmentation/labels', 10)

    echoed = []

    def on_image(msg):
        echoed.append(msg.header.stamp)
        rgb = np.frombuffer(msg.data, np.uint8).reshape(msg.height, msg.width, 3)
        echo.publish(messages.image_message(np.ascontiguousarray(rgb[:, :, 0]), 'mono8',
                                            msg.header))

    listener.node.create_subscription(Image, 'image', on_image, 10)
    recorder = replay.BagRecorder(tmp_path / 'out', 'mcap')
    saver_stats = {}
    p = player.Player(record={'segmentation/labels': replay.IMAGE_TYPE}, recorder=recorder)
    saver = player.ImageSaver(tmp_path / 'png', {'segmentation/labels': 'labels'},
                              p.stats.index_of)
    p.hooks.append(saver)
    try:
        items = player.folder_items(replay.list_images(folder), camera=cam, frame_id='cam')
        for topic, msgtype in player.folder_topics('image', 'camera_info'):
            p.publisher(topic, msgtype)
            p.wait_for_peer(topic, 10.0, 'listener')
        p.wait_for_peer('segmentation/labels', 10.0, 'echo')
        # Both nodes spin here, alternately: the player while waiting for each reply.
        for item in items:
            p.play([item], replay.Pacer('asap'), start_index=len(p.stats.sent))
            n = len(p.stats.sent)
            listener.spin_until(lambda: len(echoed) == n and len(listener.got['camera_info']) == n,
                                5)
            deadline = time.monotonic() + 5
            while len(p.stats.replies) < len(p.stats.sent) and time.monotonic() < deadline:
                p.spin_for(0.02)
        saver_stats = p.stats.summary()
    finally:
        p.close()
        saver.close()
        recorder.close()
    infos = listener.got['camera_info']
    images = listener.got['image']
    listener.close()
    assert len(images) == 4 and len(infos) == 4
    assert infos[0].header.stamp == images[0].header.stamp
    assert infos[0].width == 64 and infos[0].k[0] == pytest.approx(50.0)  # scaled calibration
    assert list(infos[0].d) == [0.1, 0, 0, 0, 0]
    assert saver_stats['frames_sent'] == 4 and saver_stats['frames_answered'] == 4
    assert saver_stats['age_ms']['p50'] is not None
    for i in range(4):
        assert np.array_equal(cv2.imread(str(tmp_path / 'png' / 'labels' / f'{i:04d}.png'),
                                         cv2.IMREAD_UNCHANGED), _frame(i)[:, :, 0])
    with Reader(tmp_path / 'out') as reader:
        assert reader.topics['/segmentation/labels'].msgcount == 4
        assert reader.topics['/segmentation/labels'].msgtype == replay.IMAGE_TYPE


def test_missing_topic_lists_topics_present(tmp_path):
    write_bag(tmp_path / 'b', n=1)
    with pytest.raises(ReplayError, match=r'/camera/image_raw not in bag.*'
                       r'/cam/image \[sensor_msgs/msg/Image\], /cam/info'):
        replay.BagSource(tmp_path / 'b', topics=['/camera/image_raw'])


def test_unknown_message_type(tmp_path):
    from rosbags.rosbag2 import Writer
    from rosbags.typesys import get_typestore, Stores
    store = get_typestore(Stores.ROS2_KILTED)
    with Writer(tmp_path / 'b', version=9) as w:
        # A type rosbags knows but this install has no Python package for.
        conn = w.add_connection('/disparity', 'stereo_msgs/msg/DisparityImage',
                                typestore=store)
        w.write(conn, 1, b'\x00\x01\x00\x00')
    with pytest.raises(ReplayError, match=r'/disparity.*unknown message type '
                       r"'stereo_msgs/msg/DisparityImage'.*install the ROS package"):
        replay.BagSource(tmp_path / 'b')


@pytest.mark.parametrize('suffix', ['.mcap', '.db3'])
def test_corrupt_bag_file(tmp_path, suffix):
    bad = tmp_path / f'broken{suffix}'
    bad.write_bytes(b'this is not a bag' * 10)
    with pytest.raises(ReplayError, match=f'cannot read bag .*broken\\{suffix}'):
        replay.BagSource(bad)


def test_truncated_mcap(tmp_path):
    write_bag(tmp_path / 'b', n=3)
    mcap = next((tmp_path / 'b').glob('*.mcap'))
    cut = tmp_path / 'cut.mcap'
    cut.write_bytes(mcap.read_bytes()[:len(mcap.read_bytes()) // 2])
    with pytest.raises(ReplayError, match='cut.mcap'):
        source = replay.BagSource(cut)
        list(source.messages())


def test_bare_db3_readable_and_not_a_database(tmp_path):
    write_bag(tmp_path / 'b', n=2, storage='sqlite3')
    db3 = next((tmp_path / 'b').glob('*.db3'))
    source = replay.BagSource(db3)
    assert len(list(source.messages())) == 4
    source.close()
    sqlite3.connect(tmp_path / 'empty.db3').close()
    with pytest.raises(ReplayError, match='empty.db3'):
        replay.BagSource(tmp_path / 'empty.db3')


def test_image_folder_errors(tmp_path):
    with pytest.raises(ReplayError, match='does not exist'):
        replay.list_images(tmp_path / 'nope')
    (tmp_path / 'notes.txt').write_text('x')
    with pytest.raises(ReplayError, match=r'no images in .*looked for \.png'):
        replay.list_images(tmp_path)
    (tmp_path / 'bad.png').write_bytes(b'not a png')
    with pytest.raises(ReplayError, match=r'cannot read image .*bad.png'):
        replay.read_image(replay.list_images(tmp_path)[0])


def test_camera_info_yaml_errors(tmp_path):
    f = tmp_path / 'c.yaml'
    f.write_text('image_width: 10\nimage_height: 10\n')
    with pytest.raises(ReplayError, match="no 'camera_matrix'.*camera_calibration format"):
        replay.load_camera_info_yaml(f)
    with pytest.raises(ReplayError, match='cannot read camera info file'):
        replay.load_camera_info_yaml(tmp_path / 'missing.yaml')


def test_pinhole_guess():
    cam = replay.pinhole_guess(640, 480, 90.0)
    assert cam.k[0] == pytest.approx(320.0) and cam.k[4] == pytest.approx(320.0)
    assert cam.projection()[2] == 320.0 and cam.projection()[6] == 240.0


def test_pacer_rate_and_recorded():
    rate = replay.Pacer('rate', rate=10.0)
    assert rate.due(5.0) == 5.0
    assert rate.due(5.01) == pytest.approx(5.1)          # next slot, not now + period
    assert rate.due(5.02, paced=False) == 5.02           # camera_info goes with its image
    assert rate.due(7.0) == 7.0                          # stalled: restart, no burst
    rec = replay.Pacer('recorded', speed=2.0)
    assert rec.due(1.0, 10_000_000_000) == 1.0
    assert rec.due(1.0, 11_000_000_000) == pytest.approx(1.5)
    rec.restart()
    assert rec.due(9.0, 10_000_000_000) == 9.0
    with pytest.raises(ReplayError, match='positive'):
        replay.Pacer('rate', rate=0)


def test_grid_and_decode():
    g = np.array([[-1, 0], [50, 100]], np.int8)
    img = replay.grid_to_image(g.tobytes(), 2, 2)   # rows y, columns x
    # top-down: +x (forward) up, +y (left) on the left; RViz map colours: unknown grey-green,
    # 50 % cost mid grey
    u, k, w, m = [112, 137, 134], [0, 0, 0], [255, 255, 255], [128, 128, 128]
    assert img.tolist() == [[k, w], [m, u]]
    data = np.arange(2 * 8, dtype=np.uint8)  # step 8 > width 3 * 2 channels? mono: pad
    arr = replay.decode_image('mono8', 2, 5, 8, data.tobytes())
    assert arr.tolist() == [[0, 1, 2, 3, 4], [8, 9, 10, 11, 12]]


def test_stats_summary():
    s = replay.StreamStats()
    for i in range(4):
        s.on_sent(i, i, float(i))
    for i in range(3):
        assert s.on_reply(i, i + 0.1 * (i + 1)) == i
    out = s.summary()
    assert out['frames_sent'] == 4 and out['frames_dropped'] == 1
    assert out['age_ms']['p50'] == pytest.approx(200.0)


def test_cli_replay_bag_to_bag(tmp_path):
    write_bag(tmp_path / 'in', n=3, storage='sqlite3')
    rc = cli.main(['replay', str(tmp_path / 'in'), '--as-fast-as-possible',
                   '--record-bag', str(tmp_path / 'rec'), '--record', '/cam/image',
                   '--no-wait', '--drain', '0.5', '--summary', str(tmp_path / 's.json')])
    assert rc == 0
    with Reader(tmp_path / 'rec') as reader:
        assert reader.topics['/cam/image'].msgcount == 3  # its own playback, recorded
    summary = json.loads((tmp_path / 's.json').read_text())
    assert summary['frames_sent'] == 3 and summary['frames_dropped'] is None
    assert 'nothing publishes segmentation/labels' in summary['note']


def test_cli_replay_reports_bad_input(tmp_path, capsys):
    write_bag(tmp_path / 'in', n=1)
    rc = cli.main(['replay', str(tmp_path / 'in'), '--topics', '/nope', '--no-wait'])
    assert rc == 2
    assert 'topic /nope not in bag' in capsys.readouterr().err


@pytest.mark.slow
def test_cli_bag_through_the_node_recorded(tmp_path, camvid_val):
    """A bag of CamVid frames, replayed to the real node (own process), outputs to a bag."""
    from node_harness import NodeProcess
    from seg_ros.testing import synthetic
    files = replay.list_images(camvid_val[0])[:3]
    rec = replay.BagRecorder(tmp_path / 'in', 'sqlite3')
    rec.add_topic('/camera/image_raw', replay.IMAGE_TYPE)
    for i, f in enumerate(files):
        rec.write('/camera/image_raw', 10**9 + i * 10**8, serialize_message(
            messages.image_message(replay.read_image(f), 'rgb8',
                                   Header(stamp=_stamp(i), frame_id='cam'))))
    rec.close()
    model = synthetic.save_passthrough(str(tmp_path / 'pt.onnx'),
                                       [f'c{i}' for i in range(256)])
    with NodeProcess({'model_path': model}) as node:
        rc = cli.main(['replay', str(tmp_path / 'in'), '--remap', '/camera/image_raw:=image',
                       '--as-fast-as-node', '--wait', '60', '--reply-timeout', '30',
                       '--record-bag', str(tmp_path / 'out'), '--storage', 'mcap',
                       '--record-images', str(tmp_path / 'png'),
                       '--summary', str(tmp_path / 'summary.json')])
        assert rc == 0, node.output()
    summary = json.loads((tmp_path / 'summary.json').read_text())
    assert summary['frames_sent'] == 3 and summary['frames_answered'] == 3
    with Reader(tmp_path / 'out') as reader:
        assert reader.topics['/segmentation/labels'].msgcount == 3
        stamps = []
        for conn, _, raw in reader.messages():
            if conn.topic == '/segmentation/labels':
                stamps.append(deserialize_message(raw, Image).header.stamp.sec)
    assert stamps == [1000, 1001, 1002]  # recorded stamps kept, order kept
    for i, f in enumerate(files):
        got = cv2.imread(str(tmp_path / 'png' / 'segmentation_labels' / f'{i:04d}.png'),
                         cv2.IMREAD_UNCHANGED)
        assert np.array_equal(got, replay.read_image(f)[:, :, 0])


def test_cli_folder_loop_and_limit(tmp_path):
    folder = tmp_path / 'frames'
    folder.mkdir()
    for i in range(2):
        cv2.imwrite(str(folder / f'{i}.png'), _frame(i))
    rc = cli.main(['replay', str(folder), '--loop', '--limit', '5', '--as-fast-as-possible',
                   '--no-wait', '--drain', '0.3', '--image-topic', 'cam',
                   '--record', '/cam', '--record', 'camera_info:sensor_msgs/msg/CameraInfo',
                   '--record-bag', str(tmp_path / 'rec')])
    assert rc == 0
    with Reader(tmp_path / 'rec') as reader:
        assert reader.topics['/cam'].msgcount == 5  # 0 1 0 1 0
        assert reader.topics['/camera_info'].msgcount == 5
        first = [deserialize_message(raw, Image) for c, _, raw in reader.messages()
                 if c.topic == '/cam']
    assert np.array_equal(np.frombuffer(first[2].data, np.uint8).reshape(48, 64, 3),
                          _frame(0)[:, :, ::-1])  # read as BGR file, sent as rgb8


def test_cli_folder_skips_a_damaged_frame_and_reports_it(tmp_path, capsys):
    """A damaged file in the middle is skipped, named, and the run ends with its summary."""
    folder = tmp_path / 'frames'
    folder.mkdir()
    for name in ('a', 'c', 'd'):
        cv2.imwrite(str(folder / f'{name}.png'), _frame(0))
    (folder / 'b.png').write_bytes(b'truncated png')
    rc = cli.main(['replay', str(folder), '--as-fast-as-possible', '--no-wait', '--drain', '0.3',
                   '--record', '/image', '--record-bag', str(tmp_path / 'rec'),
                   '--summary', str(tmp_path / 's.json')])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert f'replay: skipping {folder / "b.png"}: cannot read image' in captured.err
    assert 'skipped 1 of 4 files' in captured.err
    summary = json.loads((tmp_path / 's.json').read_text())
    assert summary['frames_sent'] == 3 and summary['skipped_files'] == [str(folder / 'b.png')]
    with Reader(tmp_path / 'rec') as reader:
        assert reader.topics['/image'].msgcount == 3
    (folder / 'a.png').write_bytes(b'x')
    (folder / 'c.png').write_bytes(b'x')
    (folder / 'd.png').write_bytes(b'x')
    assert cli.main(['replay', str(folder), '--as-fast-as-possible', '--no-wait',
                     '--drain', '0.1']) == 2
    assert 'error: no frame could be sent' in capsys.readouterr().err


@pytest.mark.parametrize('args, message', [
    (['--speed', '2'], '--speed needs recorded timing'),
    (['--limit', '0'], '--limit must be at least 1'),
    (['--camera-info', '/nonexistent.yaml'], 'cannot read camera info file'),
])
def test_cli_folder_bad_options(tmp_path, capsys, args, message):
    cv2.imwrite(str(tmp_path / 'a.png'), _frame(0))
    assert cli.main(['replay', str(tmp_path), '--no-wait', *args]) == 2
    assert message in capsys.readouterr().err


def test_bag_without_image_topic(tmp_path, capsys):
    write_bag(tmp_path / 'b', n=1)
    assert cli.main(['replay', str(tmp_path / 'b'), '--topics', '/cam/info', '--no-wait']) == 2
    assert 'no Image or CompressedImage topic to pace by' in capsys.readouterr().err
    with pytest.raises(ReplayError, match='carries sensor_msgs/msg/CameraInfo'):
        replay.BagSource(tmp_path / 'b', image_topic='/cam/info')


def test_image_saver_writes_grids_and_numbers_by_frame(tmp_path):
    from nav_msgs.msg import OccupancyGrid
    stats = replay.StreamStats()
    stats.on_sent(5_000, 7, 0.0)
    saver = player.ImageSaver(tmp_path, {'traversability/grid': 'grid'}, stats.index_of)
    grid = OccupancyGrid()
    grid.header.stamp.nanosec = 5_000
    grid.info.width, grid.info.height = 3, 2
    grid.data = [0, 100, -1, 50, 0, 0]
    saver('traversability/grid', 'nav_msgs/msg/OccupancyGrid', grid, 0.0)
    saver.close()
    img = cv2.imread(str(tmp_path / 'grid' / '0007.png'), cv2.IMREAD_COLOR)[..., ::-1]
    # top-down: x (3 cells) upwards, y (2 cells) leftwards; RViz map colours (RGB)
    u, k, w, m = [112, 137, 134], [0, 0, 0], [255, 255, 255], [128, 128, 128]
    assert img.tolist() == [[w, u], [w, k], [m, w]]
