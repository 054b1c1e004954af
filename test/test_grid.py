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

"""Grid projection against analytic answers: synthetic scenes through a pinhole camera."""
import numpy as np
import pytest

from seg_ros import traversability
from seg_ros.testing import scene
from seg_ros.traversability import geometry
from seg_ros.traversability import grid
from seg_ros.zoo import CAMVID_CLASSES

CAMVID = list(CAMVID_CLASSES)
SKY, BUILDING, ROAD, SIDEWALK, CAR, PEDESTRIAN, VOID = 0, 1, 3, 4, 8, 9, 11
K = [500.0, 0.0, 320.0, 0.0, 500.0, 240.0, 0.0, 0.0, 1.0]

TALL = [scene.Box(3.0, 3.5, -1.5, -0.5, 2.5, BUILDING),
        scene.Box(4.0, 4.4, 1.0, 1.4, 1.8, PEDESTRIAN),
        scene.Box(5.5, 7.0, -3.0, -2.2, 1.6, CAR)]
PATCHES = [scene.Patch(1.8, 2.4, -0.4, 0.4, ROAD), scene.Patch(2.2, 2.6, 1.6, 2.4, VOID)]
POSES = {
    'level': [0.0, 0.0, 1.0, 0.0, 0.3, 0.0],
    'yawed': [0.2, -0.3, 1.2, 0.0, 0.4, 0.35],
    'rolled': [-0.2, 0.1, 0.8, 0.05, 0.25, -0.2],
}


def make(pose, depth=False, distortion=(), **params):
    values = {'taxonomy': 'camvid', 'camera_pose': pose, 'depth.enabled': depth}
    values.update(params)
    trav = traversability.Traversability(traversability.from_parameters(values), CAMVID)
    model = 'plumb_bob' if distortion else ''
    trav.set_camera_info(K, list(distortion), 640, 480, model)
    intr = geometry.Intrinsics.from_camera_info(K, list(distortion), 640, 480, model)
    return trav, intr, list(pose)   # the oracle (seg_ros.testing.scene) takes the six numbers


def categories(sc, intr, pose, spec, max_range, see_over, sub=4):
    """Analytic category per cell, and whether the whole cell (and its neighbours) agree."""
    off = (np.arange(sub) + 0.5) / sub * spec.resolution
    xs = spec.x_min + (np.arange(spec.width)[:, None] * spec.resolution + off).ravel()
    ys = spec.y_min + (np.arange(spec.height)[:, None] * spec.resolution + off).ravel()
    x, y = np.meshgrid(xs, ys)
    cat = scene.ground_truth(sc, intr, pose, x, y, max_range, see_over=see_over)
    if not see_over:
        behind = scene.behind_patches(sc, pose, x, y, [VOID]) & (cat >= 0) & (cat != VOID)
        cat = np.where(behind, scene.BEHIND, cat)
    blocks = cat.reshape(spec.height, sub, spec.width, sub)
    lo, hi = blocks.min(axis=(1, 3)), blocks.max(axis=(1, 3))
    cell = lo
    pure = lo == hi
    padded = np.pad(cell, 1, mode='edge')
    pure_p = np.pad(pure, 1, mode='constant')
    for dy in (0, 1, 2):
        for dx in (0, 1, 2):
            pure &= pure_p[dy:dy + spec.height, dx:dx + spec.width]
            pure &= padded[dy:dy + spec.height, dx:dx + spec.width] == cell
    # Lattice rows are tens of centimetres apart near max_range: leave that rim out.
    cx, cy = spec.cell_centres()
    rim = np.abs(np.hypot(cx - pose[0], cy - pose[1]) - max_range)
    return cell, pure & (rim > 0.5)


def near(mask, radius_cells):
    """Cells within ``radius_cells`` of a true cell (square neighbourhood)."""
    import cv2

    k = 2 * radius_cells + 1
    return cv2.dilate(mask.astype(np.uint8), np.ones((k, k), np.uint8)).astype(bool)


