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
The node's outputs: the lifecycle publishers, keyed by topic, and the LabelInfo publisher.

*configure* creates them (:meth:`Outputs.create`), *cleanup* destroys them; while the node is
inactive a lifecycle publisher drops what is published on it. Every output is reliable with
depth 5, so RViz's default subscriptions receive them (best-effort subscribers work too), and
their incompatible-QoS events go to /diagnostics through the node's
:class:`seg_ros.ros.health.QosMonitor`.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

from nav_msgs.msg import OccupancyGrid
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from seg_ros.ros import label_info
from seg_ros.ros.health import QosMonitor
from sensor_msgs.msg import Image, PointCloud2

LABELS = 'segmentation/labels'
OVERLAY = 'segmentation/overlay'
CONFIDENCE = 'segmentation/confidence'
FUNCTIONAL = 'segmentation/functional'
FUNCTIONAL_COLOR = 'segmentation/functional_color'
GRID = 'traversability/grid'
OBSTACLES = 'traversability/obstacles'
# Nav2's ObstacleLayer: dynamic obstacles marked apart, free space to clear with.
DYNAMIC_OBSTACLES = 'traversability/dynamic_obstacles'
CLEARING = 'traversability/clearing'
FUSED_GRID = 'traversability/fused_grid'

TOPICS: dict[str, Any] = {
    LABELS: Image, OVERLAY: Image, CONFIDENCE: Image, FUNCTIONAL: Image, FUNCTIONAL_COLOR: Image,
    GRID: OccupancyGrid, OBSTACLES: PointCloud2, DYNAMIC_OBSTACLES: PointCloud2,
    CLEARING: PointCloud2, FUSED_GRID: OccupancyGrid,
}
QOS = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE, history=HistoryPolicy.KEEP_LAST)


class Outputs:
    """The publishers of one lifecycle node, created at configure and destroyed at cleanup."""

    def __init__(self, node: Any, qos: QosMonitor) -> None:
        self._node = node
        self._qos = qos
        self._pubs: dict[str, Any] = {}
        self._label_info: Any = None

    def create(self) -> None:
        """Create every output (a second call without :meth:`destroy` is an error)."""
        if self._pubs:
            raise RuntimeError('the outputs exist already')
        for topic, msg_type in TOPICS.items():
            self._pubs[topic] = self._node.create_lifecycle_publisher(
                msg_type, topic, QOS, event_callbacks=self._qos.publisher(topic, QOS))
        # Class names (transient local): sent once per model load, kept for late subscribers.
        self._label_info = label_info.create_publisher(self._node)

    def destroy(self) -> None:
        """Destroy what :meth:`create` made (whatever part of it exists)."""
        for publisher in self._pubs.values():
            self._node.destroy_lifecycle_publisher(publisher)
        self._pubs = {}
        if self._label_info is not None:
            self._node.destroy_publisher(self._label_info)
            self._label_info = None

    def publish(self, topic: str, msg: Any) -> None:
        """Publish ``msg`` on one of :data:`TOPICS`."""
        self._pubs[topic].publish(msg)

    def wanted(self, topic: str) -> bool:
        """Whether anyone subscribes to ``topic`` (outputs that cost time are skipped if not)."""
        return self._pubs[topic].get_subscription_count() > 0

    def publish_label_info(self, classes: Sequence[str], stamp: Any) -> bool:
        """Publish the model's class names; False without vision_msgs or before configure."""
        publisher: Optional[Any] = self._label_info
        if publisher is None:
            return False
        publisher.publish(label_info.message(classes, stamp))
        return True
