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
The shipped Nav2 configs, run in Nav2's real costmap on the node's real clouds.

``nav2_costmap_2d`` (Nav2's own Costmap2DROS, ObstacleLayer, StaticLayer, InflationLayer:
``test/nav2_kit.py`` says where it comes from) runs as ``/local_costmap/local_costmap`` with a
robot's own plain params (its LaserScan obstacle layer and inflation) and the shipped layer
snippet ``config/nav2_seg_ros_layer.yaml`` passed after them, as doc/robot.md tells an
integrator to; a second one, ``/fused_costmap/fused_costmap``, takes the fused grid through
the StaticLayer of ``config/nav2_costmap_fused.yaml``. The seg_ros node runs for real on a
synthetic street scene (a passthrough model, camera TF from a StaticTransformBroadcaster and a
deliberately wrong ``camera_pose``), and the test reads ``/local_costmap/costmap`` back.

One costmap pair and one node per module: the tests run in file order on the same costmaps
(the first one needs them fresh) and the last stops the node. Without the Nav2 kit they skip
with the reason; they never pass without it.
"""
import math
from pathlib import Path
import re
import time

import nav2_kit
from nav_msgs.msg import OccupancyGrid
from node_harness import NodeProcess, Probe
import numpy as np
import pytest
from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters
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

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(Buffer is None, reason='tf2_ros (tf2_ros_py) is not installed')]
ROOT = Path(__file__).resolve().parents[1]
SNIPPET = ROOT / 'config' / 'nav2_seg_ros_layer.yaml'
FREE, LETHAL, UNKNOWN = nav2_kit.FREE, nav2_kit.LETHAL, nav2_kit.UNKNOWN
CAMERA = [0.2, 0.0, 1.0, 0.0, 0.3, 0.0]        # base_link <- camera, from TF
PARAM_POSE = [0.0, 0.0, 0.6, 0.0, 0.2, 0.0]    # camera_pose: deliberately wrong
PERSON_HERE = scene.Box(3.0, 3.4, -0.2, 0.2, 1.8, ros_scene.PEDESTRIAN)
PERSON_GONE = scene.Box(3.0, 3.4, 6.0, 6.4, 1.8, ros_scene.PEDESTRIAN)   # out of view
BUILDING = scene.Box(5.0, 5.6, 1.2, 2.4, 3.0, ros_scene.BUILDING)
LATE_WALL = scene.Box(3.6, 4.0, -1.9, -1.2, 2.0, ros_scene.BUILDING)   # only in stale frames
GROUND_AHEAD = (1.0, 2.3, -0.4, 0.4)           # seen free in every frame, far from obstacles
SOURCES = {'obstacles': '/traversability/obstacles',
           'dynamic_obstacles': '/traversability/dynamic_obstacles',
           'free_space': '/traversability/clearing'}
# A robot's own local costmap, as in Nav2's nav2_params.yaml: its own LaserScan obstacle layer
# and inflation. The integrator's one edit: "segmentation" in plugins. track_unknown_space:
# true (an MPPI robot), so that "free" below means seen free, not merely unknown.
PLAIN_LOCAL = {
    'update_frequency': 10.0, 'publish_frequency': 10.0, 'global_frame': 'odom',
    'robot_base_frame': 'base_link', 'rolling_window': True, 'width': 12, 'height': 12,
    'resolution': 0.05, 'robot_radius': 0.22, 'track_unknown_space': True,
    'always_send_full_costmap': True,
    'plugins': ['obstacle_layer', 'segmentation', 'inflation_layer'],
    'obstacle_layer': {'plugin': 'nav2_costmap_2d::ObstacleLayer', 'enabled': True,
                       'observation_sources': 'scan',
                       'scan': {'topic': '/scan', 'data_type': 'LaserScan', 'marking': True,
                                'clearing': True, 'max_obstacle_height': 2.0}},
    'inflation_layer': {'plugin': 'nav2_costmap_2d::InflationLayer',
                        'cost_scaling_factor': 3.0, 'inflation_radius': 0.55},
}
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


def _costmaps(path=ROOT / 'config' / 'nav2_costmap.yaml'):
    doc = yaml.safe_load(Path(path).read_text())
    return {name: doc[name][name]['ros__parameters'] for name in doc}


def _check_obstacle_layer(where, spec):
    extra = set(spec) - PLUGIN_KEYS[spec['plugin']]
    sources = spec['observation_sources'].split()
    extra -= set(sources)
    assert not extra, f'{where}: keys Nav2 does not read: {extra}'
    for source in sources:
        unknown = set(spec[source]) - set(SOURCE_DEFAULTS)
        assert not unknown, f'{where}.{source}: {unknown}'
        assert spec[source]['sensor_frame'] == '', 'the cloud frame is the sensor'
        assert spec[source]['data_type'] == 'PointCloud2'
        # Nav2 must notice when seg_ros stops (0 = "always current").
        assert spec[source]['expected_update_rate'] > 0, f'{where}.{source}'
    kinds = {(spec[s]['marking'], spec[s]['clearing']) for s in sources}
    assert (True, False) in kinds and (False, True) in kinds


def test_snippet_adds_only_the_seg_ros_layer():
    """The snippet never replaces a robot's plugins or costmap-wide keys; examples match it."""
    snippet = _costmaps(SNIPPET)
    assert set(snippet) == {'local_costmap', 'global_costmap'}
    for name, params in snippet.items():
        assert list(params) == ['segmentation'], f'{name}: only the layer, no costmap keys'
        _check_obstacle_layer(f'{name}.segmentation', params['segmentation'])
        assert params['segmentation'] == snippet['local_costmap']['segmentation']
        # Static obstacles must outlive the node's latency (frames 0.3-0.5 s old on a CPU).
        assert params['segmentation']['obstacles']['observation_persistence'] >= 1.0
    for name, params in _costmaps().items():
        assert params['segmentation'] == snippet[name]['segmentation'], name