def check(trav, intr, pose, sc, depth_mode):
    labels, depth = scene.render(sc, intr, pose)
    result = trav.process(labels, depth if depth_mode else None)
    spec, tax = result.spec, trav.taxonomy
    g = result.grid.astype(np.int16)
    cfg = trav.config
    cat, pure = categories(sc, intr, pose, spec, cfg.max_range, see_over=depth_mode)
    costs = tax.costs
    footprint = np.zeros(spec.shape, bool)
    dyn_zone = np.zeros(spec.shape, bool)
    cx, cy = spec.cell_centres()
    for box in sc.boxes:
        fp = (cx >= box.x0) & (cx <= box.x1) & (cy >= box.y0) & (cy <= box.y1)
        footprint |= fp
        infl = tax.classes[tax.lut[box.label]].inflation
        if infl > 0:
            dyn_zone |= near(fp, int(np.ceil(infl / spec.resolution)) + 2)
    # Visible ground: the cost of its class.
    vis = pure & (cat >= 0) & ~dyn_zone
    expected = costs[tax.lut[np.clip(cat, 0, 255)]]
    assert vis.sum() > 500, 'scene shows too little ground to test'
    ok = (g == expected)[vis].mean()
    assert ok > 0.98, f'visible ground cells with the right cost: {ok:.3f}'
    # Occluded, hidden and out-of-view cells: unknown.
    hidden = pure & np.isin(cat, [scene.OUTSIDE, scene.OCCLUDED, scene.BEHIND]) & ~dyn_zone
    assert hidden.sum() > 500
    ok = (g == -1)[hidden].mean()
    assert ok > 0.99, f'hidden cells left unknown: {ok:.3f}'
    # Under a box: never free.
    under = pure & (cat == scene.INSIDE)
    assert not np.any((g >= 0) & (g < 100) & under)
    # Every visible foot of every box is occupied within two cells.
    occupied = g == 100
    occ_near = near(occupied, 2)
    feet = scene.visible_feet(sc, intr, pose, cfg.max_range)
    pts = np.concatenate(feet)
    assert len(pts) > 20
    cells = spec.cell_index(pts)
    inside = cells >= 0
    hit = occ_near.ravel()[cells[inside]].mean()
    assert hit > 0.9, f'visible box feet marked occupied: {hit:.3f}'
    # No obstacle away from the boxes (inflation included).
    allowed = near(footprint, 2) | dyn_zone
    stray = occupied & ~allowed
    assert stray.sum() == 0, f'{stray.sum()} occupied cells away from any object'
    return result, cat, pure


@pytest.mark.parametrize('name', sorted(POSES))
@pytest.mark.parametrize('depth_mode', [False, True], ids=['monocular', 'depth'])
def test_tall_boxes(name, depth_mode):
    trav, intr, pose = make(POSES[name], depth=depth_mode)
    sc = scene.Scene(SIDEWALK, SKY, TALL, PATCHES)
    result, _, _ = check(trav, intr, pose, sc, depth_mode)
    pts = result.obstacle_points
    assert pts.dtype == np.float32 and pts.ndim == 2 and pts.shape[1] == 3 and len(pts) > 10


@pytest.mark.parametrize('depth_mode', [False, True], ids=['monocular', 'depth'])
def test_distorted_camera(depth_mode):
    dist = (-0.25, 0.08, 0.001, -0.001, 0.0)
    trav, intr, pose = make(POSES['level'], depth=depth_mode, distortion=dist)
    check(trav, intr, pose, scene.Scene(SIDEWALK, SKY, TALL, PATCHES), depth_mode)


def test_low_box_seen_over_in_depth_mode_only():
    """Ground beyond a low box is visible: depth mode frees it, the column walk may not."""
    pose = [0.0, 0.0, 1.2, 0.0, 0.35, 0.0]
    low = scene.Box(2.5, 3.0, -1.0, 1.0, 0.4, BUILDING)
    sc = scene.Scene(SIDEWALK, SKY, [low])
    beyond = None
    for depth_mode in (False, True):
        trav, intr, cam = make(pose, depth=depth_mode)
        result, cat, pure = check(trav, intr, cam, sc, depth_mode)
        cx, cy = result.spec.cell_centres()
        zone = (cx > 5.0) & (cx < 6.0) & (np.abs(cy) < 0.3)   # seen over the box from 4.5 m
        if beyond is None:
            beyond = result.grid[zone]
    assert np.all(beyond == -1)                  # monocular: hidden behind the box
    assert np.all(result.grid[zone] == 0)        # depth: seen over the box, free


