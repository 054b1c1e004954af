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

The launch file is found the way ``ros2 launch`` finds it: through the ament index of a colcon
install space (``test/colcon_ws.py`` builds the package once per test run). Runs wherever
launch_testing and colcon are installed (``colcon test`` on a robot; here the set-up installs
them from ../shared/ros2), with launch_testing's pytest plugin, as ``colcon test`` runs it.
"""
import array
import os
import tempfile
import time
import unittest

import colcon_ws
import numpy as np
import pytest
import rclpy
from seg_ros.testing.synthetic import save_passthrough
from sensor_msgs.msg import Image

if colcon_ws.HAVE_LAUNCH_TESTING:
    import launch_testing
    import launch_testing.asserts

# Without launch_testing's plugin pytest would collect the classes below as plain unittests.
pytestmark = pytest.mark.skipif(not colcon_ws.HAVE_LAUNCH_TESTING,
                                reason='launch_testing is not installed')
MODEL = os.path.join(tempfile.mkdtemp(prefix='seg_ros_launch_'), 'passthrough.onnx')


@colcon_ws.launch_test
def generate_test_description():
    save_passthrough(MODEL, ['ground', 'thing', 'other'])
    return colcon_ws.segmentation_launch(model=MODEL, image='/test_camera/image',
                                         camera_info='/test_camera/camera_info')


class TestSegmentationLaunch(colcon_ws.NodeTestCase):

    def test_node_loads_model(self, proc_output):
        proc_output.assertWaitFor(f'loaded {MODEL}', timeout=30)

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


if colcon_ws.HAVE_LAUNCH_TESTING:
    @launch_testing.post_shutdown_test()
    class TestShutdown(unittest.TestCase):

        def test_exit_codes(self, proc_info):
            # ros2 launch stops the node with SIGINT: it stops its worker, shuts rclpy down and
            # exits 0 (doc/diagnostics.md), as test_node_reliability checks for SIGINT and
            # SIGTERM. Killed by the signal (-2, -15) would mean that shutdown path broke.
            launch_testing.asserts.assertExitCodes(proc_info, allowable_exit_codes=[0])
