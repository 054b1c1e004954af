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

"""The Nav2 clouds' pure NumPy parts: dynamic split, clearing points, camera frame, legends."""
import numpy as np
import pytest
from seg_ros.traversability import geometry
from seg_ros.traversability import legend
from seg_ros.traversability import nav2_clouds
from seg_ros.traversability import taxonomy
from seg_ros.traversability.grid import GridSpec
from seg_ros.zoo import CAMVID_CLASSES

SPEC = GridSpec(0.1, 0.0, 4.0, -2.0, 2.0)


def _xy_cells(points):
    return {(int(np.floor((x - SPEC.x_min) / SPEC.resolution)),
             int(np.floor((y - SPEC.y_min) / SPEC.resolution))) for x, y, _ in points}


def test_split_dynamic_by_class():
    tax = taxonomy.load(taxonomy.resolve('camvid'), CAMVID_CLASSES)
    ids = np.array([tax.id_of('obstacle'), tax.id_of('dynamic_obstacle'), tax.id_of('obstacle')])
    pts = np.arange(9, dtype=np.float32).reshape(3, 3)
    static, dynamic = nav2_clouds.split_dynamic(pts, ids, nav2_clouds.dynamic_ids(tax.names))
    np.testing.assert_array_equal(static, pts[[0, 2]])
    np.testing.assert_array_equal(dynamic, pts[[1]])
    with pytest.raises(ValueError, match='3 obstacle points but 2 class ids'):
        nav2_clouds.split_dynamic(pts, ids[:2], np.array([3]))


def test_clearing_points_cover_free_cells_and_unobstructed_rays_only():
    g = np.full(SPEC.shape, -1, np.int8)
    g[10:30, 0:20] = 0                    # free ground straight ahead, 0..2 m, |y| < 1
    g[10:30, 20:30] = 60                  # graded ground (road) to 3 m: not an obstacle
    g[17:19, 22] = 100                    # an obstacle at x 2.2..2.3, y -0.3..-0.1
    pts = nav2_clouds.clearing_points(g, SPEC, (0.0, 0.0), max_range=3.2, reach=0.9,
                                      full=True)
    assert pts.dtype == np.float32 and np.all(pts[:, 2] == 0)
    cells = _xy_cells(pts)
    free = {(c, r) for r, c in zip(*np.nonzero((g >= 0) & (g < 100)))}
    assert free <= cells
    assert (22, 17) not in cells and (22, 18) not in cells
    ends = pts[np.hypot(pts[:, 0], pts[:, 1]) > 3.1]
    # Rays along known ground reach 3 m >= 0.9 * 3.2: they end at the range ...
    assert len(ends) > 0 and np.allclose(np.hypot(ends[:, 0], ends[:, 1]), 3.2, atol=1e-4)
    # ... except those that cross the obstacle (bearings -0.135..-0.043 rad) or run into
    # unknown before 0.9 * range (beyond |y| < 1 at 2.88 m: |bearing| > 0.355).
    bearings = np.arctan2(ends[:, 1], ends[:, 0])
    assert not np.any((bearings > -0.125) & (bearings < -0.053))
    assert np.all(np.abs(bearings) < 0.36)
    assert np.any(bearings < -0.2) and np.any((bearings > -0.04) & (bearings <= 0.0))
    assert np.any(bearings > 0.2)


def test_free_boundary_is_the_free_cells_with_a_non_free_neighbour():
    free = np.zeros((6, 7), bool)
    free[1:5, 0:5] = True                 # a 4 x 5 block touching the grid's left edge
    edge = nav2_clouds.free_boundary(free)
    expected = free.copy()
    expected[2:4, 1:4] = False            # the interior: all four neighbours free
    np.testing.assert_array_equal(edge, expected)


def test_boundary_clearing_cloud_is_a_small_subset_of_the_full_one():
    g = np.full(SPEC.shape, -1, np.int8)
    g[5:35, 0:35] = 0                     # a large free region
    g[18:22, 20:22] = 100                 # an obstacle inside it
    full = nav2_clouds.clearing_points(g, SPEC, (0.0, 0.0), 3.2, full=True)
    boundary = nav2_clouds.clearing_points(g, SPEC, (0.0, 0.0), 3.2)
    cells_full, cells_boundary = _xy_cells(full), _xy_cells(boundary)
    assert cells_boundary <= cells_full
    # The obstacle's free neighbours and the region's rim are in it; the interior is not.
    assert {(19, 19), (22, 19), (20, 17), (0, 20), (34, 20)} <= cells_boundary
    assert (10, 20) not in cells_boundary and (10, 20) in cells_full
    assert len(boundary) < len(full) / 4
    # The same ray ends (the fan spans the bearings of every free cell): all the points the
    # boundary cloud leaves out are interior cell centres.
    left_out = {tuple(p) for p in full.tolist()} - {tuple(p) for p in boundary.tolist()}
    assert len(left_out) == len(full) - len(boundary)
    centres = np.array(sorted(left_out))[:, :2] / SPEC.resolution - 0.5
    np.testing.assert_allclose(centres, np.round(centres), atol=1e-3)


def test_rays_that_leave_the_grid_end_at_its_edge():
    g = np.zeros(SPEC.shape, np.int8)     # all free: rays leave the grid before 6 m
    pts = nav2_clouds.clearing_points(g, SPEC, (0.0, 0.0), max_range=6.0)
    r = np.hypot(pts[:, 0], pts[:, 1])
    assert r.max() < np.hypot(4.0, 2.0) + 0.1
    assert np.all((pts[:, 0] <= 4.0) & (np.abs(pts[:, 1]) <= 2.0))


def test_no_free_cells_no_points():
    g = np.full(SPEC.shape, -1, np.int8)
    assert nav2_clouds.clearing_points(g, SPEC, (0.0, 0.0), 3.0).shape == (0, 3)


def test_to_camera_is_the_inverse_of_the_pose():
    pose = geometry.CameraPose.from_xyzrpy([0.2, 0.1, 1.0, 0.05, 0.3, 0.4])
    pts = np.array([[1.0, 0.5, 0.0], [3.0, -1.0, 0.1]])
    cam = nav2_clouds.to_camera(pts, pose)
    np.testing.assert_allclose(cam @ pose.rotation.T + pose.translation, pts, atol=1e-5)
    assert np.all(cam[:, 2] > 0)          # in front of the camera (optical z forward)


def test_legends_name_every_class_in_its_colour():
    tax = taxonomy.load(taxonomy.resolve('camvid'), CAMVID_CLASSES)
    entries = legend.taxonomy_entries(tax)
    assert [name.split(' ')[0] for name, _ in entries] == list(tax.names)
    assert [c for _, c in entries] == [tuple(int(v) for v in c) for c in tax.palette]
    img = np.zeros((100, 400, 3), np.uint8)
    out = legend.with_legend(img, entries)
    assert out.shape[1] == 400 and out.shape[0] > 100
    band = out[100:].reshape(-1, 3)
    for _, color in entries:
        if color != (0, 0, 0):
            assert (band == color).all(axis=1).any(), color
    grid_out = legend.with_legend(img, legend.grid_entries())
    assert (grid_out[100:].reshape(-1, 3) == (112, 137, 134)).all(axis=1).any()
