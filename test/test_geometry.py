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

"""Camera geometry: pose conventions, intrinsics, distortion, ground and depth."""
import math

import cv2
import numpy as np
import pytest

from seg_ros.traversability import geometry

K = [500.0, 0.0, 320.0, 0.0, 480.0, 240.0, 0.0, 0.0, 1.0]


def test_optical_axes_in_body_frame():
    pose = geometry.CameraPose.from_xyzrpy([0, 0, 1, 0, 0, 0])
    # Optical z (forward) is body x, optical x (right) is -y, optical y (down) is -z.
    assert np.allclose(pose.rotation @ [0, 0, 1], [1, 0, 0])
    assert np.allclose(pose.rotation @ [1, 0, 0], [0, -1, 0])
    assert np.allclose(pose.rotation @ [0, 1, 0], [0, 0, -1])


def test_positive_pitch_looks_down_and_yaw_turns_left():
    down = geometry.CameraPose.from_xyzrpy([0, 0, 1, 0, 0.5, 0])
    axis = down.rotation @ [0, 0, 1]
    assert axis[2] < 0 and math.isclose(axis[2], -math.sin(0.5))
    left = geometry.CameraPose.from_xyzrpy([0, 0, 1, 0, 0, 0.5])
    assert (left.rotation @ [0, 0, 1])[1] > 0


def test_quaternion_matches_rpy():
    r, p, y = 0.1, -0.2, 0.7
    q = [math.sin(r / 2) * math.cos(p / 2) * math.cos(y / 2)
         - math.cos(r / 2) * math.sin(p / 2) * math.sin(y / 2),
         math.cos(r / 2) * math.sin(p / 2) * math.cos(y / 2)
         + math.sin(r / 2) * math.cos(p / 2) * math.sin(y / 2),
         math.cos(r / 2) * math.cos(p / 2) * math.sin(y / 2)
         - math.sin(r / 2) * math.sin(p / 2) * math.cos(y / 2),
         math.cos(r / 2) * math.cos(p / 2) * math.cos(y / 2)
         + math.sin(r / 2) * math.sin(p / 2) * math.sin(y / 2)]
    assert np.allclose(geometry.quaternion_matrix(*q), geometry.rotation_rpy(r, p, y))
    body = geometry.CameraPose.from_transform([1, 2, 3], q, optical=False)
    rpy = geometry.CameraPose.from_xyzrpy([1, 2, 3, r, p, y])
    assert np.allclose(body.rotation, rpy.rotation) and np.allclose(body.translation, [1, 2, 3])


def test_ground_intersection_of_centre_ray():
    pose = geometry.CameraPose.from_xyzrpy([0.5, 0, 1.0, 0, math.atan(1 / 4), 0])
    intr = geometry.Intrinsics.from_camera_info(K, [], 640, 480)
    pts, ok = geometry.ground_intersection(pose, intr.rays(np.array([320.0]),
                                                           np.array([240.0])))
    assert ok.all() and np.allclose(pts[0], [4.5, 0, 0])
    # Above the horizon: no ground.
    _, ok = geometry.ground_intersection(pose, intr.rays(np.array([320.0]), np.array([0.0])))
    assert not ok.any()


def _distort(model, d, x, y):
    """
    Project normalised pinhole coordinates through the lens (independent of seg_ros).

    plumb_bob / rational_polynomial: Brown-Conrady with k1 k2 p1 p2 k3 [k4 k5 k6] (the order of
    CameraInfo.D and OpenCV); equidistant: theta_d = theta (1 + k1 theta^2 + ... + k4 theta^8).
    """
    if model == 'equidistant':
        r = np.hypot(x, y)
        theta = np.arctan(r)
        k = d + [0.0] * (4 - len(d))
        theta_d = theta * (1 + k[0] * theta ** 2 + k[1] * theta ** 4 + k[2] * theta ** 6
                           + k[3] * theta ** 8)
        scale = np.where(r > 0, theta_d / np.where(r > 0, r, 1.0), 1.0)
        return x * scale, y * scale
    k1, k2, p1, p2, k3, k4, k5, k6 = (list(d) + [0.0] * 8)[:8]
    r2 = x * x + y * y
    radial = (1 + k1 * r2 + k2 * r2 ** 2 + k3 * r2 ** 3) / (1 + k4 * r2 + k5 * r2 ** 2
                                                            + k6 * r2 ** 3)
    return (x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x),
            y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y)


