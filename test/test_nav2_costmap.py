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
The shipped Nav2 config, consumed the way Nav2's ObstacleLayer consumes it, marks and clears.

Nav2 is not installable here, so this test does what ``nav2_costmap_2d::ObstacleLayer`` does
with our topics (Nav2 1.1.20 / 1.3.13 / 1.4.2, the Humble, Jazzy and Kilted releases; the
lines are quoted in doc/robot.md), as plain NumPy:

- it reads ``config/nav2_costmap.yaml`` and subscribes to each observation source's topic with
  Nav2's QoS (``rclcpp::SensorDataQoS().keep_last(50)``: best effort);
- ``ObservationBuffer::bufferCloud``: the cloud and its frame's origin (``sensor_frame``
  empty) are transformed into the global frame with tf2 at the cloud's stamp, and only points
  within the source's ``min/max_obstacle_height`` are kept; ``observation_persistence`` 0
  keeps only the newest observation (``purgeStaleObservations``);
- ``ObstacleLayer::updateBounds``: first ``raytraceFreespace`` for every clearing
  observation (a Bresenham line from the origin's cell to each point's cell, endpoints clipped
  to the map, length limited by ``raytrace_max_range``, every cell set FREE_SPACE, the last one
  included: ``Costmap2D::raytraceLine`` / ``bresenham2D``), then marking: each point within the
  layer's ``min/max_obstacle_height`` and closer to the origin than ``obstacle_max_range``
  makes its cell LETHAL_OBSTACLE.