def test_config_has_only_keys_nav2_reads_and_holds_the_grid():
    for name, params in _costmaps().items():
        extra = set(params) - COSTMAP_KEYS - set(params['plugins'])
        assert not extra, f'{name}: keys Nav2 does not read: {extra}'
        for layer in params['plugins']:
            spec = params[layer]
            if spec['plugin'] == 'nav2_costmap_2d::ObstacleLayer':
                _check_obstacle_layer(f'{name}.{layer}', spec)
            else:
                extra = set(spec) - PLUGIN_KEYS[spec['plugin']]
                assert not extra, f'{name}.{layer}: keys Nav2 does not read: {extra}'
        # DWB (Humble's default controller) rejects trajectories through unknown cells.
        assert params['track_unknown_space'] is False
    local = _costmaps()['local_costmap']
    assert local['rolling_window'] is True
    # Centred on the robot: half the window must reach the grid's farthest corner (8, 4).
    reach = math.hypot(8.0, 4.0)
    assert min(local['width'], local['height']) / 2 >= reach


def test_fused_grid_config_reads_the_fused_grid_in_its_own_frame():
    """config/nav2_costmap_fused.yaml: keys Nav2 reads, the grid's frame, within its window."""
    from seg_ros.traversability import PARAMETERS as TRAV
    from seg_ros.traversability.fusion import RECENTRE_STEP

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
    # The window is centred to within half a step: the costmap around the robot fits in it.
    window = TRAV['fusion.window_size'].default
    assert max(params['width'], params['height']) <= window * (1 - RECENTRE_STEP)
    assert params['resolution'] == TRAV['grid.resolution'].default


# ------------------------------------------------------------------ the real costmap
def _params_file(path, name, params):
    path.write_text(yaml.safe_dump({name: {name: {'ros__parameters': params}}}))
    return str(path)