@pytest.mark.parametrize('model, d', [
    ('plumb_bob', [-0.3, 0.1, 0.001, -0.002, 0.0]),
    ('rational_polynomial', [-0.3, 0.1, 0.001, -0.002, 0.01, 0.05, 0.01, 0.002]),
    ('equidistant', [0.05, -0.01, 0.002, -0.0005]),
])
def test_distorted_rays_round_trip(model, d):
    intr = geometry.Intrinsics.from_camera_info(K, d, 640, 480, model)
    u, v = np.meshgrid(np.arange(0, 640, 37.0), np.arange(0, 480, 29.0))
    rays = intr.rays(u, v)
    # Each ray, sent through the lens model written out above, lands on its own pixel.
    xd, yd = _distort(model, d, rays[..., 0] / rays[..., 2], rays[..., 1] / rays[..., 2])
    assert np.abs(K[0] * xd + K[2] - u).max() < 0.05
    assert np.abs(K[4] * yd + K[5] - v).max() < 0.05
    # OpenCV's undistortPoints gives the same rays.
    pts = np.stack([u, v], -1).reshape(-1, 1, 2)
    k = np.array(K).reshape(3, 3)
    if model == 'equidistant':
        ref = cv2.fisheye.undistortPoints(pts, k, np.array(d))
    else:
        ref = cv2.undistortPoints(pts, k, np.array(d), criteria=(
            cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-12))
    np.testing.assert_allclose(rays[..., :2].reshape(-1, 2), ref.reshape(-1, 2), atol=1e-4)
    # And seg_ros's own projection takes them back.
    pu, pv = intr.project(rays.reshape(-1, 3))
    assert np.abs(pu - u.ravel()).max() < 0.05 and np.abs(pv - v.ravel()).max() < 0.05
    # Distortion really moves the corner rays away from the pinhole ones.
    pinhole = geometry.Intrinsics.from_camera_info(K, [], 640, 480).rays(u, v)
    assert np.abs(rays - pinhole).max() > 0.01


def test_camera_info_errors():
    with pytest.raises(ValueError, match='9 finite'):
        geometry.Intrinsics.from_camera_info([1, 2, 3], [], 640, 480)
    with pytest.raises(ValueError, match='not calibrated'):
        geometry.Intrinsics.from_camera_info([0.0] * 9, [], 640, 480)
    with pytest.raises(ValueError, match='image_rect'):
        geometry.Intrinsics.from_camera_info(K, [0.1, 0, 0, 0, 0], 640, 480, 'weird')
    with pytest.raises(ValueError, match='camera_pose'):
        geometry.CameraPose.from_xyzrpy([0, 0, 1])
    # Zero distortion with any model name is a pinhole camera.
    assert geometry.Intrinsics.from_camera_info(K, [0] * 5, 640, 480, '').D.size == 0


def test_depth_conversions_and_points():
    mm = np.array([[0, 1500], [65535, 2000]], np.uint16)
    m = geometry.depth_to_metres(mm)
    assert np.isnan(m[0, 0]) and m[0, 1] == pytest.approx(1.5)
    f = geometry.depth_to_metres(np.array([np.nan, np.inf, 0.0, -1.0, 2.5], np.float32))
    assert np.isnan(f[:4]).all() and f[4] == pytest.approx(2.5)
    with pytest.raises(ValueError, match='16UC1'):
        geometry.depth_to_metres(np.zeros(3, np.int32))
    pose = geometry.CameraPose.from_xyzrpy([0, 0, 1, 0, 0, 0])
    intr = geometry.Intrinsics.from_camera_info(K, [], 640, 480)
    rays = intr.rays(np.array([320.0, 570.0]), np.array([240.0, 240.0]))
    pts = geometry.depth_points(pose, rays, np.array([2.0, 2.0]))
    assert np.allclose(pts[0], [2, 0, 1]) and np.allclose(pts[1], [2, -1, 1])


def test_scaled_intrinsics():
    intr = geometry.Intrinsics.from_camera_info(K, [], 640, 480).scaled(320, 240)
    assert intr.K[0, 0] == 250 and intr.K[1, 2] == 120