Over a sequence of frames a person stands 3 m in front of the robot, then walks out of view;
a building stays. The person's cells must be lethal while seen and free afterwards, and the
building's must stay lethal.
"""
import math
from pathlib import Path
import time

import cv2
from node_harness import NodeProcess, Probe
import numpy as np
import pytest
from rclpy.duration import Duration
from rclpy.time import Time
import ros_scene
from seg_ros.ros import messages
from seg_ros.testing import scene
from seg_ros.testing.synthetic import save_passthrough
from seg_ros.zoo import CAMVID_CLASSES
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
import yaml

try:
    from tf2_ros import Buffer, StaticTransformBroadcaster, TransformListener
except ImportError:
    Buffer = None

# The config checks read YAML; only the node test needs tf2_ros (and is slow).
needs_tf2 = pytest.mark.skipif(Buffer is None, reason='tf2_ros (tf2_ros_py) is not installed')
ROOT = Path(__file__).resolve().parents[1]
FREE, LETHAL, NO_INFORMATION = 0, 254, 255
CAMERA = [0.2, 0.0, 1.0, 0.0, 0.3, 0.0]        # base_link <- camera, from TF
PARAM_POSE = [0.0, 0.0, 0.6, 0.0, 0.2, 0.0]    # camera_pose: deliberately wrong
PERSON_HERE = scene.Box(3.0, 3.4, -0.2, 0.2, 1.8, ros_scene.PEDESTRIAN)
PERSON_GONE = scene.Box(3.0, 3.4, 6.0, 6.4, 1.8, ros_scene.PEDESTRIAN)   # out of view
BUILDING = scene.Box(5.0, 5.6, 1.2, 2.4, 3.0, ros_scene.BUILDING)
# ObstacleLayer::onInitialize's declareParameter defaults (obstacle_layer.cpp, all three
# releases), for keys a source leaves out.
SOURCE_DEFAULTS = {'topic': None, 'sensor_frame': '', 'observation_persistence': 0.0,
                   'expected_update_rate': 0.0, 'data_type': 'LaserScan',
                   'min_obstacle_height': 0.0, 'max_obstacle_height': 0.0,
                   'inf_is_valid': False, 'marking': True, 'clearing': False,
                   'obstacle_max_range': 2.5, 'obstacle_min_range': 0.0,
                   'raytrace_max_range': 3.0, 'raytrace_min_range': 0.0}
LAYER_DEFAULTS = {'enabled': True, 'footprint_clearing_enabled': True,
                  'min_obstacle_height': 0.0, 'max_obstacle_height': 2.0,
                  'combination_method': 1, 'observation_sources': ''}
# Keys each plugin reads in all of Humble 1.1.20, Jazzy 1.3.13 and Kilted 1.4.2.
# (costmap_2d_ros.cpp declare_parameter calls present in 1.1.20, 1.3.13 and 1.4.2 alike.)
COSTMAP_KEYS = {'always_send_full_costmap', 'footprint', 'global_frame', 'height', 'width',
                'plugins', 'publish_frequency', 'resolution', 'robot_base_frame',
                'robot_radius', 'rolling_window', 'track_unknown_space',
                'transform_tolerance', 'update_frequency', 'footprint_padding',
                'lethal_cost_threshold', 'origin_x', 'origin_y', 'trinary_costmap',
                'unknown_cost_value', 'use_maximum', 'filters'}
PLUGIN_KEYS = {
    'nav2_costmap_2d::ObstacleLayer': {'plugin'} | set(LAYER_DEFAULTS),
    'nav2_costmap_2d::InflationLayer': {'plugin', 'enabled', 'inflation_radius',
                                        'cost_scaling_factor', 'inflate_unknown',
                                        'inflate_around_unknown'},
    'nav2_costmap_2d::StaticLayer': {'plugin', 'enabled', 'subscribe_to_updates',
                                     'map_subscribe_transient_local', 'map_topic',
                                     'footprint_clearing_enabled'},
}


def _costmaps():
    doc = yaml.safe_load((ROOT / 'config' / 'nav2_costmap.yaml').read_text())
    return {name: doc[name][name]['ros__parameters'] for name in doc}


def _obstacle_layers(params):
    return [(name, params[name]) for name in params['plugins']
            if params[name]['plugin'] == 'nav2_costmap_2d::ObstacleLayer']


def test_config_has_only_keys_nav2_reads_and_holds_the_grid():
    for name, params in _costmaps().items():
        extra = set(params) - COSTMAP_KEYS - set(params['plugins'])
        assert not extra, f'{name}: keys Nav2 does not read: {extra}'
        for layer in params['plugins']:
            spec = params[layer]
            extra = set(spec) - PLUGIN_KEYS[spec['plugin']]
            if spec['plugin'] == 'nav2_costmap_2d::ObstacleLayer':
                sources = spec['observation_sources'].split()
                extra -= set(sources)
                for source in sources:
                    unknown = set(spec[source]) - set(SOURCE_DEFAULTS)
                    assert not unknown, f'{name}.{layer}.{source}: {unknown}'
                    assert spec[source]['sensor_frame'] == '', 'the cloud frame is the sensor'
                    assert spec[source]['data_type'] == 'PointCloud2'
                kinds = {(spec[s]['marking'], spec[s]['clearing']) for s in sources}
                assert (True, False) in kinds and (False, True) in kinds
            assert not extra, f'{name}.{layer}: keys Nav2 does not read: {extra}'
    local = _costmaps()['local_costmap']
    assert local['rolling_window'] is True
    # Centred on the robot: half the window must reach the grid's farthest corner (8, 4).
    reach = math.hypot(8.0, 4.0)
    assert min(local['width'], local['height']) / 2 >= reach


def test_fused_grid_config_reads_the_fused_grid_in_its_own_frame():
    """config/nav2_costmap_fused.yaml: keys Nav2 reads, the grid's frame, within its window."""
    from seg_ros.traversability import PARAMETERS as TRAV

    doc = yaml.safe_load((ROOT / 'config' / 'nav2_costmap_fused.yaml').read_text())
    assert list(doc) == ['local_costmap']
    params = doc['local_costmap']['local_costmap']['ros__parameters']
    assert not set(params) - COSTMAP_KEYS - set(params['plugins'])
    for layer in params['plugins']:
        assert not set(params[layer]) - PLUGIN_KEYS[params[layer]['plugin']], layer
    static = [params[n] for n in params['plugins']
              if params[n]['plugin'] == 'nav2_costmap_2d::StaticLayer']
    assert [s['map_topic'] for s in static] == ['/traversability/fused_grid']
    assert static[0]['map_subscribe_transient_local'] is False   # the publisher is volatile
    # The grid is in fusion.odom_frame: the costmap's own frame, so no frame changes at all.
    assert params['global_frame'] == TRAV['fusion.odom_frame'].default
    assert params['robot_base_frame'] == TRAV['grid.frame_id'].default
    assert params['rolling_window'] is True and params['trinary_costmap'] is False
    window = TRAV['fusion.window_size'].default
    assert max(params['width'], params['height']) <= window
    assert params['resolution'] == TRAV['grid.resolution'].default


