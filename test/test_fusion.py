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
The fused grid against a synthetic scene seen from a moving robot, and the confidence mask.

The scene is defined in the fixed frame (odom); the robot drives through it, each frame is
rendered analytically from the camera's pose in odom, projected by the per-frame pipeline in
base_link and fused with the robot's pose. Answers come from the scene's geometry.
"""
import math

import numpy as np
import pytest

from seg_ros import traversability
from seg_ros.testing import scene
from seg_ros.traversability import fusion
from seg_ros.traversability import geometry
from seg_ros.traversability.fusion import FusedGrid, FusionConfig, Pose2D
from seg_ros.traversability.grid import GridSpec
from seg_ros.zoo import CAMVID_CLASSES

SKY, BUILDING, ROAD, SIDEWALK, PEDESTRIAN, VOID = 0, 1, 3, 4, 9, 11
K = [500.0, 0.0, 320.0, 0.0, 500.0, 240.0, 0.0, 0.0, 1.0]
CAMERA = [0.0, 0.0, 1.0, 0.0, 0.3, 0.0]   # camera body in base_link
INTR = geometry.Intrinsics.from_camera_info(K, [], 640, 480)


def make_trav(**params):
    values = {'taxonomy': 'camvid', 'camera_pose': CAMERA}
    values.update(params)
    trav = traversability.Traversability(traversability.from_parameters(values),
                                         CAMVID_CLASSES)
    trav.set_camera_info(K, [], 640, 480)
    return trav


def camera_in_odom(pose):
    """Return the camera's body pose in odom for the robot at ``pose`` (xyzrpy, for the oracle)."""
    c, s = math.cos(pose.yaw), math.sin(pose.yaw)
    x = pose.x + c * CAMERA[0] - s * CAMERA[1]
    y = pose.y + s * CAMERA[0] + c * CAMERA[1]
    return [x, y, CAMERA[2], CAMERA[3], CAMERA[4], pose.yaw + CAMERA[5]]


def see(trav, sc, pose):
    labels, _ = scene.render(sc, INTR, camera_in_odom(pose))
    return trav.process(labels), labels


def value_at(grid, spec, x, y, pose=None):
    """Grid values at odom points; ``pose`` places a base_link grid in odom."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if pose is not None:
        c, s = math.cos(pose.yaw), math.sin(pose.yaw)
        x, y = c * (x - pose.x) + s * (y - pose.y), -s * (x - pose.x) + c * (y - pose.y)
    idx = spec.cell_index(np.stack([x, y], -1))
    return np.where(idx >= 0, grid.ravel()[np.maximum(idx, 0)], -1)


def near_max(grid, spec, x, y, r=0.1):
    """Highest value within ``r`` of an odom point (a foot lands within a cell of its face)."""
    d = np.arange(-r, r + 1e-9, spec.resolution)
    dx, dy = np.meshgrid(d, d)
    return int(value_at(grid, spec, x + dx, y + dy).max())


def fresh(trav, **config):
    return FusedGrid(FusionConfig(enabled=True, **config), trav.taxonomy, 0.05)


# ---------------------------------------------------------------------- mechanics
def test_warp_matches_a_cell_lookup():
    """The window resampling puts each per-frame cell where the robot's pose says."""
    trav = make_trav()
    fused = fresh(trav)
    spec = GridSpec()
    rng = np.random.default_rng(0)
    classes = rng.integers(1, 4, spec.shape).astype(np.uint8)
    for _ in range(10):
        pose = Pose2D(*rng.uniform(-30, 30, 2), rng.uniform(-math.pi, math.pi))
        fused._recentre(pose)
        warped = fused._warp(classes, spec, pose)
        x, y = fused.spec.cell_centres()
        ref = value_at(classes.astype(np.int16), spec, x, y, pose)
        ref = np.where(ref < 0, 0, ref)
        assert (ref > 0).sum() > 20000
        # Cell centres that fall within a hair of a cell edge may round either way.
        assert np.count_nonzero(ref != warped) <= 5


def test_shift_keeps_cells_in_place():
    a = np.arange(30).reshape(5, 6)
    for dx, dy in ((0, 0), (2, 1), (-1, 3), (6, 0), (-2, -4)):
        b = fusion._shifted(a, dx, dy, -1)
        for v in range(5):
            for u in range(6):
                want = a[v + dy, u + dx] if 0 <= v + dy < 5 and 0 <= u + dx < 6 else -1
                assert b[v, u] == want


