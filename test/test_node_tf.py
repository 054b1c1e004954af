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
The node takes the camera pose from TF at each image's stamp, over real tf2 and DDS.

A real ``StaticTransformBroadcaster`` (and, for a moving camera, a ``TransformBroadcaster``)
in the test process publishes ``base_link <- camera_optical_frame``; the node's
``camera_pose`` parameter says something else on purpose. The scene is rendered from the TF
pose, and the node's grid is checked cell by cell against the analytic ground truth of that
pose (and shown to disagree with the ``camera_pose`` one). Without TF at the image's stamp
(beyond ``tf_tolerance``) the node falls back to ``camera_pose`` and says so on /diagnostics.
"""
import time

from diagnostic_msgs.msg import DiagnosticArray
from nav_msgs.msg import OccupancyGrid
from node_harness import answers_to, NodeProcess, publish_until, segmentation_statuses, values
import numpy as np
import pytest
from rclpy.duration import Duration
from rclpy.time import Time
import ros_scene
from seg_ros.testing import scene
from seg_ros.testing.synthetic import save_passthrough
from seg_ros.zoo import CAMVID_CLASSES
from sensor_msgs.msg import CameraInfo, Image

try:
    from tf2_ros import StaticTransformBroadcaster, TransformBroadcaster
except ImportError:
    StaticTransformBroadcaster = TransformBroadcaster = None

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(StaticTransformBroadcaster is None,
                                 reason='tf2_ros (tf2_ros_py) is not installed')]
PARAM_POSE = [0.0, 0.0, 1.0, 0.0, 0.3, 0.0]      # what camera_pose says
LEFT = [0.3, 0.1, 1.2, 0.0, 0.35, 0.5]           # what TF says: higher, looking left
RIGHT = [0.3, -0.1, 1.2, 0.0, 0.35, -0.5]
MAX_RANGE = 8.0
SCENE = scene.Scene(ros_scene.SIDEWALK, ros_scene.SKY,
                    [scene.Box(3.0, 3.4, 1.4, 1.8, 1.8, ros_scene.PEDESTRIAN),
                     scene.Box(3.0, 3.4, -1.8, -1.4, 1.8, ros_scene.PEDESTRIAN)],
                    [scene.Patch(1.2, 1.7, -3.0, 3.0, ros_scene.ROAD)])
PROBE_NAME = 'seg_ros_tf_probe'
PROBE_TOPICS = (('traversability/grid', OccupancyGrid), ('/diagnostics', DiagnosticArray))


@pytest.fixture
def node(tmp_path):
    model = save_passthrough(str(tmp_path / 'camvid_passthrough.onnx'), CAMVID_CLASSES)
    with NodeProcess({'model_path': model, 'taxonomy': 'camvid',
                      'camera_pose': str(PARAM_POSE), 'diagnostics_period': 0.2,
                      'tf_tolerance': 0.1}) as n:
        yield n


def _pose_source(probe):
    for status in segmentation_statuses(probe):
        if 'camera pose' in values(status):
            return values(status)['camera pose'], status.message
    return None, None


def _grid_for(probe, node, pose, stamp, image_pub, info_pub, tries=60):
    """Send the scene seen from ``pose`` stamped ``stamp`` until the grid of that stamp comes."""
    labels = ros_scene.render(SCENE, pose)

    def publish():
        info_pub.publish(ros_scene.camera_info(stamp))
        image_pub.publish(ros_scene.image(labels, stamp))

    done = publish_until(probe, publish,
                         lambda _: answers_to(probe, 'traversability/grid', stamp),
                         timeout=tries * 0.3)
    assert done, 'no grid for the frame\n' + node.output()
    return done[1][-1]


def _check_grid_matches(grid, pose, other_pose):
    """Free sidewalk is free, the unseen is unknown, the people's feet lethal: for ``pose``."""
    res = grid.info.resolution
    xs = grid.info.origin.position.x + (np.arange(grid.info.width) + 0.5) * res
    ys = grid.info.origin.position.y + (np.arange(grid.info.height) + 0.5) * res
    x, y = np.meshgrid(xs, ys)
    truth = ros_scene.sure_truth(SCENE, pose, x, y, MAX_RANGE)
    got = ros_scene.grid_at(grid, x, y)
    # Away from the people (dynamic obstacles are inflated by 0.3 m in the camvid taxonomy)
    # and from the range's rim (lattice rows are tens of centimetres apart there).
    near_box = np.zeros(x.shape, bool)
    for b in SCENE.boxes:
        near_box |= (x > b.x0 - 0.5) & (x < b.x1 + 0.5) & (y > b.y0 - 0.5) & (y < b.y1 + 0.5)
    cam = np.array(pose[:2])
    rim = np.abs(np.hypot(x - cam[0], y - cam[1]) - MAX_RANGE) < 0.5
    free = (truth == ros_scene.SIDEWALK) & ~near_box & ~rim
    unseen = (truth == scene.OUTSIDE) & ~rim
    assert free.sum() > 500 and unseen.sum() > 500
    assert (got[free] == 0).mean() > 0.95, (got[free] == 0).mean()
    assert (got[unseen] == -1).mean() > 0.97, (got[unseen] == -1).mean()
    # The check tells the poses apart: much of what this pose cannot see, the other one sees.
    other = ros_scene.sure_truth(SCENE, other_pose, x, y, MAX_RANGE)
    assert (other[unseen] >= 0).mean() > 0.2
    # The foot of the person in view is lethal; the one out of view left nothing.
    seen_box = [b for b in SCENE.boxes
                if (ros_scene.sure_truth(SCENE, pose, np.array([b.x0 - 0.1]),
                                         np.array([(b.y0 + b.y1) / 2]), MAX_RANGE,
                                         margin=0.05) >= 0)[0]]
    assert len(seen_box) == 1
    b = seen_box[0]
    fx, fy = np.meshgrid(np.arange(b.x0 - 0.1, b.x0 + 0.1, res / 2),
                         np.arange(b.y0 + 0.1, b.y1 - 0.1, res / 2))
    assert (ros_scene.grid_at(grid, fx, fy) == 100).any()


