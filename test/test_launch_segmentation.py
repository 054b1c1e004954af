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
launch_testing: ``ros2 launch seg_ros segmentation.launch.py`` starts a node that segments.

Runs where launch_testing and the package's install space exist (``colcon test`` on a robot or
in a ROS 2 container); skipped here, where the launch packages cannot be installed.
"""
import array
import os
import tempfile
import time
import unittest

try:
    from ament_index_python.packages import get_package_share_directory
    from launch import LaunchDescription
    from launch.actions import IncludeLaunchDescription
    from launch.launch_description_sources import PythonLaunchDescriptionSource
    import launch_testing.actions
    import launch_testing.asserts
except ImportError as exc:  # the launch packages have no PyPI wheels
    raise unittest.SkipTest(f'launch_testing is not installed ({exc})')
import numpy as np
import pytest
import rclpy
from seg_ros.testing.synthetic import save_passthrough
from sensor_msgs.msg import Image

MODEL = os.path.join(tempfile.mkdtemp(prefix='seg_ros_launch_'), 'passthrough.onnx')


@pytest.mark.launch_test
def generate_test_description():
    save_passthrough(MODEL, ['ground', 'thing', 'other'])
    launch_file = os.path.join(get_package_share_directory('seg_ros'), 'launch',
                               'segmentation.launch.py')
    include = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(launch_file),
        launch_arguments={'model': MODEL, 'image': '/test_camera/image',
                          'camera_info': '/test_camera/camera_info'}.items())
    return LaunchDescription([include, launch_testing.actions.ReadyToTest()])


class TestSegmentationLaunch(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        rclpy.init()
        cls.node = rclpy.create_node('seg_ros_launch_probe')

    @classmethod
    def tearDownClass(cls):
        cls.node.destroy_node()
        rclpy.shutdown()

    def test_node_loads_model(self, proc_output):
        proc_output.assertWaitFor('loaded', timeout=30)

    def test_labels_published_for_remapped_image(self):
        received = []
        self.node.create_subscription(Image, '/segmentation/labels', received.append, 10)
        pub = self.node.create_publisher(Image, '/test_camera/image', 10)
        rgb = np.zeros((24, 32, 3), np.uint8)
        rgb[:, 16:, 0] = 2
        end = time.time() + 30
        while not received and time.time() < end:
            msg = Image(height=24, width=32, encoding='rgb8', step=96)
            msg.header.frame_id = 'test_camera'
            msg.data = array.array('B', rgb.tobytes())
            pub.publish(msg)
            rclpy.spin_once(self.node, timeout_sec=0.2)
        self.assertTrue(received, 'no labels on /segmentation/labels')
        labels = np.frombuffer(received[0].data, np.uint8).reshape(24, 32)
        np.testing.assert_array_equal(labels, rgb[..., 0])
        self.assertEqual(received[0].header.frame_id, 'test_camera')


@launch_testing.post_shutdown_test()
class TestShutdown(unittest.TestCase):

    def test_exit_codes(self, proc_info):
        launch_testing.asserts.assertExitCodes(proc_info, allowable_exit_codes=[0, -2, -15])