def test_yaw_from_quaternion():
    for yaw in (-3.0, -0.5, 0.0, 1.2, 3.1):
        pose = Pose2D.from_transform((1.0, 2.0, 0.3),
                                     (0.0, 0.0, math.sin(yaw / 2), math.cos(yaw / 2)))
        assert pose.yaw == pytest.approx(yaw) and (pose.x, pose.y) == (1.0, 2.0)


@pytest.mark.parametrize('values, match', [
    ({'fusion.window_size': 0.0}, 'fusion.window_size'),
    ({'fusion.decay.dynamic': -1.0}, 'fusion.decay.dynamic'),
    ({'fusion.dynamic_classes': 'dynamic_obstacle'}, 'fusion.dynamic_classes'),
    ({'fusion.max_evidence': 0}, 'fusion.max_evidence'),
    ({'fusion.odom_frame': ''}, 'fusion.odom_frame'),
    ({'traversability.min_confidence': 1.5}, 'min_confidence'),
])
def test_fusion_parameter_errors(values, match):
    with pytest.raises(ValueError, match=match):
        traversability.from_parameters(values)


def test_unknown_dynamic_class_is_named():
    trav = make_trav()
    with pytest.raises(ValueError, match="'people'.*dynamic_obstacle"):
        fresh(trav, dynamic_classes=('people',))


# ---------------------------------------------------------------------- against the scene
STATIC = [scene.Box(4.0, 4.6, -2.0, -0.8, 2.5, BUILDING),
          scene.Box(6.5, 7.5, 1.0, 2.0, 2.0, BUILDING)]
PATCHES = [scene.Patch(2.0, 9.0, 2.5, 4.0, ROAD)]


def drive(n=10):
    """Return a robot path: forward 2.5 m while sweeping the heading from right to left."""
    return [Pose2D(2.5 * i / (n - 1), 0.3 * math.sin(i / 3.0), -0.7 + 1.4 * i / (n - 1))
            for i in range(n)]


def truth_region(sc, poses, spec):
    """Ground cells some pose sees cleanly, and their true cost (sidewalk 0, road 60)."""
    sub = 2
    off = (np.arange(sub) + 0.5) / sub * spec.resolution
    xs = spec.x_min + (np.arange(spec.width)[:, None] * spec.resolution + off).ravel()
    ys = spec.y_min + (np.arange(spec.height)[:, None] * spec.resolution + off).ravel()
    x, y = np.meshgrid(xs, ys)
    seen = np.zeros(spec.shape, bool)
    for pose in poses:
        cam = camera_in_odom(pose)
        cat = scene.ground_truth(sc, INTR, cam, x, y, 7.0, see_over=False)
        blocks = cat.reshape(spec.height, sub, spec.width, sub)
        lo, hi = blocks.min(axis=(1, 3)), blocks.max(axis=(1, 3))
        seen |= (lo >= 0) & (lo == hi)
    cx, cy = spec.cell_centres()
    label = sc.ground_label_at(cx, cy)
    # Leave out a margin around boxes and patch edges, where a cell's answer is ambiguous.
    margin = 0.2
    for b in list(sc.boxes) + list(sc.patches):
        near = ((cx > b.x0 - margin) & (cx < b.x1 + margin) & (cy > b.y0 - margin)
                & (cy < b.y1 + margin))
        inner = ((cx > b.x0 + margin) & (cx < b.x1 - margin) & (cy > b.y0 + margin)
                 & (cy < b.y1 - margin))
        seen &= ~(near & ~inner) if isinstance(b, scene.Patch) else ~near
    cost = np.where(label == ROAD, 60, 0)
    return seen, cost, cx, cy


