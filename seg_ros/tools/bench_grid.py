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
Time the traversability projection on a synthetic scene, 640x480 by default (no ROS, no model).

``seg-ros bench-grid`` (or ``python -m seg_ros.tools.bench_grid``) renders a street-like
scene with known geometry, then times ``Traversability.process`` per frame in monocular and
depth mode: label lookup, projection, fills, inflation and the obstacle
points, i.e. everything the node does between the labels and the messages. Then it times the
fused grid (``FusedGrid.update``: resampling the monocular class grid into the odom window,
the evidence update, the output costs and inflation) with the robot moving and turning a
little every frame, so the window re-centres and the resampling changes each time (the same
frame is fused at every pose: the timing is realistic, the fused picture would not be).
``--save DIR`` writes the functional image and both per-frame grids as PNG files.
"""
from __future__ import annotations

import argparse
from pathlib import Path
import statistics
import sys
import time
from typing import Any, Optional, Sequence, TYPE_CHECKING

import numpy as np
from seg_ros.common.images import parse_size

if TYPE_CHECKING:
    from seg_ros.testing import scene

K = [525.0, 0.0, 319.5, 0.0, 525.0, 239.5, 0.0, 0.0, 1.0]
POSE = [0.0, 0.0, 1.0, 0.0, 0.3, 0.0]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--frames', type=int, default=50, help='frames per mode (default 50)')
    parser.add_argument('--size', default='640x480', metavar='WxH',
                        help='camera image width x height (default 640x480)')
    parser.add_argument('--sample-step', type=int, default=None,
                        help='grid.sample_step (default: the parameter default)')
    parser.add_argument('--row-step', type=int, default=None,
                        help='grid.row_step (default: the parameter default)')
    parser.add_argument('--window', type=float, default=None,
                        help='fusion.window_size in metres (default: the parameter default)')
    parser.add_argument('--save', default='', metavar='DIR',
                        help='write functional.png, grid_monocular.png and grid_depth.png '
                             'into DIR')


def _scene() -> 'scene.Scene':
    from seg_ros.testing import scene

    # CamVid ids as seg_ros.zoo orders them: 0 sky, 1 building, 3 road, 4 sidewalk,
    # 8 car, 9 pedestrian.
    boxes = [scene.Box(3.0, 3.5, -1.5, -0.5, 2.5, 1), scene.Box(4.0, 4.4, 1.0, 1.4, 1.8, 9),
             scene.Box(5.5, 7.0, -3.0, -2.2, 1.6, 8), scene.Box(6.0, 6.3, 0.5, 0.8, 1.7, 9)]
    patches = [scene.Patch(1.8, 8.0, -4.0, -1.0, 3)]
    return scene.Scene(4, 0, boxes, patches)


def run(args: argparse.Namespace) -> int:
    from seg_ros.traversability import geometry
    from seg_ros.traversability import grid
    from seg_ros.traversability import nav2_clouds
    from seg_ros.testing import scene
    from seg_ros import traversability
    from seg_ros.zoo import CAMVID_CLASSES

    try:
        w, h = parse_size(args.size, '--size')
    except ValueError as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    k = list(K)
    k[0] = k[4] = K[0] * w / 640
    k[2], k[5] = (w - 1) / 2, (h - 1) / 2
    intr = geometry.Intrinsics.from_camera_info(k, [], w, h)
    labels, depth = scene.render(_scene(), intr, geometry.CameraPose.from_xyzrpy(POSE))
    print(f'{w}x{h} synthetic scene, {args.frames} frames per mode, '
          f'{len(CAMVID_CLASSES)} classes (camvid taxonomy)')
    grids = {}
    for mode in ('monocular', 'depth'):
        params = {'taxonomy': 'camvid', 'camera_pose': POSE, 'depth.enabled': mode == 'depth'}
        if args.sample_step:
            params['grid.sample_step'] = args.sample_step
        if args.row_step:
            params['grid.row_step'] = args.row_step
        cfg = traversability.from_parameters(params)
        trav = traversability.Traversability(cfg, CAMVID_CLASSES)
        trav.set_camera_info(k, [], w, h)
        t0 = time.perf_counter()
        result = trav.process(labels, depth)
        first = (time.perf_counter() - t0) * 1e3
        times, cpu = [], []
        for _ in range(args.frames):
            t0, c0 = time.perf_counter(), time.process_time()
            result = trav.process(labels, depth)
            times.append((time.perf_counter() - t0) * 1e3)
            cpu.append((time.process_time() - c0) * 1e3)
        g = result.grid
        print(f'{mode:>9s}: {_timings(times, cpu)} wall, first frame (geometry set-up) '
              f'{first:.1f} ms; grid {g.shape[1]}x{g.shape[0]}: {_shares(g)}; '
              f'{len(result.obstacle_points)} obstacle points')
        # The Nav2 clouds (static, dynamic, clearing) the node derives from each frame.
        ctimes = []
        for _ in range(args.frames):
            t0 = time.perf_counter()
            clouds = nav2_clouds.nav2_clouds(result.grid, result.spec, result.obstacle_points,
                                             result.obstacle_ids, trav.taxonomy.names,
                                             trav.pose, cfg.max_range, in_camera_frame=True)
            ctimes.append((time.perf_counter() - t0) * 1e3)
        full = nav2_clouds.nav2_clouds(result.grid, result.spec, result.obstacle_points,
                                       result.obstacle_ids, trav.taxonomy.names, trav.pose,
                                       cfg.max_range, in_camera_frame=True, full_clearing=True)
        print(f'{"":>9s}  nav2 clouds: median {statistics.median(ctimes):.2f} ms wall; '
              f'{len(clouds[0])} static, {len(clouds[1])} dynamic, {len(clouds[2])} clearing '
              f'points ({len(full[2])} with nav2.full_clearing_cloud)')
        grids[mode] = g
        if mode == 'monocular':
            classes = result.classes
            _bench_messages(args, trav, labels, result, clouds)
    if classes is None:
        raise SystemExit('the monocular projection returned no class grid to fuse')
    _bench_fusion(args, trav, classes, cfg.grid)
    if args.save:
        import cv2

        out = Path(args.save)
        out.mkdir(parents=True, exist_ok=True)
        tax = trav.taxonomy
        cv2.imwrite(str(out / 'functional.png'), tax.palette[tax.functional(labels)][..., ::-1])
        for mode, g in grids.items():
            cv2.imwrite(str(out / f'grid_{mode}.png'), grid.grid_image(g, scale=3)[..., ::-1])
        print(f'wrote {out}/functional.png, grid_monocular.png, grid_depth.png')
    return 0


def _bench_messages(args: argparse.Namespace, trav: Any, labels: np.ndarray, result: Any,
                    clouds: Sequence[np.ndarray]) -> None:
    """Time the rest of the node's publishing step: functional image, colours, messages."""
    from seg_ros.ros import messages
    from std_msgs.msg import Header

    header = Header(frame_id='camera')
    steps = {
        'functional image': lambda: trav.functional(labels),
        'functional colours': lambda: trav.taxonomy.colorize(result.functional),
        'messages (labels, functional, grid, 3 clouds)': lambda: (
            messages.image_message(labels, 'mono8', header),
            messages.image_message(result.functional, 'mono8', header),
            messages.occupancy_grid(result.grid, result.spec, header),
            [messages.point_cloud(c, 'camera', header) for c in clouds]),
    }
    for name, step in steps.items():
        times = []
        for _ in range(args.frames):
            t0 = time.perf_counter()
            step()
            times.append((time.perf_counter() - t0) * 1e3)
        print(f'{"":>9s}  {name}: median {statistics.median(times):.2f} ms wall')