class Rig:
    """The node, two real costmaps, TF and a probe, shared by the module's tests."""

    def __init__(self, tmp, exe, env):
        fused = _costmaps(ROOT / 'config' / 'nav2_costmap_fused.yaml')['local_costmap']
        fused['track_unknown_space'] = True     # unknown stays unknown: "free" means seen
        fused['always_send_full_costmap'] = True  # else only the first grid is published whole
        self.local = nav2_kit.CostmapProcess(exe, env, 'local_costmap', [
            _params_file(tmp / 'robot.yaml', 'local_costmap', PLAIN_LOCAL), str(SNIPPET)])
        self.fused = nav2_kit.CostmapProcess(exe, env, 'fused_costmap', [
            _params_file(tmp / 'fused.yaml', 'fused_costmap', fused)])
        model = save_passthrough(str(tmp / 'camvid.onnx'), CAMVID_CLASSES)
        self.node = NodeProcess({'model_path': model, 'taxonomy': 'camvid',
                                 'camera_pose': str(PARAM_POSE), 'fusion.enabled': True})
        self.probe = Probe('seg_ros_nav2_probe')
        node = self.probe.node
        for topic in SOURCES.values():
            # ObstacleLayer: rclcpp::SensorDataQoS().keep_last(50) (best effort).
            self.probe.subscribe(PointCloud2, topic, depth=50, reliable=False)
        for costmap in (self.local, self.fused):
            self.probe.subscribe(OccupancyGrid, costmap.grid_topic, depth=5)
        self.tf_buffer = Buffer()
        self.listener = TransformListener(self.tf_buffer, node)
        self.static = StaticTransformBroadcaster(node)
        zero = Time().to_msg()
        self.static.sendTransform([
            ros_scene.camera_transform(CAMERA, zero),
            ros_scene.transform([0.0, 0.0, 0.0], np.eye(3), zero, 'odom', 'base_link')])
        self.image_pub = self.probe.publisher(Image, 'image', reliable=False, depth=1)
        self.info_pub = self.probe.publisher(CameraInfo, 'camera_info')
        self.set_params = node.create_client(SetParameters, '/segmentation_node/set_parameters')
        self.local.bring_up(node)
        self.fused.bring_up(node)
        # Both ends of every topic discovered (the probe and the costmap subscribe each cloud).
        assert self.probe.wait(lambda: all(node.count_subscribers(t) >= 2
                                           for t in SOURCES.values())
                               and node.count_subscribers('/traversability/fused_grid') >= 1)
        assert self.probe.wait_matched(self.image_pub) and self.node.wait_for_output(
            'traversability:'), self.node.output()
        assert self.probe.wait(lambda: self.tf_buffer.can_transform(
            'odom', ros_scene.CAMERA_FRAME, Time(), Duration(seconds=0))), 'no TF'

    def close(self):
        self.probe.close()
        for proc in (self.node, self.local, self.fused):
            proc.close()

    def send(self, boxes, age=0.0):
        """Publish one frame stamped ``age`` s ago (again until answered): its clouds."""
        labels = ros_scene.render(scene.Scene(ros_scene.SIDEWALK, ros_scene.SKY, boxes), CAMERA)
        for _ in range(100):
            stamp = (self.probe.node.get_clock().now() - Duration(seconds=age)).to_msg()
            self.info_pub.publish(ros_scene.camera_info(stamp))
            self.image_pub.publish(ros_scene.image(labels, stamp))

            def answered():
                return all(any(m.header.stamp == stamp for m in self.probe.messages(t))
                           for t in SOURCES.values())

            if self.probe.wait(answered, 0.5):
                clouds = {s: [m for m in self.probe.messages(t) if m.header.stamp == stamp][-1]
                          for s, t in SOURCES.items()}
                # The first frames may come before the node's TF listener has the camera.
                if any(c.header.frame_id != ros_scene.CAMERA_FRAME for c in clouds.values()):
                    time.sleep(0.2)
                    continue
                return clouds
        raise AssertionError('no clouds for the frame\n' + self.node.tail(30))

    def grid(self, costmap, settle=0.4):
        """Return the costmap's grid published ``settle`` s from now or later (2 updates)."""
        since = time.monotonic() + settle
        topic = costmap.grid_topic

        def fresh():
            with self.probe._lock:
                return [m for t, m in self.probe.received[topic] if t >= since]

        assert self.probe.wait(fresh, 10.0), f'no grid on {topic}\n{costmap.tail(30)}'
        return fresh()[-1]

    def set_full_clearing(self, full):
        value = ParameterValue(type=ParameterType.PARAMETER_BOOL, bool_value=full)
        request = SetParameters.Request(
            parameters=[Parameter(name='nav2.full_clearing_cloud', value=value)])
        assert self.set_params.wait_for_service(timeout_sec=10.0)
        result = nav2_kit._call(self.set_params, request, 10.0)
        assert result is not None and result.results[0].successful


