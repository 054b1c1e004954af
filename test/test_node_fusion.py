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
The node's fused grid over real topics: odometry on ``odom`` places it in the odom frame.

A pedestrian-sized box stands 3 m ahead of the camera; the node gets the rendered frames
through a passthrough model and nav_msgs/Odometry from this test (no TF: the node falls back
to the odometry). Without odometry it says why there is no fused grid; with the robot at
x = 0 the pedestrian is in the fused grid at odom x = 3; with the robot at x = 5 the window
has moved with it and the pedestrian is seen at odom x = 8.
"""

from nav_msgs.msg import OccupancyGrid, Odometry
from node_harness import answers_to, NodeProcess, publish_until
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
SKY, SIDEWALK, PEDESTRIAN = 0, 4, 9
SCENE = scene.Scene(SIDEWALK, SKY, [scene.Box(3.0, 3.4, -0.2, 0.2, 1.8, PEDESTRIAN)])


def _odometry(stamp, x):
    msg = Odometry()
    msg.header.stamp = stamp
    msg.header.frame_id = 'odom'
    msg.child_frame_id = 'base_link'
    msg.pose.pose.position.x = x
    msg.pose.pose.orientation.w = 1.0
    return msg


_value = ros_scene.grid_max_near


def test_fused_grid_follows_the_odometry(tmp_path, probe):
    intr = geometry.Intrinsics.from_camera_info(K, [], 640, 480)
    labels, _ = scene.render(SCENE, intr, POSE)
    model = save_passthrough(str(tmp_path / 'camvid_passthrough.onnx'), CAMVID_CLASSES)
    params = {'model_path': model, 'taxonomy': 'camvid', 'camera_pose': str(POSE),
              'diagnostics_period': 0.2, 'fusion.enabled': True}
    probe.subscribe(OccupancyGrid, 'traversability/grid')
    probe.subscribe(OccupancyGrid, 'traversability/fused_grid')
    image_pub = probe.publisher(Image, 'image', reliable=False, depth=1)
    info_pub = probe.publisher(CameraInfo, 'camera_info')
    odom_pub = probe.publisher(Odometry, 'odom')
    with NodeProcess(params) as node:
        assert probe.wait_matched(image_pub) and node.wait_for_output('traversability:'), \
            node.output()

        def drive(x, until):
            def publish():
                stamp = probe.node.get_clock().now().to_msg()
                if x is not None:
                    odom_pub.publish(_odometry(stamp, x))
                info_pub.publish(ros_scene.camera_info(stamp))
                image_pub.publish(ros_scene.image(labels, stamp))

            assert publish_until(probe, publish, lambda _: until()), \
                'no answer\n' + node.output()

        # No TF and no odometry: the per-frame grid only, and the reason in the log.
        drive(None, lambda: probe.messages('traversability/grid'))
        assert node.wait_for_output('no fused grid for this frame: no pose of base_link '
                                    'in odom'), node.output()
        assert probe.messages('traversability/fused_grid') == []

        def fused_at(x_min):
            return [m for m in probe.messages('traversability/fused_grid')
                    if m.info.origin.position.x == pytest.approx(x_min)]

        assert probe.wait_matched(odom_pub)
        drive(0.0, lambda: fused_at(-8.0))
        first = fused_at(-8.0)[-1]
        assert first.header.frame_id == 'odom'
        assert (first.info.width, first.info.height) == (320, 320)
        assert first.info.origin.position.y == pytest.approx(-8.0)
        assert _value(first, 3.0, 0.0) == 100 and _value(first, 1.5, 0.0) == 0
        assert _value(first, 8.0, 0.0) == -1

        # 5 m on, more than half a step (4 m, a quarter window) from the centre: the
        # window moved by one step.
        drive(5.0, lambda: fused_at(-4.0))
        moved = fused_at(-4.0)[-1]
        assert moved.header.frame_id == 'odom'
        assert _value(moved, 8.0, 0.0) == 100 and _value(moved, 6.5, 0.0) == 0


def test_unconfident_pixels_are_unknown_in_the_node(tmp_path, probe):
    """The node fetches the model's confidence for the mask, and applies it to every output."""
    intr = geometry.Intrinsics.from_camera_info(K, [], 640, 480)
    labels, _ = scene.render(SCENE, intr, POSE)
    # R = class; G = confidence * 255: the pedestrian at 0.2, everything else at 1.0.
    green = np.where(labels == PEDESTRIAN, 51, 255).astype(np.uint8)
    model = save_passthrough(str(tmp_path / 'confidence.onnx'), CAMVID_CLASSES,
                             confidence_channel=1)
    params = {'model_path': model, 'taxonomy': 'camvid', 'camera_pose': str(POSE),
              'traversability.min_confidence': 0.5}
    for topic, typ in (('traversability/grid', OccupancyGrid),
                       ('traversability/dynamic_obstacles', PointCloud2),
                       ('segmentation/functional', Image)):
        probe.subscribe(typ, topic)
    image_pub = probe.publisher(Image, 'image', reliable=False, depth=1)
    info_pub = probe.publisher(CameraInfo, 'camera_info')
    with NodeProcess(params) as node:
        assert probe.wait_matched(image_pub) and node.wait_for_output('traversability:'), \
            node.output()

        def publish():
            stamp = probe.node.get_clock().now().to_msg()
            info_pub.publish(ros_scene.camera_info(stamp))
            image_pub.publish(ros_scene.image(labels, stamp, green=green))
            return stamp

        def all_outputs(stamp):
            out = [answers_to(probe, t, stamp) for t in ('traversability/grid',
                                                         'traversability/dynamic_obstacles',
                                                         'segmentation/functional')]
            return all(out) and [m[-1] for m in out]

        done = publish_until(probe, publish, all_outputs)
        assert done, node.output()
        # The pedestrian is a dynamic obstacle: unconfident, it must not reach its cloud.
        grid, cloud, func = done[1]
        assert 'no confidence output' not in node.output()
    assert len(messages.cloud_points(cloud)) == 0
    assert _value(grid, 3.0, 0.0) < 100 and _value(grid, 3.6, 0.0, r=0.0) == -1
    assert _value(grid, 1.5, 0.0, r=0.0) == 0
    f = np.frombuffer(bytes(func.data), np.uint8).reshape(480, 640)
    assert np.all(f[labels == PEDESTRIAN] == 0) and np.all(f[labels == SIDEWALK] == 1)
