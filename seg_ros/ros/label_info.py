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
The model's class names as ``vision_msgs/LabelInfo`` on ``segmentation/label_info``.

A label image holds class ids; LabelInfo says what they mean. It is published once per loaded
model, reliable and transient local, so a consumer that starts later (RViz, Nav2's semantic
segmentation layer, a logger) still gets it: the convention of REP-2015-style label topics
and of ``vision_msgs``. vision_msgs is optional: where it is not installed the node runs
without this topic (and says so once in its log).
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

try:
    from vision_msgs.msg import LabelInfo, VisionClass
except ImportError:  # pragma: no cover - depends on the ROS install
    LabelInfo = VisionClass = None

TOPIC = 'segmentation/label_info'
QOS = QoSProfile(depth=1, history=HistoryPolicy.KEEP_LAST,
                 reliability=ReliabilityPolicy.RELIABLE,
                 durability=DurabilityPolicy.TRANSIENT_LOCAL)


def available() -> bool:
    """Whether vision_msgs is installed."""
    return LabelInfo is not None


def create_publisher(node: Any) -> Optional[Any]:
    """Return the LabelInfo publisher of ``node``, or None without vision_msgs."""
    if LabelInfo is None:
        return None
    return node.create_publisher(LabelInfo, TOPIC, QOS)


def message(classes: Sequence[str], stamp: Any, frame_id: str = '',
            threshold: float = 0.0) -> Any:
    """Build the LabelInfo of a class list (class id = index in ``classes``)."""
    if LabelInfo is None:
        raise RuntimeError('vision_msgs is not installed')
    msg = LabelInfo()
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.class_map = [VisionClass(class_id=i, class_name=str(name))
                     for i, name in enumerate(classes)]
    msg.threshold = float(threshold)
    return msg