class Costmap:
    """An ObstacleLayer's costmap: rolling window centred on the robot at the origin."""

    def __init__(self, params, layer):
        self.res = float(params['resolution'])
        self.size_x = int(round(params['width'] / self.res))
        self.size_y = int(round(params['height'] / self.res))
        self.origin = (-params['width'] / 2.0, -params['height'] / 2.0)
        self.cells = np.full((self.size_y, self.size_x), NO_INFORMATION, np.uint8)
        self.layer = {**LAYER_DEFAULTS, **layer}
        self.sources = {s: {**SOURCE_DEFAULTS, 'topic': s, **layer[s]}
                        for s in self.layer['observation_sources'].split()}
        self.observations = {s: [] for s in self.sources}

    def world_to_map(self, wx, wy):
        """Costmap2D::worldToMap: None outside the map."""
        if wx < self.origin[0] or wy < self.origin[1]:
            return None
        mx, my = int((wx - self.origin[0]) / self.res), int((wy - self.origin[1]) / self.res)
        if mx < self.size_x and my < self.size_y:
            return mx, my
        return None

    def cell_distance(self, d):
        return int(max(0.0, math.ceil(d / self.res)))

    def buffer(self, source, origin, points, stamp_s):
        """ObservationBuffer::bufferCloud + purgeStaleObservations."""
        spec = self.sources[source]
        z = points[:, 2]
        keep = (z <= spec['max_obstacle_height']) & (z >= spec['min_obstacle_height'])
        obs = self.observations[source]
        obs.insert(0, (np.asarray(origin, float), points[keep], stamp_s))
        if spec['observation_persistence'] == 0.0:
            del obs[1:]
        else:
            obs[:] = [o for o in obs if stamp_s - o[2] <= spec['observation_persistence']]

    def update(self):
        """ObstacleLayer::updateBounds: ray-trace free space, then mark."""
        for source, spec in self.sources.items():
            if spec['clearing']:
                for origin, points, _ in self.observations[source]:
                    self.raytrace_freespace(spec, origin, points)
        for source, spec in self.sources.items():
            if spec['marking']:
                for origin, points, _ in self.observations[source]:
                    self.mark(spec, origin, points)

    def mark(self, spec, origin, points):
        lo, hi = self.layer['min_obstacle_height'], self.layer['max_obstacle_height']
        for px, py, pz in points:
            if pz < lo or pz > hi:
                continue
            sq = (px - origin[0]) ** 2 + (py - origin[1]) ** 2 + (pz - origin[2]) ** 2
            if sq >= spec['obstacle_max_range'] ** 2 or sq < spec['obstacle_min_range'] ** 2:
                continue
            m = self.world_to_map(px, py)
            if m is not None:
                self.cells[m[1], m[0]] = LETHAL

    def raytrace_freespace(self, spec, origin, points):
        ox, oy = origin[0], origin[1]
        start = self.world_to_map(ox, oy)
        assert start is not None, 'sensor origin outside the costmap'
        x0, y0 = start
        end_x = self.origin[0] + self.size_x * self.res
        end_y = self.origin[1] + self.size_y * self.res
        max_cells = self.cell_distance(spec['raytrace_max_range'])
        min_cells = self.cell_distance(spec['raytrace_min_range'])
        for wx, wy, _ in points:
            a, b = wx - ox, wy - oy
            if wx < self.origin[0]:
                t = (self.origin[0] - ox) / a
                wx, wy = self.origin[0], oy + b * t
            if wy < self.origin[1]:
                t = (self.origin[1] - oy) / b
                wx, wy = ox + a * t, self.origin[1]
            if wx > end_x:
                t = (end_x - ox) / a
                wx, wy = end_x - .001, oy + b * t
            if wy > end_y:
                t = (end_y - oy) / b
                wx, wy = ox + a * t, end_y - .001
            m = self.world_to_map(wx, wy)
            if m is None:
                continue
            self.raytrace_line(x0, y0, m[0], m[1], max_cells, min_cells)

    def raytrace_line(self, x0, y0, x1, y1, max_length, min_length):
        """Costmap2D::raytraceLine with bresenham2D, setting FREE_SPACE."""
        dx_full, dy_full = x1 - x0, y1 - y0
        dist = math.hypot(dx_full, dy_full)
        if dist < min_length:
            return
        if dist > 0.0:
            min_x0 = int(x0 + dx_full / dist * min_length)
            min_y0 = int(y0 + dy_full / dist * min_length)
        else:
            min_x0, min_y0 = x0, y0
        dx, dy = x1 - min_x0, y1 - min_y0
        abs_dx, abs_dy = abs(dx), abs(dy)
        step_x, step_y = (1 if dx > 0 else -1), (1 if dy > 0 else -1)
        scale = 1.0 if dist == 0.0 else min(1.0, max_length / dist)
        x, y = min_x0, min_y0
        if abs_dx >= abs_dy:
            error, end = abs_dx // 2, min(int(scale * abs_dx), abs_dx)
            for _ in range(end):
                self.cells[y, x] = FREE
                x += step_x
                error += abs_dy
                if error >= abs_dx:
                    y += step_y
                    error -= abs_dx
        else:
            error, end = abs_dy // 2, min(int(scale * abs_dy), abs_dy)
            for _ in range(end):
                self.cells[y, x] = FREE
                y += step_y
                error += abs_dx
                if error >= abs_dy:
                    x += step_x
                    error -= abs_dy
        self.cells[y, x] = FREE

    def values(self, x0, x1, y0, y1):
        """Cells whose centres lie in the box [x0, x1] x [y0, y1]."""
        xs = self.origin[0] + (np.arange(self.size_x) + 0.5) * self.res
        ys = self.origin[1] + (np.arange(self.size_y) + 0.5) * self.res
        cols = (xs >= x0) & (xs <= x1)
        rows = (ys >= y0) & (ys <= y1)
        return self.cells[np.ix_(rows, cols)]