def test_max_range_and_extent():
    trav, intr, pose = make(POSES['level'], **{'grid.max_range': 4.0})
    labels, _ = scene.render(scene.Scene(SIDEWALK, SKY), intr, pose)
    result = trav.process(labels)
    cx, cy = result.spec.cell_centres()
    far = np.hypot(cx, cy) > 4.0 + 2 * result.spec.resolution
    assert np.all(result.grid[far] == -1)
    assert np.mean(result.grid[(cx > 2.5) & (cx < 3.5) & (np.abs(cy) < 0.5)] == 0) == 1.0


def test_unknown_pixels_stop_the_walk():
    trav, intr, pose = make(POSES['level'])
    labels = np.full((480, 640), SIDEWALK, np.uint8)
    labels[:200] = SKY
    labels[300:320, 300:340] = VOID
    result = trav.process(labels)
    spec = result.spec
    # The columns through the void patch: free below it, unknown from it on.
    rays = intr.rays(np.array([320.0, 320.0]), np.array([330.0, 290.0]))
    (near_pt, far_pt), _ = geometry.ground_intersection(geometry.CameraPose.from_xyzrpy(pose),
                                                        rays)
    g = result.grid.ravel()
    assert g[spec.cell_index(near_pt[:2])] == 0
    assert g[spec.cell_index(far_pt[:2])] == -1


def test_dynamic_obstacle_inflation():
    trav, intr, pose = make(POSES['level'])
    person = scene.Box(3.0, 3.3, -0.15, 0.15, 1.8, PEDESTRIAN)
    labels, _ = scene.render(scene.Scene(SIDEWALK, SKY, [person]), intr, pose)
    result = trav.process(labels)
    cx, cy = result.spec.cell_centres()
    ring = (np.hypot(cx - 2.75, cy) < 0.2)   # 0.25 m in front of the person: inside 0.5 m
    assert np.all(result.grid[ring] == 100)
    clear = (np.hypot(cx - 1.9, cy) < 0.2)   # 1.1 m in front: free
    assert np.all(result.grid[clear] == 0)


def test_depth_height_band_ignores_overhangs():
    """A sign board hanging above the robot's height is not an obstacle in depth mode."""
    trav, intr, xyzrpy = make(POSES['level'], depth=True, **{'depth.max_obstacle_height': 1.0})
    pose = geometry.CameraPose.from_xyzrpy(xyzrpy)
    labels = np.full((480, 640), SIDEWALK, np.uint8)
    depth = np.full((480, 640), np.nan, np.float32)
    u, v = np.meshgrid(np.arange(640), np.arange(480))
    rays = intr.rays(u, v)
    ground, ok = geometry.ground_intersection(pose, rays)
    depth[ok] = (ground[ok] - pose.translation) @ pose.rotation[:, 2]
    # Paint a board at 3 m ahead, 1.5 m high (above the band) into the image.
    board = np.array([[3.0, y, z] for y in np.linspace(-0.5, 0.5, 40)
                      for z in np.linspace(1.3, 1.7, 20)])
    p_opt = (board - pose.translation) @ pose.rotation
    bu, bv = intr.project(p_opt)
    bu, bv = np.round(bu).astype(int), np.round(bv).astype(int)
    labels[bv, bu] = BUILDING
    depth[bv, bu] = p_opt[:, 2]
    result = trav.process(labels, depth)
    assert not np.any(result.grid == 100)
    assert len(result.obstacle_points) == 0


def test_depth_encodings_agree():
    trav, intr, pose = make(POSES['level'], depth=True)
    sc = scene.Scene(SIDEWALK, SKY, TALL)
    labels, depth = scene.render(sc, intr, pose)
    mm = np.where(np.isfinite(depth), np.round(depth * 1000), 0).astype(np.uint16)
    a = trav.process(labels, depth).grid
    b = trav.process(labels, mm).grid
    assert np.mean(a == b) > 0.99


def test_depth_mode_without_depth_falls_back_to_monocular():
    trav, intr, pose = make(POSES['level'], depth=True)
    mono, _, _ = make(POSES['level'])
    labels, _ = scene.render(scene.Scene(SIDEWALK, SKY, TALL), intr, pose)
    assert np.array_equal(trav.process(labels).grid, mono.process(labels).grid)