@pytest.fixture(scope='module')
def rig(tmp_path_factory):
    exe, env, missing = nav2_kit.find()
    if exe is None:
        pytest.skip(missing)
    rig = Rig(tmp_path_factory.mktemp('nav2'), exe, env)
    try:
        yield rig
    finally:
        rig.close()


def _region(grid, x0, x1, y0, y1):
    """Costmap values of the cells whose centres lie in [x0, x1] x [y0, y1] (odom)."""
    g = messages.grid_array(grid)
    res, ox, oy = grid.info.resolution, grid.info.origin.position.x, grid.info.origin.position.y
    xs = ox + (np.arange(g.shape[1]) + 0.5) * res
    ys = oy + (np.arange(g.shape[0]) + 0.5) * res
    return g[np.ix_((ys >= y0) & (ys <= y1), (xs >= x0) & (xs <= x1))]


def _box(grid, box, pad=0.1):
    return _region(grid, box.x0 - pad, box.x1 + pad, box.y0 - pad, box.y1 + pad)


def test_merged_snippet_keeps_the_robots_own_layers(rig):
    """The snippet passed after the robot's params: both obstacle layers and inflation run."""
    log = rig.local.output()
    assert 'Subscribed to Topics: scan' in log, rig.local.tail(30)
    assert 'Subscribed to Topics: obstacles dynamic_obstacles free_space' in log
    assert 'Initialized plugin "inflation_layer"' in log


def test_boundary_cloud_clears_nearly_what_the_full_cloud_clears(rig):
    """On the fresh costmap: the boundary cloud, then the full cloud of the same view."""
    boxes = [BUILDING]

    def steady(points_ok):
        """Send the view until the cloud is the wanted one and the free cells stop changing."""
        free = None
        for _ in range(20):
            clouds = rig.send(boxes)
            if not points_ok(clouds['free_space'].width):
                continue               # the node applies a parameter from its next frame
            now = messages.grid_array(rig.grid(rig.local)) == FREE
            if free is not None and (now == free).all():
                return clouds['free_space'].width, now
            free = now
        raise AssertionError('the costmap did not settle')

    boundary_points, after_boundary = steady(lambda n: True)
    rig.set_full_clearing(True)
    try:
        full_points, after_both = steady(lambda n: n > 2 * boundary_points)
    finally:
        rig.set_full_clearing(False)
    cleared = after_boundary.sum() / after_both.sum()
    print(f'\n[nav2] clearing cloud points per frame: boundary {boundary_points}, full '
          f'{full_points}; free cells after the boundary cloud {after_boundary.sum()}, after '
          f'the full one too {after_both.sum()}: boundary cleared {cleared:.2%}')
    assert boundary_points < full_points / 4
    assert after_boundary.sum() > 4000, 'the clearing cloud cleared (almost) nothing'
    assert cleared >= 0.98


