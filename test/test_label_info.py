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
segmentation/label_info (vision_msgs/LabelInfo), the confidence image and the colour image.

LabelInfo is published reliable and transient local once per model: a subscriber that
joins after the model loaded still gets it (what Nav2's semantic segmentation layer and
RViz rely on). The confidence image comes whenever the model has a confidence output and
someone subscribes; segmentation/functional_color is the functional image in the taxonomy's
colours, for people (RViz).
"""
from node_harness import answers_to, NodeProcess, publish_until
import numpy as np
import pytest
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
import ros_scene
from seg_ros.testing.synthetic import save_passthrough
from seg_ros.zoo import CAMVID_CLASSES
from sensor_msgs.msg import CameraInfo, Image

try:
    from vision_msgs.msg import LabelInfo
except ImportError:
    LabelInfo = None

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(LabelInfo is None, reason='vision_msgs is not installed')]


PROBE_NAME = 'seg_ros_label_info_probe'


def test_label_info_reaches_a_late_subscriber_and_confidence_is_published(tmp_path, probe):
    model = save_passthrough(str(tmp_path / 'conf.onnx'), CAMVID_CLASSES, with_confidence=True)
    with NodeProcess({'model_path': model, 'taxonomy': 'camvid'}) as node:
        assert node.wait_for_output('loaded'), node.output()
        got = []
        qos = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST,
                         reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL)
        # Created after the node published: only transient local delivers it.
        probe.node.create_subscription(LabelInfo, 'segmentation/label_info', got.append,
                                       qos)
        assert probe.wait(lambda: got, 20), 'no LabelInfo for a late subscriber'
        msg = got[0]
        assert [c.class_name for c in msg.class_map] == list(CAMVID_CLASSES)
        assert [c.class_id for c in msg.class_map] == list(range(len(CAMVID_CLASSES)))

        probe.subscribe(Image, 'segmentation/confidence')
        probe.subscribe(Image, 'segmentation/functional_color')
        image_pub = probe.publisher(Image, 'image', reliable=False, depth=1)
        info_pub = probe.publisher(CameraInfo, 'camera_info')
        assert probe.wait_matched(image_pub)
        labels = np.zeros((48, 64), np.uint8)
        labels[:, 32:] = 4      # sidewalk
        labels[:16] = 0         # sky

        def publish():
            stamp = probe.node.get_clock().now().to_msg()
            info_pub.publish(ros_scene.camera_info(stamp))
            image_pub.publish(ros_scene.image(labels, stamp))
            return stamp

        def answered(stamp):
            out = [answers_to(probe, t, stamp) for t in ('segmentation/confidence',
                                                         'segmentation/functional_color')]
            return all(out) and [m[-1] for m in out]

        done = publish_until(probe, publish, answered)
        assert done, node.output()
        conf, color = done[1]
        assert conf.encoding == 'mono8' and (conf.width, conf.height) == (64, 48)
        assert (np.frombuffer(conf.data, np.uint8) == 255).all()   # passthrough: 1.0
        assert color.encoding == 'rgb8'
        rgb = np.frombuffer(color.data, np.uint8).reshape(48, 64, 3)
        # camvid taxonomy: sidewalk -> traversable (0, 200, 0), sky -> unknown (black).
        expected = np.zeros((48, 64, 3), np.uint8)
        expected[16:, 32:] = (0, 200, 0)
        np.testing.assert_array_equal(rgb, expected)