def _bench_fusion(args: argparse.Namespace, trav: Any, classes: np.ndarray,
                  spec: Any) -> None:
    """Time ``FusedGrid.update`` per frame and print the figures."""
    import dataclasses
    import math

    from seg_ros.traversability import fusion

    config = fusion.FusionConfig(enabled=True)
    if args.window:
        config = dataclasses.replace(config, window_size=args.window)
    fused = fusion.FusedGrid(config, trav.taxonomy, spec.resolution)
    times, cpu = [], []
    out = None
    for i in range(args.frames + 1):
        # 0.5 m/s and a slow sway of the heading at 10 frames per second.
        pose = fusion.Pose2D(0.05 * i, 0.0, 0.3 * math.sin(0.2 * i))
        t0, c0 = time.perf_counter(), time.process_time()
        out = fused.update(classes, spec, pose, 0.1 * i)
        if i:   # the first frame allocates nothing new but warms OpenCV up
            times.append((time.perf_counter() - t0) * 1e3)
            cpu.append((time.process_time() - c0) * 1e3)
    assert out is not None
    g = out.grid
    print(f'    fused: {_timings(times, cpu)} wall per update; window '
          f'{g.shape[1]}x{g.shape[0]} ({config.window_size:g} m): {_shares(g)}')


def _timings(times: list[float], cpu: list[float]) -> str:
    """
    Median wall and CPU time and the wall p90, in ms (the caller ends it: "wall ...").

    CPU time (all threads of this process) is what a frame costs; wall time also shows what
    other processes on a shared machine took away.
    """
    ordered = sorted(times)
    p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
    return (f'median {statistics.median(ordered):.2f} ms wall, '
            f'{statistics.median(cpu):.2f} ms CPU, p90 {p90:.2f} ms')


def _shares(grid: np.ndarray) -> str:
    """Share of free, lethal and unknown cells of an OccupancyGrid array."""
    return (f'{np.mean(grid == 0) * 100:.1f}% free, {np.mean(grid == 100) * 100:.1f}% lethal, '
            f'{np.mean(grid < 0) * 100:.1f}% unknown')


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog='python -m seg_ros.tools.bench_grid',
                                     description=__doc__.strip().splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == '__main__':
    sys.exit(main())
