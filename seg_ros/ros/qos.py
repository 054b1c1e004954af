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
The camera-stream QoS: rclpy's ``qos_profile_sensor_data`` at the depth the stream wants.

The node's image, camera_info and depth subscriptions, its odometry subscription, and the
benchmark and soak publishers all take it from here, so they cannot drift apart: best effort,
keep last, volatile; only the depth (and, where a parameter asks, reliability) differ.
"""
from __future__ import annotations

import copy

from rclpy.qos import qos_profile_sensor_data, QoSProfile, ReliabilityPolicy


def sensor_data(depth: int = 1, reliable: bool = False) -> QoSProfile:
    """Return ``qos_profile_sensor_data`` with ``depth`` (and reliable when asked)."""
    profile = copy.copy(qos_profile_sensor_data)
    profile.depth = depth
    if reliable:
        profile.reliability = ReliabilityPolicy.RELIABLE
    return profile
