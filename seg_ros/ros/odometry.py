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
Where the robot is in the fixed frame, for the fused grid: TF first, else nav_msgs/Odometry.

Most robots publish ``odom -> base_link`` on TF (their odometry node or robot_localization);
some only publish nav_msgs/Odometry. :class:`PoseTracker` asks TF for the grid frame in the
fixed frame at the image's stamp (or the latest transform when TF has nothing that recent) and
falls back to the Odometry messages it has seen on ``odom``, interpolated to the stamp. The
fused grid itself (:mod:`seg_ros.traversability.fusion`) never sees a ROS type.
"""
from __future__ import annotations

from collections import deque
import math
import threading
from typing import Any, Optional

from nav_msgs.msg import Odometry
import numpy as np
from rclpy.duration import Duration
from rclpy.time import Time
from seg_ros.common.conversions import stamp_seconds
from seg_ros.traversability.fusion import Pose2D

HISTORY = 400   # Odometry messages kept: 4 s at 100 Hz, enough to bracket an image's stamp


class PoseTracker:
    """The pose of a robot frame in a fixed frame at an image's time."""

    def __init__(self, tf_buffer: Optional[Any] = None, history: int = HISTORY) -> None:
        self._tf = tf_buffer
        self._lock = threading.Lock()
        self._odom: deque[tuple[float, Pose2D]] = deque(maxlen=history)
        self._odom_frames = ('', '')
        self._rejected: Optional[str] = None

    def take_rejected(self) -> Optional[str]:
        """Return why the last refused Odometry was refused (once), or None."""
        with self._lock:
            rejected, self._rejected = self._rejected, None
        return rejected

    def on_odometry(self, msg: Odometry) -> None:
        """Keep one nav_msgs/Odometry (subscription callback on ``odom``); refuse a bad one."""
        p = msg.pose.pose
        t = stamp_seconds(msg.header.stamp)
        try:
            pose = Pose2D.from_transform((p.position.x, p.position.y, p.position.z),
                                         (p.orientation.x, p.orientation.y, p.orientation.z,
                                          p.orientation.w))
        except ValueError as exc:
            with self._lock:
                self._rejected = f'the Odometry on odom stamped {t:.3f} has {exc}: ignored'
            return
        with self._lock:
            if self._odom and t < self._odom[-1][0]:
                self._odom.clear()      # time went back (bag loop, simulation reset)
            self._odom.append((t, pose))
            self._odom_frames = (msg.header.frame_id, msg.child_frame_id)

    def lookup(self, fixed_frame: str, robot_frame: str, stamp: Any,
               max_age: float = math.inf) -> tuple[Pose2D, str]:
        """
        Return the pose of ``robot_frame`` in ``fixed_frame`` at ``stamp`` and its source.

        A pose more than ``max_age`` seconds from the image's stamp (TF's newest transform, or
        the odometry's first or last message) is refused: the robot may have moved since, and
        the frame would be added where it was not taken. So is a pose with NaN or a zero
        quaternion. Raises ``LookupError`` with a message that names both sources and what to
        provide.
        """
        tf_problem = 'tf2_ros is not installed'
        t_image = stamp_seconds(stamp)
        if self._tf is not None:
            try:
                tf = self._lookup_tf(fixed_frame, robot_frame, stamp)
                t, q = tf.transform.translation, tf.transform.rotation
                pose = Pose2D.from_transform((t.x, t.y, t.z), (q.x, q.y, q.z, q.w))
                t_tf = stamp_seconds(tf.header.stamp)
                if t_image > 0 and t_tf > 0 and abs(t_image - t_tf) > max_age:
                    raise ValueError(f'the newest transform is stamped {t_image - t_tf:+.3f} s '
                                     f'from the image, beyond tf_tolerance {max_age:g} s')
            except Exception as exc:  # noqa: B902 - tf2 raises LookupException and relatives
                tf_problem = str(exc).strip() or type(exc).__name__
            else:
                return pose, 'tf'
        with self._lock:
            history = list(self._odom)
            frames = self._odom_frames
        if not history:
            rejected = self.take_rejected()
            raise LookupError(
                f'no pose of {robot_frame} in {fixed_frame}: TF has none ({tf_problem}) and no '
                + (f'usable nav_msgs/Odometry arrived on odom ({rejected})' if rejected else
                   'nav_msgs/Odometry arrived on odom')
                + '; publish one of them, or set fusion.enabled false')
        parent, child = frames
        if (parent and parent != fixed_frame) or (child and child != robot_frame):
            raise LookupError(
                f'the Odometry on odom is {child or "?"} in {parent or "?"}, but the fused grid '
                f'needs {robot_frame} in {fixed_frame} (TF has none: {tf_problem}); set '
                'fusion.odom_frame and grid.frame_id to match, or publish the TF')
        if t_image > 0 and not history[0][0] - max_age <= t_image <= history[-1][0] + max_age:
            rejected = self.take_rejected()
            raise LookupError(
                f'no pose of {robot_frame} in {fixed_frame} at the image stamp {t_image:.3f}: '
                f'TF has none ({tf_problem}) and the Odometry on odom covers '
                f'{history[0][0]:.3f}..{history[-1][0]:.3f}, more than tf_tolerance '
                f'{max_age:g} s away (the odometry stopped, or the image is stamped by '
                f'another clock){"; " + rejected if rejected else ""}')
        return interpolate(history, t_image), 'odometry'

    def _lookup_tf(self, fixed_frame: str, robot_frame: str, stamp: Any) -> Any:
        """At the image's time if TF has it, else the latest transform."""
        assert self._tf is not None
        when = Time.from_msg(stamp)
        if when.nanoseconds and self._tf.can_transform(fixed_frame, robot_frame, when,
                                                       Duration(seconds=0.0)):
            return self._tf.lookup_transform(fixed_frame, robot_frame, when)
        return self._tf.lookup_transform(fixed_frame, robot_frame, Time())


def interpolate(history: list[tuple[float, Pose2D]], t: float) -> Pose2D:
    """
    Pose at time ``t`` from time-ordered ``(t, pose)`` samples; clamped at both ends.

    A stamp of 0 (an image without a time) takes the latest pose.
    """
    if t <= 0 or len(history) == 1:
        return history[-1][1]
    times = np.array([h[0] for h in history])
    xs = np.array([h[1].x for h in history])
    ys = np.array([h[1].y for h in history])
    yaws = np.unwrap(np.array([h[1].yaw for h in history]))
    yaw = float(np.interp(t, times, yaws))
    return Pose2D(float(np.interp(t, times, xs)), float(np.interp(t, times, ys)),
                  math.atan2(math.sin(yaw), math.cos(yaw)))