def test_fused_grid_matches_the_scene_better_than_any_frame():
    """
    Cell accuracy over the ground the robot saw, with two frames disturbed.

    One frame sees a blob of void (unknown) where the floor is, another a building where
    there is none: the fused grid keeps the floor it saw before, and the false building is
    cleared by the next frame's free floor.
    """
    sc = scene.Scene(SIDEWALK, SKY, STATIC, PATCHES)
    trav = make_trav()
    fused = fresh(trav, window_size=12.0)
    poses = drive()
    frames = []
    for i, pose in enumerate(poses):
        labels, _ = scene.render(sc, INTR, camera_in_odom(pose))
        if i == 4:
            labels[380:480, 200:440] = VOID
        if i == 6:
            labels[400:430, 300:340] = BUILDING
        result = trav.process(labels)
        frames.append((result, pose))
        out = fused.update(result.classes, result.spec, pose, 0.1 * i)
    region, cost, cx, cy = truth_region(sc, poses, out.spec)
    assert region.sum() > 5000
    fused_acc = np.mean(out.grid[region] == cost[region])
    frame_accs = [np.mean(value_at(r.grid, r.spec, cx[region], cy[region], p) == cost[region])
                  for r, p in frames]
    assert fused_acc > max(frame_accs), (fused_acc, frame_accs)
    # The frame with the void blob is worse than its neighbour; over what that frame sees
    # cleanly, the fused grid is right where the frame has a hole.
    assert frame_accs[4] < frame_accs[3]
    own, _, _, _ = truth_region(sc, [poses[4]], out.spec)
    own &= region
    r4 = value_at(frames[4][0].grid, frames[4][0].spec, cx[own], cy[own], poses[4])
    assert np.mean(out.grid[own] == cost[own]) > np.mean(r4 == cost[own])
    final = value_at(out.grid, out.spec, cx[region], cy[region])
    assert np.mean(final == cost[region]) == fused_acc
    # The walls the robot saw are in the fused grid, at their place in odom.
    for box in STATIC:
        x = np.linspace(box.x0 + 0.1, box.x1 - 0.1, 5)
        y = np.full_like(x, box.y0 - 0.02 if box.y0 > 0 else box.y1 + 0.02)
        near_x = np.concatenate([value_at(out.grid, out.spec, x, y + d) for d in
                                 (-0.05, 0.0, 0.05)])
        assert np.count_nonzero(near_x == 100) >= 3, box


def test_dynamic_obstacle_that_leaves_is_gone_after_its_decay():
    """A pedestrian stands, then walks off; the camera keeps looking at the spot."""
    person = scene.Box(3.0, 3.4, -0.2, 0.2, 1.8, PEDESTRIAN)
    wall = scene.Box(3.0, 3.5, -2.5, -1.5, 2.5, BUILDING)
    trav = make_trav()
    fused = fresh(trav, decay_dynamic=1.0, max_evidence=5)
    tax = trav.taxonomy
    dyn = tax.id_of('dynamic_obstacle')
    pose = Pose2D(0.0, 0.0, 0.0)
    t = 0.0
    for _ in range(10):      # 1 s with the person in view
        result, _ = see(trav, scene.Scene(SIDEWALK, SKY, [person, wall]), pose)
        out = fused.update(result.classes, result.spec, pose, t)
        t += 0.1
    assert np.count_nonzero(fused.classes == dyn) > 3
    # Its inflation margin is drawn around it in the fused grid.
    assert value_at(out.grid, out.spec, 2.75, 0.0) == 100
    last_seen = t - 0.1
    # Gone: with the floor visible where it stood, it is cleared before its decay time.
    empty = scene.Scene(SIDEWALK, SKY, [wall])
    while t <= last_seen + 1.0 + 1e-9:
        result, _ = see(trav, empty, pose)
        out = fused.update(result.classes, result.spec, pose, t)
        t += 0.1
    assert np.count_nonzero(fused.classes == dyn) == 0
    assert value_at(out.grid, out.spec, 3.2, 0.0) == 0
    assert near_max(out.grid, out.spec, 3.0, -2.0) == 100   # the wall stays


