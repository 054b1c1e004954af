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
The node's traversability outputs over real topics, on a synthetic scene of known geometry.

A pedestrian-sized box stands 3 m ahead on a sidewalk with a strip of road; the scene is
rendered analytically through a pinhole camera into CamVid labels, sent through a passthrough
model, and the node's grid is read back at points whose answer is known.
"""
import array

from diagnostic_msgs.msg import DiagnosticArray
from nav_msgs.msg import OccupancyGrid
from node_harness import answer_to, answers_to, NodeProcess, publish_until
import numpy as np
import pytest
import ros_scene
from seg_ros.ros import messages
from seg_ros.testing import scene
from seg_ros.testing.synthetic import save_passthrough
from seg_ros.traversability import geometry
from seg_ros.zoo import CAMVID_CLASSES
from sensor_msgs.msg import CameraInfo, Image, PointCloud2

pytestmark = pytest.mark.slow
K = ros_scene.K
POSE = [0.0, 0.0, 1.0, 0.0, 0.3, 0.0]
SKY, ROAD, SIDEWALK, PEDESTRIAN = 0, 3, 4, 9
SCENE = scene.Scene(SIDEWALK, SKY, [scene.Box(3.0, 3.4, -0.2, 0.2, 1.8, PEDESTRIAN)],
                    [scene.Patch(1.5, 2.0, -2.0, 2.0, ROAD)])
PROBE_TOPICS = (('segmentation/labels', Image), ('segmentation/functional', Image),
                ('traversability/grid', OccupancyGrid),
                ('traversability/obstacles', PointCloud2),
                ('traversability/dynamic_obstacles', PointCloud2),
                ('/diagnostics', DiagnosticArray))   # what conftest's probe records


@pytest.fixture(scope='module')
def rendered():
    intr = geometry.Intrinsics.from_camera_info(K, [], 640, 480)
    return scene.render(SCENE, intr, POSE)


def _node(tmp_path, **extra):
    model = save_passthrough(str(tmp_path / 'camvid_passthrough.onnx'), CAMVID_CLASSES)
    params = {'model_path': model, 'taxonomy': 'camvid', 'camera_pose': str(POSE),
              'diagnostics_period': 0.2, **extra}
    return NodeProcess(params)


def _drive(probe, node, labels, depth=None, camera_info=True, want='traversability/grid'):
    """Send camera_info (+ depth) and frames until the node answers on ``want``."""
    image_pub = probe.publisher(Image, 'image', reliable=False, depth=1)
    info_pub = probe.publisher(CameraInfo, 'camera_info', reliable=True)
    depth_pub = probe.publisher(Image, 'depth', reliable=True)
    assert probe.wait_matched(image_pub) and node.wait_for_output('traversability:'), \
        node.output()

    def publish():
        stamp = probe.node.get_clock().now().to_msg()
        if camera_info:
            info_pub.publish(ros_scene.camera_info(stamp))
        if depth is not None:
            depth_pub.publish(depth(stamp))
        image_pub.publish(ros_scene.image(labels, stamp))
        return stamp

    done = publish_until(probe, publish, lambda stamp: answers_to(probe, want, stamp))
    assert done, 'no answer on ' + want + '\n' + node.output()
    return done[0]


def _at(probe, topic, stamp):
    """Return the message on ``topic`` for the frame ``stamp`` (outputs follow one another)."""
    return answer_to(probe, topic, stamp, timeout=5.0)


def _grid_value(grid_msg, x, y):
    return int(ros_scene.grid_at(grid_msg, np.array(x), np.array(y)))


def _check_scene_grid(probe, stamp):
    grid = _at(probe, 'traversability/grid', stamp)
    assert grid.header.frame_id == 'base_link'
    assert grid.info.resolution == pytest.approx(0.05)
    assert (grid.info.width, grid.info.height) == (160, 160)
    assert (grid.info.origin.position.x, grid.info.origin.position.y) == (0.0, -4.0)
    road_cost = 60   # config/taxonomy/camvid.yaml: road is ground with cost 60
    # free sidewalk, road strip, the pedestrian's foot, occluded behind it
    assert _grid_value(grid, 1.3, 0.0) == 0
    assert _grid_value(grid, 1.75, 0.0) == road_cost
    assert _grid_value(grid, 3.05, 0.0) == 100
    assert _grid_value(grid, 5.0, 0.0) == -1
    # The pedestrian is a dynamic obstacle: its own cloud (Nav2 keeps it shorter).
    cloud = _at(probe, 'traversability/dynamic_obstacles', stamp)
    pts = messages.cloud_points(cloud)
    static = _at(probe, 'traversability/obstacles', stamp)
    assert len(messages.cloud_points(static)) == 0
    assert cloud.header.frame_id == 'base_link' and len(pts) > 0
    assert np.all(np.abs(pts[:, 0] - 3.0) < 0.15) and np.all(np.abs(pts[:, 1]) < 0.3)


def test_monocular_grid_functional_and_obstacles(tmp_path, probe, rendered):
    labels, _ = rendered
    with _node(tmp_path) as node:
        stamp = _drive(probe, node, labels)
        _check_scene_grid(probe, stamp)
        func = _at(probe, 'segmentation/functional', stamp)
        assert func.encoding == 'mono8' and (func.width, func.height) == (640, 480)
        assert func.header.frame_id == 'camera_optical_frame'
        f = np.frombuffer(func.data, np.uint8).reshape(480, 640)
        # Functional ids: 0 unknown, 1 traversable, 3 dynamic_obstacle (fixed built-ins), then
        # the camvid taxonomy's own classes in file order: 4 road.
        expected = {SKY: 0, SIDEWALK: 1, PEDESTRIAN: 3, ROAD: 4}
        assert set(np.unique(labels)) == set(expected)
        for label, functional_id in expected.items():
            assert np.all(f[labels == label] == functional_id), label


def test_depth_mode_grid(tmp_path, probe, rendered):
    labels, depth_m = rendered

    def depth_msg(stamp):
        mm = np.nan_to_num(depth_m * 1000.0, nan=0.0).astype(np.uint16)
        msg = Image(height=480, width=640, encoding='16UC1', step=1280)
        msg.header.frame_id = 'camera_optical_frame'
        msg.header.stamp = stamp
        msg.data = array.array('B', mm.tobytes())
        return msg

    with _node(tmp_path, **{'depth.enabled': True}) as node:
        stamp = _drive(probe, node, labels, depth=depth_msg)
        _check_scene_grid(probe, stamp)


def test_bad_depth_and_missing_camera_info_are_reported(tmp_path, probe, rendered):
    labels, _ = rendered

    def bad_depth(stamp):
        msg = Image(height=480, width=640, encoding='rgb8', step=1920)
        msg.header.stamp, msg.header.frame_id = stamp, 'camera_optical_frame'
        msg.data = array.array('B', bytes(1920 * 480))
        return msg

    with _node(tmp_path, **{'depth.enabled': True}) as node:
        # No camera_info: functional image only, and a warning that names the topic.
        _drive(probe, node, labels, camera_info=False, want='segmentation/functional')
        assert node.wait_for_output('no camera_info on /camera_info'), node.output()
        assert probe.messages('traversability/grid') == []
        # A depth image in the wrong encoding: the grid is skipped, segmentation goes on.
        probe.clear()
        for _ in range(20):   # depth races its frame: a frame may be served before its depth
            _drive(probe, node, labels, depth=bad_depth, want='segmentation/labels')
            if node.wait_for_output('unsupported depth encoding "rgb8"', 1.0):
                break
        assert 'unsupported depth encoding "rgb8"' in node.output(), node.output()
        assert node.proc.poll() is None


def test_wrong_taxonomy_is_an_error_segmentation_continues(tmp_path, probe, rendered):
    labels, _ = rendered
    bad = tmp_path / 'bad_taxonomy.yaml'
    bad.write_text('mapping:\n  Road: traversable\n  Lava: obstacle\n')
    with NodeProcess({'model_path': save_passthrough(str(tmp_path / 'p.onnx'), CAMVID_CLASSES),
                      'taxonomy': str(bad), 'diagnostics_period': 0.2}) as node:
        assert node.wait_for_output('taxonomy not loaded'), node.output()
        assert 'Lava' in node.output()
        pub = probe.publisher(Image, 'image', reliable=False, depth=1)
        assert probe.wait_matched(pub)

        def publish():
            msg = ros_scene.image(labels, probe.node.get_clock().now().to_msg())
            pub.publish(msg)
            return msg.header.stamp

        assert publish_until(probe, publish, lambda stamp: answers_to(
            probe, 'segmentation/labels', stamp), timeout=15), node.output()
        assert not probe.messages('segmentation/functional')
