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

"""The robot's pose for the fused grid: a real tf2 buffer first, then nav_msgs/Odometry."""
import math

from builtin_interfaces.msg import Time as TimeMsg
from geometry_msgs.msg import TransformStamped
from nav_msgs.msg import Odometry
import pytest
from seg_ros.ros.odometry import PoseTracker

try:  # a pytestmark, not importorskip: see test_export.py
    import tf2_ros
except ImportError:
    tf2_ros = None
pytestmark = pytest.mark.skipif(tf2_ros is None, reason='tf2_ros (tf2_ros_py) is not installed')


def _stamp(t):
    return TimeMsg(sec=int(t), nanosec=int(round((t - int(t)) * 1e9)))


def _odometry(t, x, y, yaw, frame='odom', child='base_link'):
    msg = Odometry()
    msg.header.stamp = _stamp(t)
    msg.header.frame_id = frame
    msg.child_frame_id = child
    msg.pose.pose.position.x = x
    msg.pose.pose.position.y = y
    msg.pose.pose.orientation.z = math.sin(yaw / 2)
    msg.pose.pose.orientation.w = math.cos(yaw / 2)
    return msg


def test_tf_first():
    buffer = tf2_ros.Buffer()
    tf = TransformStamped()
    tf.header.stamp = _stamp(10.0)
    tf.header.frame_id = 'odom'
    tf.child_frame_id = 'base_link'
    tf.transform.translation.x = 2.0
    tf.transform.translation.y = -1.0
    tf.transform.rotation.z = math.sin(0.25)
    tf.transform.rotation.w = math.cos(0.25)
    buffer.set_transform(tf, 'test')
    tracker = PoseTracker(buffer)
    tracker.on_odometry(_odometry(10.0, 9.0, 9.0, 0.0))
    pose, source = tracker.lookup('odom', 'base_link', _stamp(10.0))
    assert source == 'tf' and (pose.x, pose.y) == (2.0, -1.0)
    assert pose.yaw == pytest.approx(0.5)
    # A stamp TF has nothing for (later than its last transform): the latest transform.
    pose, source = tracker.lookup('odom', 'base_link', _stamp(12.0))
    assert source == 'tf' and pose.x == 2.0
    # A frame pair TF does not know: the odometry, when its frames are the ones asked for.
    tracker.on_odometry(_odometry(10.0, 9.0, 9.0, 0.0, frame='map'))
    pose, source = tracker.lookup('map', 'base_link', _stamp(10.0))
    assert source == 'odometry' and pose.x == 9.0


def test_odometry_interpolated_to_the_stamp():
    tracker = PoseTracker(tf2_ros.Buffer())
    tracker.on_odometry(_odometry(1.0, 0.0, 0.0, 3.0))
    tracker.on_odometry(_odometry(2.0, 1.0, 2.0, -3.0))   # yaw wraps through pi
    pose, source = tracker.lookup('odom', 'base_link', _stamp(1.5))
    assert source == 'odometry' and (pose.x, pose.y) == pytest.approx((0.5, 1.0))
    assert abs(abs(pose.yaw) - math.pi) < 1e-6
    assert tracker.lookup('odom', 'base_link', _stamp(5.0))[0].x == 1.0     # clamped
    assert tracker.lookup('odom', 'base_link', _stamp(0.0))[0].x == 1.0     # no stamp: latest
    # Time going back (a bag loops) starts the history afresh.
    tracker.on_odometry(_odometry(0.5, 7.0, 0.0, 0.0))
    assert tracker.lookup('odom', 'base_link', _stamp(1.5))[0].x == 7.0


def test_missing_or_mismatched_sources_are_explained():
    tracker = PoseTracker(tf2_ros.Buffer())
    with pytest.raises(LookupError, match='no pose of base_link in odom.*nav_msgs/Odometry'):
        tracker.lookup('odom', 'base_link', _stamp(1.0))
    tracker.on_odometry(_odometry(1.0, 0.0, 0.0, 0.0, child='base_footprint'))
    with pytest.raises(LookupError, match='base_footprint in odom.*grid.frame_id'):
        tracker.lookup('odom', 'base_link', _stamp(1.0))
    tracker.on_odometry(_odometry(2.0, 0.0, 0.0, 0.0, frame='', child=''))
    assert tracker.lookup('odom', 'base_link', _stamp(2.0))[1] == 'odometry'


def test_bad_poses_are_refused_with_a_reason_and_the_next_good_one_is_used():
    """A NaN quaternion froze the fused grid for good; |q| = 2 gave the wrong yaw."""
    tracker = PoseTracker(tf2_ros.Buffer())
    tracker.on_odometry(_odometry(1.0, 0.0, 0.0, 0.0))
    bad = _odometry(1.1, 0.1, 0.0, 0.0)
    bad.pose.pose.orientation.z = float('nan')
    tracker.on_odometry(bad)
    assert 'non-finite pose' in tracker.take_rejected()
    nan_position = _odometry(1.2, float('nan'), 0.0, 0.0)
    tracker.on_odometry(nan_position)
    assert 'non-finite pose' in tracker.take_rejected()
    zero = _odometry(1.3, 0.0, 0.0, 0.0)
    zero.pose.pose.orientation.w = 0.0
    tracker.on_odometry(zero)
    assert 'quaternion of length 0' in tracker.take_rejected()
    assert tracker.take_rejected() is None          # reported once
    long = _odometry(2.0, 1.0, 0.0, 0.0)
    long.pose.pose.orientation.z = 2 * math.sin(0.4)   # yaw 0.8 at |q| = 2
    long.pose.pose.orientation.w = 2 * math.cos(0.4)
    tracker.on_odometry(long)
    pose, _ = tracker.lookup('odom', 'base_link', _stamp(2.0))
    assert pose.yaw == pytest.approx(0.8) and pose.x == 1.0
    pose, _ = tracker.lookup('odom', 'base_link', _stamp(1.5))   # between the good ones
    assert all(math.isfinite(v) for v in (pose.x, pose.y, pose.yaw))


def test_a_pose_far_from_the_image_stamp_is_refused():
    """Odometry that stopped while the robot drove on left phantom obstacles, unreported."""
    tracker = PoseTracker(tf2_ros.Buffer())
    tracker.on_odometry(_odometry(10.0, 0.0, 0.0, 0.0))
    tracker.on_odometry(_odometry(10.1, 0.1, 0.0, 0.0))
    assert tracker.lookup('odom', 'base_link', _stamp(10.15), max_age=0.1)[0].x == 0.1
    with pytest.raises(LookupError, match=r'covers 10.000..10.100, more than tf_tolerance 0.1'):
        tracker.lookup('odom', 'base_link', _stamp(12.0), max_age=0.1)   # odometry stopped
    with pytest.raises(LookupError, match='tf_tolerance'):
        tracker.lookup('odom', 'base_link', _stamp(20.0), max_age=0.1)   # stamped 10 s ahead
    # TF alike: its newest transform 2 s before the image is not the robot's pose then.
    buffer = tf2_ros.Buffer()
    tf = TransformStamped()
    tf.header.stamp = _stamp(10.0)
    tf.header.frame_id, tf.child_frame_id = 'odom', 'base_link'
    tf.transform.rotation.w = 1.0
    buffer.set_transform(tf, 'test')
    with pytest.raises(LookupError, match=r'stamped \+2.000 s from the image, beyond'):
        PoseTracker(buffer).lookup('odom', 'base_link', _stamp(12.0), max_age=0.1)
    assert PoseTracker(buffer).lookup('odom', 'base_link', _stamp(10.05), max_age=0.1)[1] == 'tf'