def _transform_points(tf, points):
    """Apply a geometry_msgs/TransformStamped to (N, 3) points (tf2's doTransform)."""
    t, q = tf.transform.translation, tf.transform.rotation
    # OpenCV's Rodrigues, not seg_ros's quaternion_matrix: an error there must not cancel out.
    half = math.atan2(math.sqrt(q.x ** 2 + q.y ** 2 + q.z ** 2), q.w)
    axis = np.array([q.x, q.y, q.z]) / max(math.sin(half), 1e-12)
    rot = cv2.Rodrigues(axis * 2.0 * half)[0]
    return np.asarray(points, float) @ rot.T + np.array([t.x, t.y, t.z])


@pytest.mark.slow
@needs_tf2
def test_person_marked_while_seen_and_cleared_after_building_stays(tmp_path):
    params = _costmaps()['local_costmap']
    (layer_name, layer), = _obstacle_layers(params)
    costmap = Costmap(params, layer)
    global_frame = params['global_frame']
    probe = Probe('seg_ros_nav2_probe')
    try:
        for source in costmap.sources.values():
            # ObstacleLayer: rclcpp::SensorDataQoS().keep_last(50) (best effort).
            probe.subscribe(PointCloud2, source['topic'], depth=50, reliable=False)
        tf_buffer = Buffer()
        listener = TransformListener(tf_buffer, probe.node)  # noqa: F841 - keeps listening
        static = StaticTransformBroadcaster(probe.node)
        zero = Time().to_msg()
        static.sendTransform([
            ros_scene.camera_transform(CAMERA, zero),
            ros_scene.transform([0.0, 0.0, 0.0], np.eye(3), zero, global_frame, 'base_link')])
        model = save_passthrough(str(tmp_path / 'camvid.onnx'), CAMVID_CLASSES)
        with NodeProcess({'model_path': model, 'taxonomy': 'camvid',
                          'camera_pose': str(PARAM_POSE)}) as node:
            image_pub = probe.publisher(Image, 'image', reliable=False, depth=1)
            info_pub = probe.publisher(CameraInfo, 'camera_info')
            assert probe.wait_matched(image_pub) and node.wait_for_output('traversability:'), \
                node.output()
            assert probe.wait(lambda: tf_buffer.can_transform(
                global_frame, ros_scene.CAMERA_FRAME, Time(), Duration(seconds=0))), \
                'no TF in the test process'
            snapshots = []
            frames = [PERSON_HERE] * 3 + [PERSON_GONE] * 4
            for i, person in enumerate(frames):
                labels = ros_scene.render(
                    scene.Scene(ros_scene.SIDEWALK, ros_scene.SKY, [person, BUILDING]), CAMERA)
                clouds = _send_until_answered(probe, node, costmap, labels, image_pub,
                                              info_pub, needs_tf=(i == 0))
                for source, cloud in clouds.items():
                    tf = tf_buffer.lookup_transform(global_frame, cloud.header.frame_id,
                                                    Time.from_msg(cloud.header.stamp))
                    origin = _transform_points(tf, np.zeros((1, 3)))[0]
                    pts = _transform_points(tf, messages.cloud_points(cloud))
                    stamp = cloud.header.stamp.sec + cloud.header.stamp.nanosec * 1e-9
                    costmap.buffer(source, origin, pts, stamp)
                costmap.update()
                snapshots.append(costmap.cells.copy())
                assert all(c.header.frame_id == ros_scene.CAMERA_FRAME
                           for c in clouds.values()), 'TF was available: camera frame'
    finally:
        probe.close()

    def region(cells, box, pad=0.1):
        saved, costmap.cells = costmap.cells, cells
        try:
            return costmap.values(box.x0 - pad, box.x1 + pad, box.y0 - pad, box.y1 + pad)
        finally:
            costmap.cells = saved

    for seen in snapshots[:3]:
        assert (region(seen, PERSON_HERE) == LETHAL).any(), 'person not marked while seen'
        assert (region(seen, BUILDING) == LETHAL).any(), 'building not marked'
    person_cells = region(snapshots[2], PERSON_HERE) == LETHAL
    after = region(snapshots[-1], PERSON_HERE)
    assert (after[person_cells] == FREE).all(), "the person's cells were not cleared"
    assert not (after == LETHAL).any()
    building_cells = region(snapshots[2], BUILDING) == LETHAL
    assert (region(snapshots[-1], BUILDING)[building_cells] == LETHAL).all(), \
        'the building was cleared'
    # Free space in front of the robot is known free, not just unknown.
    assert (costmap.values(1.0, 2.5, -0.5, 0.5) == FREE).all()


def _send_until_answered(probe, node, costmap, labels, image_pub, info_pub, needs_tf):
    """Publish one frame (again, until answered) and return its cloud per source."""
    topics = {s: spec['topic'] for s, spec in costmap.sources.items()}
    for _ in range(100):
        stamp = probe.node.get_clock().now().to_msg()
        info_pub.publish(ros_scene.camera_info(stamp))
        image_pub.publish(ros_scene.image(labels, stamp))

        def answered():
            return all(any(m.header.stamp == stamp for m in probe.messages(t))
                       for t in topics.values())

        if probe.wait(answered, 0.5):
            clouds = {s: [m for m in probe.messages(t) if m.header.stamp == stamp][-1]
                      for s, t in topics.items()}
            # The first frames may come before the node's TF listener has the camera.
            if needs_tf and any(c.header.frame_id != ros_scene.CAMERA_FRAME
                                for c in clouds.values()):
                time.sleep(0.2)
                continue
            return clouds
    raise AssertionError('no clouds for the frame\n' + node.output())