def test_misaligned_depth_is_an_error():
    trav, intr, pose = make(POSES['level'], depth=True)
    with pytest.raises(ValueError, match='aligned'):
        trav.process(np.zeros((480, 640), np.uint8), np.zeros((240, 320), np.float32))


def test_grid_spec_layout():
    spec = grid.GridSpec(0.1, -1.0, 3.0, -2.0, 2.0, 'odom')
    assert spec.shape == (40, 40) and spec.origin == (-1.0, -2.0)
    idx = spec.cell_index(np.array([[-1.0, -2.0], [-0.95, -1.85], [2.99, 1.99], [3.0, 0.0],
                                    [np.nan, 0.0]]))
    assert idx.tolist() == [0, 1 * 40 + 0, 39 * 40 + 39, -1, -1]
    with pytest.raises(ValueError, match='resolution'):
        grid.GridSpec(0.0)
    with pytest.raises(ValueError, match='extent'):
        grid.GridSpec(0.05, 2.0, 1.0)


def test_geometry_is_reused_between_frames():
    trav, intr, pose = make(POSES['level'])
    labels = np.full((480, 640), SIDEWALK, np.uint8)
    trav.process(labels)
    plan = trav._cache['plan']
    trav.process(labels)
    assert trav._cache['plan'] is plan
    trav.set_camera_pose_xyzrpy([0.0, 0.0, 1.0, 0.0, 0.35, 0.0])
    trav.process(labels)
    assert trav._cache['plan'] is not plan


def test_grid_image_is_seen_from_above():
    spec = grid.GridSpec(0.5, 0.0, 2.0, -1.0, 1.0)    # 4 x 4 cells
    g = np.full(spec.shape, -1, np.int8)
    g[spec.cell_index(np.array([1.75, 0.75])) // 4, 3] = 100   # far ahead, on the left
    g[0, 0] = 0                                                 # near, on the right
    img = grid.grid_image(g, scale=2)
    assert img.shape == (8, 8, 3) and img.dtype == np.uint8
    assert (img[0, 0] == 0).all()          # top-left: ahead and left, lethal = black
    assert (img[7, 7] == 255).all()        # bottom-right: near and right, free = white
    assert tuple(img[0, 7]) == (112, 137, 134)   # unknown: RViz map scheme's grey-green


@pytest.mark.parametrize('depth_mode', [False, True], ids=['monocular', 'depth'])
def test_wall_along_the_path_is_one_line(depth_mode):
    """A wall beside the robot, seen at a grazing angle, must not come out as dashes."""
    trav, intr, pose = make(POSES['level'], depth=depth_mode)
    wall = scene.Box(2.0, 7.5, 1.2, 1.4, 2.0, BUILDING)
    labels, depth = scene.render(scene.Scene(SIDEWALK, SKY, [wall]), intr, pose)
    result = trav.process(labels, depth if depth_mode else None)
    xs = np.arange(2.6, 6.5, 0.05)
    cells = result.spec.cell_index(np.stack([xs, np.full_like(xs, 1.2)], -1))
    occupied = near(result.grid == 100, 1).ravel()[cells]
    assert occupied.mean() > 0.95, f'wall foot covered: {occupied.mean():.2f}'
    # And nothing is free behind it.
    cx, cy = result.spec.cell_centres()
    behind = (cx > 3.0) & (cx < 6.0) & (cy > 1.6)
    assert not np.any(result.grid[behind] == 0)


def test_depth_noise_keeps_the_floor_free():
    """Depth noise of 1 % of the range (a stereo camera's order) leaves the answer intact."""
    trav, intr, pose = make(POSES['level'], depth=True)
    sc = scene.Scene(SIDEWALK, SKY, TALL, PATCHES)
    labels, depth = scene.render(sc, intr, pose)
    noisy = depth * (1 + 0.01 * np.random.default_rng(0).standard_normal(depth.shape))
    result = trav.process(labels, noisy.astype(np.float32))
    clean = trav.process(labels, depth)
    free = clean.grid == 0
    kept = np.mean(result.grid[free] == 0)
    assert kept > 0.93, f'free cells still free with noise: {kept:.3f}'
    # Obstacles spread a little with the noise but are all still there.
    assert np.all(near(result.grid == 100, 2)[clean.grid == 100])
