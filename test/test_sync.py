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

"""Stamp, frame and age matching of depth and camera_info, and the empty-input checks."""
import numpy as np
from seg_ros.ros import sync

S = sync.NS


def _buffer(stamps, frame='cam', size=8):
    buf = sync.StreamBuffer('depth', '/depth', size=size)
    for i, t in enumerate(stamps):
        buf.add(int(t * S), frame, f'msg{i}', now=float(i))
    return buf


def test_nearest_within_tolerance_is_taken():
    buf = _buffer([10.0, 10.033, 10.066, 10.1])
    found = buf.match_nearest(int(10.07 * S), 'cam', 0.01)
    assert found.problem is None and found.item.msg == 'msg2'


def test_nothing_received_says_so():
    found = sync.StreamBuffer('depth', '/depth').match_nearest(S, 'cam', 0.05)
    assert found.item is None and 'no depth on /depth (none received yet)' in found.problem


def test_stopped_stream_names_the_gap():
    buf = _buffer([10.0, 10.1])           # received at monotonic 0 and 1
    found = buf.match_nearest(int(71.3 * S), 'cam', 0.05, now=62.0)
    assert found.item is None
    assert 'no depth on /depth for 61.0 s' in found.problem
    assert '61.200 s before the image' in found.problem and 'stream stopped' in found.problem


def test_stamped_in_the_future_or_off():
    buf = _buffer([110.0, 110.1])
    found = buf.match_nearest(int(10.0 * S), 'cam', 0.05, now=1.1)
    assert found.item is None and '100.000 s after the image' in found.problem
    assert 'same clock' in found.problem
    found = buf.match_nearest(int(210.1 * S), 'cam', 0.05, now=1.1)
    assert '100.000 s before the image' in found.problem and 'same clock' in found.problem


def test_other_frame_refused_unless_equivalent():
    buf = _buffer([10.0], frame='depth_optical')
    found = buf.match_nearest(10 * S, 'color_optical', 0.05)
    assert found.item is None and '"depth_optical"' in found.problem
    assert 'sync.equivalent_frames' in found.problem
    assert buf.match_nearest(10 * S, 'color_optical', 0.05, ('depth_optical',)).item
    assert buf.match_nearest(10 * S, '', 0.05).item   # an unnamed image frame: stamps decide


def test_buffer_keeps_only_the_last_few():
    buf = _buffer([float(t) for t in range(20)], size=4)
    assert buf.match_nearest(3 * S, 'cam', 0.5).item is None
    assert buf.match_nearest(17 * S, 'cam', 0.5).item.msg == 'msg17'


def test_camera_info_age():
    info = sync.StreamBuffer('camera_info', '/camera_info', size=1)
    info.add(int(10 * S), 'cam', 'k', now=0.0)
    assert info.match_recent(int(10.5 * S), 'cam', 1.0).item.msg == 'k'
    old = info.match_recent(int(40 * S), 'cam', 1.0)
    assert old.item is None and '30.000 s before the image' in old.problem
    assert 'sync.max_age' in old.problem
    info.add(0, 'cam', 'unstamped', now=1.0)
    assert 'not stamped' in info.match_recent(int(40 * S), 'cam', 1.0).problem
    assert info.match_recent(0, 'cam', 1.0).item.msg == 'unstamped'


def test_wait_for_returns_early_on_a_silent_stream():
    buf = sync.StreamBuffer('depth', '/depth')
    buf.wait_for(S, 0.05, timeout_s=5.0)      # empty: not waited for (the test would hang)
    buf.add(0, 'cam', 'old', now=-10.0)       # silent for 10 s: not waited for either
    buf.wait_for(100 * S, 0.05, timeout_s=5.0)


def test_depth_without_information():
    assert sync.depth_content_problem(np.full((4, 5), np.nan, np.float32), '/d') is not None
    assert sync.depth_content_problem(np.full((4, 5), np.inf, np.float32), '/d') is not None
    assert sync.depth_content_problem(np.full((4, 5), -1.0, np.float32), '/d') is not None
    text = sync.depth_content_problem(np.zeros((4, 5), np.uint16), '/d')
    assert 'no valid pixel (5x4, all NaN, inf, zero or negative)' in text
    partial = np.zeros((4, 5), np.uint16)
    partial[1, 2] = 1500
    assert sync.depth_content_problem(partial, '/d') is None


K = [500.0, 0, 320, 0, 500, 240, 0, 0, 1]


def test_camera_info_without_information():
    assert sync.camera_info_problem(K, [0.0] * 5, 640, 480, (640, 480), '/ci') is None
    assert sync.camera_info_problem(K, [0.0] * 5, 320, 240, (640, 480), '/ci') is None
    nan_d = sync.camera_info_problem(K, [float('nan')] + [0.0] * 4, 640, 480, (640, 480), '/ci')
    assert 'NaN or inf in d (distortion)' in nan_d
    inf_k = list(K)
    inf_k[0] = float('inf')
    assert 'in k' in sync.camera_info_problem(inf_k, [], 640, 480, (640, 480), '/ci')
    zero = [0.0] * 9
    assert 'not calibrated' in sync.camera_info_problem(zero, [], 640, 480, (640, 480), '/ci')
    other = sync.camera_info_problem(K, [], 640, 360, (640, 480), '/ci')
    assert '640x360 but the image is 640x480' in other


def test_depth_of_another_size():
    assert sync.depth_size_problem(np.zeros((480, 640)), (480, 640), '/d') is None
    text = sync.depth_size_problem(np.zeros((240, 320)), (480, 640), '/d')
    assert 'depth on /d is 320x240, the image 640x480' in text and 'register' in text
