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

"""Image, OccupancyGrid and PointCloud2 built from NumPy outputs, with real message types."""
from builtin_interfaces.msg import Time
from nav_msgs.msg import OccupancyGrid
import numpy as np
import pytest
from rclpy.serialization import deserialize_message, serialize_message
from seg_ros.ros import messages
from seg_ros.traversability import grid
from sensor_msgs.msg import Image, PointCloud2, PointField
from std_msgs.msg import Header


def header():
    return Header(stamp=Time(sec=12, nanosec=345), frame_id='camera_optical_frame')


def test_image_message_keeps_the_header_and_packs_tight_rows():
    rgb = np.random.default_rng(3).integers(0, 256, (4, 10, 3), np.uint8)
    view = rgb[:, 2:7]                              # a strided view: rows are not tight
    msg = messages.image_message(view, 'rgb8', header())
    assert isinstance(msg, Image) and msg.header == header()
    assert (msg.height, msg.width, msg.step, msg.encoding) == (4, 5, 15, 'rgb8')
    assert not msg.is_bigendian and bytes(msg.data) == np.ascontiguousarray(view).tobytes()
    back = deserialize_message(serialize_message(msg), Image)
    assert np.array_equal(np.frombuffer(back.data, np.uint8).reshape(4, 5, 3), view)
    mono = messages.image_message(rgb[:, :, 0], 'mono8')
    assert (mono.step, mono.header.frame_id) == (10, '')
    with pytest.raises(ValueError, match='expected uint8 pixels'):
        messages.image_message(rgb.astype(np.float32), 'rgb8')


def test_occupancy_grid_consistency():
    spec = grid.GridSpec(0.1, -1.0, 3.0, -2.0, 1.0, 'base_link')
    g = np.full(spec.shape, -1, np.int8)
    g[0, 0], g[29, 39], g[5, 7] = 0, 100, 60
    msg = messages.occupancy_grid(g, spec, header())
    assert msg.header.frame_id == 'base_link'
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (12, 345)
    assert msg.info.map_load_time == msg.header.stamp
    assert (msg.info.width, msg.info.height) == (40, 30)
    assert msg.info.resolution == pytest.approx(0.1)
    assert (msg.info.origin.position.x, msg.info.origin.position.y) == (-1.0, -2.0)
    assert msg.info.origin.orientation.w == 1.0
    assert len(msg.data) == 40 * 30
    back = deserialize_message(serialize_message(msg), OccupancyGrid)
    arr = messages.grid_array(back)
    assert np.array_equal(arr, g)
    # Row-major from the origin: data[iy * width + ix] is the cell at x = origin + ix * res.
    assert back.data[5 * 40 + 7] == 60 and back.data[29 * 40 + 39] == 100


def test_occupancy_grid_rejects_wrong_arrays():
    spec = grid.GridSpec()
    with pytest.raises(ValueError, match='int8'):
        messages.occupancy_grid(np.zeros(spec.shape, np.int16), spec, header())
    with pytest.raises(ValueError, match='int8'):
        messages.occupancy_grid(np.zeros((3, 3), np.int8), spec, header())


def test_point_cloud_layout():
    pts = np.array([[1.0, 2.0, 0.1], [3.5, -1.25, 0.5]], np.float32)
    msg = messages.point_cloud(pts, 'base_link', header())
    assert msg.header.frame_id == 'base_link' and msg.header.stamp.sec == 12
    assert (msg.height, msg.width, msg.point_step, msg.row_step) == (1, 2, 12, 24)
    assert [(f.name, f.offset, f.datatype, f.count) for f in msg.fields] == [
        ('x', 0, PointField.FLOAT32, 1), ('y', 4, PointField.FLOAT32, 1),
        ('z', 8, PointField.FLOAT32, 1)]
    assert not msg.is_bigendian and msg.is_dense
    back = deserialize_message(serialize_message(msg), PointCloud2)
    assert np.array_equal(messages.cloud_points(back), pts)


def test_empty_point_cloud():
    msg = messages.point_cloud(np.zeros((0, 3), np.float32), 'base_link', header())
    assert msg.width == 0 and len(msg.data) == 0


def test_nav2_and_rviz_configs_name_the_published_topics():
    """The shipped Nav2 and RViz configs subscribe to what seg_ros publishes, compatibly."""
    from pathlib import Path

    import yaml

    root = Path(__file__).resolve().parents[1] / 'config'
    nav2 = yaml.safe_load((root / 'nav2_costmap.yaml').read_text())
    local = nav2['local_costmap']['local_costmap']['ros__parameters']
    # track_unknown_space false: DWB rejects trajectories through unknown cells (robot.md).
    assert local['rolling_window'] is True and local['track_unknown_space'] is False
    for costmap in ('local_costmap', 'global_costmap'):
        params = nav2[costmap][costmap]['ros__parameters']
        for name in params['plugins']:
            assert 'plugin' in params[name], f'{costmap}.{name} has no plugin'
        layer = params['segmentation']
        assert layer['plugin'] == 'nav2_costmap_2d::ObstacleLayer'
        topics = {layer[s]['topic'] for s in layer['observation_sources'].split()}
        assert topics == {'/traversability/obstacles', '/traversability/dynamic_obstacles',
                          '/traversability/clearing'}
        # No StaticLayer on the per-frame grid (doc/robot.md: Jazzy >= 1.3.12 only).
        assert all(params[n].get('map_topic') != '/traversability/grid'
                   for n in params['plugins'])
    rviz = yaml.safe_load((root / 'seg_ros.rviz').read_text())
    topics = {d['Topic']['Value'] for d in rviz['Visualization Manager']['Displays']
              if 'Topic' in d}
    assert {'/traversability/grid', '/traversability/obstacles', '/segmentation/overlay',
            '/segmentation/functional_color', '/camera/image_raw'} <= topics