def test_unseen_dynamic_obstacle_fades_static_one_persists():
    """Seen, then out of view (the robot turns round): the clock alone decides."""
    person = scene.Box(3.0, 3.4, 0.8, 1.2, 1.8, PEDESTRIAN)
    wall = scene.Box(3.0, 3.5, -1.5, -0.5, 2.5, BUILDING)
    sc = scene.Scene(SIDEWALK, SKY, [person, wall])
    trav = make_trav()
    fused = fresh(trav, decay_dynamic=1.0, decay_obstacle=60.0, decay_ground=30.0)
    dyn, obst = trav.taxonomy.id_of('dynamic_obstacle'), trav.taxonomy.id_of('obstacle')
    for i in range(5):
        result, _ = see(trav, sc, Pose2D(0.0, 0.0, 0.0))
        fused.update(result.classes, result.spec, Pose2D(0.0, 0.0, 0.0), 0.1 * i)
    last_seen = 0.4
    back = Pose2D(0.0, 0.0, math.pi)

    def at(t):
        result, _ = see(trav, sc, back)
        return fused.update(result.classes, result.spec, back, t)

    out = at(last_seen + 0.9)
    assert np.count_nonzero(fused.classes == dyn) > 3
    assert near_max(out.grid, out.spec, 3.0, 1.0) == 100
    out = at(last_seen + 1.05)
    assert np.count_nonzero(fused.classes == dyn) == 0
    assert near_max(out.grid, out.spec, 3.0, 1.0) < 100   # free floor in front of it stays
    out = at(last_seen + 59.0)
    assert np.count_nonzero(fused.classes == obst) > 3
    assert near_max(out.grid, out.spec, 3.0, -1.0) == 100
    assert value_at(out.grid, out.spec, 1.5, 0.0) == -1     # free floor lasted 30 s
    out = at(last_seen + 60.5)
    assert np.count_nonzero(fused.classes == obst) == 0


def test_window_follows_the_robot():
    wall = scene.Box(3.0, 3.5, -1.5, -0.5, 2.5, BUILDING)
    sc = scene.Scene(SIDEWALK, SKY, [wall])
    trav = make_trav()
    fused = fresh(trav, window_size=12.0)
    assert fused.cells == 240
    t = 0.0
    for x in np.arange(0.0, 14.0, 0.7):
        pose = Pose2D(float(x), 0.2, math.pi)     # driving along +x, looking back
        if x == 0.0:
            pose = Pose2D(0.0, 0.2, 0.0)          # the first frame sees the wall
        result, _ = see(trav, sc, pose)
        out = fused.update(result.classes, result.spec, pose, t)
        t += 0.1
        spec = out.spec
        assert spec.frame_id == 'odom' and spec.shape == (240, 240)
        centre = ((spec.x_min + spec.x_max) / 2, (spec.y_min + spec.y_max) / 2)
        half_step = fused.step / 2 * 0.05 + 0.05 + 1e-9       # it moves in quarter windows
        assert abs(centre[0] - pose.x) <= half_step and abs(centre[1] - pose.y) <= half_step
        inside = spec.x_min < 2.9 and 3.1 < spec.x_max
        if inside or spec.x_min > 3.1:
            assert near_max(out.grid, spec, 3.0, -1.0) == (100 if inside else -1), x
    # Driving back: the wall was dropped when it left the window and is not seen again.
    back = Pose2D(0.0, 0.2, math.pi)
    out = fused.update(np.zeros((160, 160), np.uint8), GridSpec(), back, t)
    assert near_max(out.grid, out.spec, 3.0, -1.0) == -1


def test_window_moves_in_quarter_window_steps():
    """Nav2's StaticLayer resizes (and logs) on every moved origin: move it rarely."""
    trav = make_trav()
    fused = fresh(trav, window_size=16.0)          # 320 cells, steps of 80 (4 m)
    assert fused.step == 80
    empty = np.zeros((160, 160), np.uint8)
    origins = []
    t = 0.0
    for x in np.arange(0.0, 10.0, 0.1):            # 10 m at 1 m/s, 10 Hz: 100 frames
        out = fused.update(empty, GridSpec(), Pose2D(float(x), 0.03 * x, 0.0), t)
        origins.append((out.spec.x_min, out.spec.y_min))
        t += 0.1
        centre = out.spec.x_min + 8.0
        assert abs(centre - x) <= 2.0 + 0.05, (x, centre)   # within half a step
    changes = sum(a != b for a, b in zip(origins, origins[1:]))
    assert changes == 2, origins                   # at 2.05 m and 6.05 m, not per cell
    # Back and forth by less than a step around the current centre: the window stays.
    last = origins[-1]
    for x in (9.0, 7.5, 9.5, 8.0):
        out = fused.update(empty, GridSpec(), Pose2D(x, 0.3, 0.0), t)
        t += 0.1
        assert (out.spec.x_min, out.spec.y_min) == last


