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
The camera pose from TF at the image's stamp, for the traversability projection.

A robot's camera moves with the robot (a pan-tilt head, a suspension, a robot arm): the pose
that projects a frame is the one at that frame's capture time, not the newest one. The
lookup asks tf2 for ``grid frame <- image frame`` at the image's stamp; when tf2 cannot give
it there (the newest transform is older than the image, as with a slow TF publisher), the
newest transform is accepted if its stamp lies within ``tolerance`` seconds of the image's.
Anything else is a failure with a message that says why; the node then falls back to the
``camera_pose`` parameter and reports that on /diagnostics.

tf2_ros here is the Python package ``tf2_ros_py`` (on a robot: ``ros-<distro>-tf2-ros-py``).
Without it, :class:`TfPose` reports that on every lookup.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from rclpy.duration import Duration
from rclpy.time import Time
from seg_ros.common.conversions import stamp_seconds

try:
    from tf2_ros import Buffer, TransformException, TransformListener
except ImportError:  # pragma: no cover - depends on the ROS install
    Buffer = TransformListener = None
    TransformException = Exception


@dataclass(frozen=True)
class Lookup:
    """A transform found for one image, or why there is none."""

    translation: Optional[tuple[float, float, float]]
    rotation: Optional[tuple[float, float, float, float]]   # quaternion x, y, z, w
    problem: str = ''        # empty when the transform was found
    age: float = 0.0         # image stamp minus the transform's stamp (s); 0 when exact

    @property
    def ok(self) -> bool:
        return self.translation is not None


class TfPose:
    """A tf2 Buffer and TransformListener on ``node``, looked up at image stamps."""

    def __init__(self, node: Any) -> None:
        self.available = Buffer is not None
        self._buffer = None
        if self.available:
            self._buffer = Buffer(node=node)
            self._listener = TransformListener(self._buffer, node)

    def close(self) -> None:
        """Stop listening to /tf (lifecycle cleanup): the node's subscriptions go away."""
        if self._buffer is not None:
            self._listener.unregister()
            self._buffer = None

    @property
    def buffer(self) -> Any:
        """Return the tf2 Buffer (None without tf2_ros), shared with the node's other lookups."""
        return self._buffer

    def lookup(self, target: str, source: str, stamp: Any, tolerance: float) -> Lookup:
        """Return ``target <- source`` at ``stamp`` (builtin_interfaces/Time) or the problem."""
        if self._buffer is None:
            return Lookup(None, None, 'tf2_ros (package tf2_ros_py) is not installed')
        if not source:
            return Lookup(None, None, 'the image has no header.frame_id')
        when = Time.from_msg(stamp)
        try:
            tf = self._buffer.lookup_transform(target, source, when)
            age = 0.0
        except TransformException as exact:
            try:
                tf = self._buffer.lookup_transform(target, source, Time())
            except TransformException as exc:
                return Lookup(None, None, f'no TF from {source} to {target}: {exc}')
            age = stamp_seconds(stamp) - stamp_seconds(tf.header.stamp)
            # A static transform (stamp 0) is valid at every time.
            is_static = tf.header.stamp.sec == 0 and tf.header.stamp.nanosec == 0
            if not is_static and abs(age) > tolerance:
                return Lookup(None, None, f'no TF from {source} to {target} at the image '
                              f'stamp {stamp_seconds(stamp):.3f} ({exact}); the newest is '
                              f'{age:+.3f} s away, beyond tf_tolerance {tolerance} s')
        t, q = tf.transform.translation, tf.transform.rotation
        return Lookup((t.x, t.y, t.z), (q.x, q.y, q.z, q.w), age=age)

    def can_transform(self, target: str, source: str) -> bool:
        """Whether any transform ``target <- source`` is known (for tests and diagnostics)."""
        return self._buffer is not None and self._buffer.can_transform(
            target, source, Time(), Duration(seconds=0.0))