def test_static_transform_gives_the_pose(probe, node):
    broadcaster = StaticTransformBroadcaster(probe.node)
    broadcaster.sendTransform(ros_scene.camera_transform(LEFT, Time().to_msg()))
    image_pub = probe.publisher(Image, 'image', reliable=False, depth=1)
    info_pub = probe.publisher(CameraInfo, 'camera_info')
    assert probe.wait_matched(image_pub) and node.wait_for_output('traversability:'), \
        node.output()
    # Until the node's listener has the static transform, frames use camera_pose (reported).
    for _ in range(30):
        _grid_for(probe, node, LEFT, probe.node.get_clock().now().to_msg(), image_pub, info_pub)
        time.sleep(0.3)
        if (_pose_source(probe)[0] or '').startswith('TF'):
            break
    assert (_pose_source(probe)[0] or '').startswith('TF'), _pose_source(probe)
    grid = _grid_for(probe, node, LEFT, probe.node.get_clock().now().to_msg(), image_pub,
                     info_pub)
    assert grid.header.frame_id == 'base_link'
    _check_grid_matches(grid, LEFT, PARAM_POSE)


def test_moving_transform_is_taken_at_the_image_stamp(probe, node):
    broadcaster = TransformBroadcaster(probe.node)
    image_pub = probe.publisher(Image, 'image', reliable=False, depth=1)
    info_pub = probe.publisher(CameraInfo, 'camera_info')
    assert probe.wait_matched(image_pub) and node.wait_for_output('traversability:'), \
        node.output()
    now = probe.node.get_clock().now()
    stamps = [(now - Duration(seconds=s)).to_msg() for s in (3.0, 2.0, 1.0)]
    # Left, right, left again: the newest transform is LEFT, the one at stamps[1] RIGHT.
    for _ in range(3):   # the listener may join late; TF messages are volatile
        for stamp, pose in zip(stamps, (LEFT, RIGHT, LEFT)):
            broadcaster.sendTransform(ros_scene.camera_transform(pose, stamp))
        time.sleep(0.3)
    grid = _grid_for(probe, node, RIGHT, stamps[1], image_pub, info_pub)
    assert probe.wait(lambda: (_pose_source(probe)[0] or '').startswith('TF'), 5), \
        _pose_source(probe)
    _check_grid_matches(grid, RIGHT, LEFT)
    grid = _grid_for(probe, node, LEFT, stamps[0], image_pub, info_pub)
    _check_grid_matches(grid, LEFT, RIGHT)
    # A frame 1.5 s past the newest transform (tf_tolerance 0.1 s): camera_pose, reported.
    late = (now + Duration(seconds=0.5)).to_msg()
    _grid_for(probe, node, PARAM_POSE, late, image_pub, info_pub)
    assert node.wait_for_output('beyond tf_tolerance'), node.output()
    assert probe.wait(lambda: _pose_source(probe)[0] == 'camera_pose parameter', 5)
    source, message = _pose_source(probe)
    assert 'tf_tolerance' in message and 'camera_pose' in message, message