def test_person_marked_while_seen_cleared_after_wall_kept_ground_free(rig):
    seen, after = [], None
    for person in [PERSON_HERE] * 3 + [PERSON_GONE] * 4:
        rig.send([person, BUILDING])
        grid = rig.grid(rig.local)
        (seen if person is PERSON_HERE else []).append(grid)
        after = grid
    for grid in seen:
        assert (_box(grid, PERSON_HERE) == LETHAL).any(), 'person not marked while seen'
        assert (_box(grid, BUILDING) == LETHAL).any(), 'building not marked'
    person_cells = _box(seen[-1], PERSON_HERE) == LETHAL
    assert (_box(after, PERSON_HERE)[person_cells] == FREE).all(), \
        "the person's cells were not cleared"
    building_cells = _box(seen[-1], BUILDING) == LETHAL
    assert (_box(after, BUILDING)[building_cells] == LETHAL).all(), 'the building was cleared'
    # Free space in front of the robot is known free, not just unknown.
    assert (_region(after, *GROUND_AHEAD) == FREE).all()


def test_static_obstacles_kept_when_frames_arrive_late(rig):
    """Frames 0.8 s old at publish (a loaded CPU): the static cloud must not be purged."""
    assert (_box(rig.grid(rig.local, 0.0), LATE_WALL, 0.0) != LETHAL).all()
    for _ in range(3):
        rig.send([LATE_WALL, BUILDING], age=0.8)
    grid = rig.grid(rig.local)
    assert (_box(grid, LATE_WALL) == LETHAL).any(), \
        'static obstacles in 0.8 s old clouds never reached the costmap'
    assert (_box(grid, BUILDING) == LETHAL).any()


def test_fused_grid_through_the_static_layer(rig):
    rig.send([BUILDING])
    grid = rig.grid(rig.fused)
    assert grid.header.frame_id == 'odom'
    assert (_box(grid, BUILDING) == LETHAL).any(), 'the fused wall is not in the costmap'
    # The fused grid holds what the camera saw (from 1.3 m on), not the rays' way there.
    assert (_region(grid, 1.5, 2.3, -0.4, 0.4) == FREE).all(), 'the fused floor is not free'
    assert (_region(grid, -3.0, -2.0, -0.5, 0.5) == UNKNOWN).all(), 'unseen space not unknown'


def test_costmap_reports_seg_ros_not_current_after_the_node_stops(rig):
    """Last test: it stops the node. expected_update_rate > 0 makes Nav2 notice."""
    def stream(seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            rig.send([BUILDING])
            time.sleep(0.15)

    stream(1.5)                        # any gap before this test is over
    quiet_from = len(rig.local.output())
    stream(3.0)
    running = rig.local.warnings_since(quiet_from)
    assert running == [], 'not-current warnings while seg_ros runs normally:\n' + '\n'.join(
        running)
    stopped_from = len(rig.local.output())
    rig.node.stop()
    warned = {}
    # ObstacleLayer::updateBounds: `current = current && getMarkingObservations(...)`, then
    # `current = current && getClearingObservations(...)`: once a marking buffer is not
    # current the clearing buffers are not even read, so only the marking sources warn.
    marking = {SOURCES['obstacles'], SOURCES['dynamic_obstacles']}

    def all_warned():
        for line in rig.local.warnings_since(stopped_from):
            topic = next((t for t in SOURCES.values() if f'The {t} observation' in line), None)
            if topic is not None:
                warned.setdefault(topic, line)
        return set(warned) >= marking

    assert rig.probe.wait(all_warned, 10.0), f'no not-current warning for ' \
        f'{marking - set(warned)}\n{rig.local.tail(20)}'
    for line in warned.values():
        found = re.search(r'not been updated for ([\d.]+) seconds, and it should be updated '
                          r'every ([\d.]+) seconds', line)
        assert found, line
        # Reported at the first costmap update after the period ran out.
        assert float(found.group(2)) == 1.0 and float(found.group(1)) < 1.0 + 1.0, line