def test_time_going_back_resets():
    trav = make_trav()
    fused = fresh(trav)
    result, _ = see(trav, scene.Scene(SIDEWALK, SKY), Pose2D(0, 0, 0))
    fused.update(result.classes, result.spec, Pose2D(0, 0, 0), 100.0)
    assert np.count_nonzero(fused.classes) > 1000
    assert fused.restarted is None
    out = fused.update(np.zeros((160, 160), np.uint8), GridSpec(), Pose2D(0, 0, 0), 10.0)
    assert np.all(out.grid == -1)
    # Said, not silent: the node reports it (a frame stamped 10 s ahead did this unreported).
    assert fused.restarted is not None and 'stamped 90.0 s before' in fused.restarted
    fused.update(np.zeros((160, 160), np.uint8), GridSpec(), Pose2D(0, 0, 0), 10.1)
    assert fused.restarted is None


def test_a_pose_that_cannot_be_right_is_refused_by_name():
    """A NaN position failed with 'cannot convert float NaN to integer'; |q| = 2 was used."""
    with pytest.raises(ValueError, match='non-finite pose'):
        Pose2D.from_transform((float('nan'), 0.0), (0.0, 0.0, 0.0, 1.0))
    with pytest.raises(ValueError, match='quaternion of length 0'):
        Pose2D.from_transform((0.0, 0.0), (0.0, 0.0, 0.0, 0.0))
    assert Pose2D.from_transform((0.0, 0.0), (0.0, 0.0, 2 * math.sin(0.6),
                                              2 * math.cos(0.6))).yaw == pytest.approx(1.2)
    trav = make_trav()
    fused = fresh(trav)
    with pytest.raises(ValueError, match='not finite'):
        fused.update(np.zeros((160, 160), np.uint8), GridSpec(), Pose2D(float('nan'), 0, 0), 1.0)


# ---------------------------------------------------------------------- confidence
def test_unconfident_pixels_are_unknown_everywhere():
    """A pedestrian the model is unsure of: no obstacle, no points, nothing seen past it."""
    person = scene.Box(3.0, 3.4, -0.2, 0.2, 1.8, PEDESTRIAN)
    sc = scene.Scene(SIDEWALK, SKY, [person])
    labels, _ = scene.render(sc, INTR, camera_in_odom(Pose2D(0, 0, 0)))
    confidence = np.full(labels.shape, 0.9, np.float32)
    confidence[labels == PEDESTRIAN] = 0.3
    trav = make_trav(**{'traversability.min_confidence': 0.5})
    sure = make_trav()
    a, b = trav.process(labels, confidence=confidence), sure.process(labels)
    assert len(b.obstacle_points) > 0 and len(a.obstacle_points) == 0
    assert value_at(b.grid, b.spec, 3.02, 0.0) == 100
    assert value_at(a.grid, a.spec, 3.02, 0.0) == -1
    assert np.all(a.functional[labels == PEDESTRIAN] == 0)
    assert np.array_equal(a.functional[labels != PEDESTRIAN], b.functional[labels != PEDESTRIAN])
    assert not np.any(a.classes == trav.taxonomy.id_of('dynamic_obstacle'))
    # Confident everywhere: the same outputs as without a confidence map.
    c = trav.process(labels, confidence=np.ones(labels.shape, np.float32))
    assert np.array_equal(c.grid, b.grid) and np.array_equal(c.classes, b.classes)
    # Threshold 0 (the default) ignores the map.
    d = sure.process(labels, confidence=confidence)
    assert np.array_equal(d.grid, b.grid)
    with pytest.raises(ValueError, match='confidence map 320x240'):
        trav.process(labels, confidence=np.ones((240, 320), np.float32))


def test_mask_unconfident():
    f = np.array([[1, 2], [3, 1]], np.uint8)
    c = np.array([[0.2, 0.9], [0.5, 0.49]], np.float32)
    out = traversability.mask_unconfident(f, c, 0.5)
    assert out.dtype == np.uint8 and out.tolist() == [[0, 2], [3, 0]]


def test_bench_grid_times_the_fusion(capsys):
    from seg_ros.tools import bench_grid

    assert bench_grid.main(['--frames', '3', '--window', '10']) == 0
    out = capsys.readouterr().out
    assert 'fused: median' in out and 'window 200x200 (10 m)' in out
