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
Message builders, the ROS edge of NumPy outputs: Image, OccupancyGrid and PointCloud2.

Every ``sensor_msgs/Image`` the package publishes (node outputs, replayed frames, benchmark
frames) is built by :func:`image_message`. Message arrays are filled from ``array.array`` built
over the NumPy bytes: rclpy copies those in one block, in microseconds, where a NumPy array or a
list is checked element by element and takes milliseconds.
"""
from __future__ import annotations

import array
from typing import Optional

from nav_msgs.msg import OccupancyGrid
import numpy as np
from seg_ros.traversability.grid import GridSpec
from sensor_msgs.msg import Image, PointCloud2, PointField
from std_msgs.msg import Header


def image_message(pixels: np.ndarray, encoding: str,
                  header: Optional[Header] = None) -> Image:
    """
    Build a ``sensor_msgs/Image`` of an ``(H, W)`` or ``(H, W, C)`` uint8 array.

    ``header`` (stamp and frame) is used as given: outputs carry their input frame's header,
    so consumers match them by stamp. ``tobytes()`` writes rows in C order even for a strided
    view, so ``step`` is always the tight row.
    """
    if pixels.dtype != np.uint8:
        raise ValueError(f'expected uint8 pixels, got {pixels.dtype}')
    msg = Image() if header is None else Image(header=header)
    height, width = pixels.shape[:2]
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    msg.height, msg.width = int(height), int(width)
    msg.encoding = encoding
    msg.is_bigendian = 0
    msg.step = int(width * channels)
    msg.data = array.array('B', pixels.tobytes())
    return msg


def _header(header: Header, frame_id: str) -> Header:
    """Copy the stamp (the image's), put the data's own frame."""
    out = Header()
    out.stamp = header.stamp
    out.frame_id = frame_id
    return out


def occupancy_grid(grid: np.ndarray, spec: GridSpec, header: Header) -> OccupancyGrid:
    """Build the OccupancyGrid of an int8 ``(rows, cols)`` grid; stamp from ``header``."""
    if grid.dtype != np.int8 or grid.shape != spec.shape:
        raise ValueError(f'grid must be int8 {spec.shape}, got {grid.dtype} {grid.shape}')
    msg = OccupancyGrid()
    msg.header = _header(header, spec.frame_id)
    msg.info.map_load_time = header.stamp
    msg.info.resolution = float(spec.resolution)
    msg.info.width = spec.width
    msg.info.height = spec.height
    msg.info.origin.position.x = float(spec.x_min)
    msg.info.origin.position.y = float(spec.y_min)
    msg.info.origin.orientation.w = 1.0
    msg.data = array.array('b', np.ascontiguousarray(grid).tobytes())
    return msg


_FIELDS = [PointField(name=n, offset=4 * i, datatype=PointField.FLOAT32, count=1)
           for i, n in enumerate('xyz')]


def point_cloud(points: np.ndarray, frame_id: str, header: Header) -> PointCloud2:
    """Build an unorganised PointCloud2 (x, y, z float32) of ``(N, 3)`` points."""
    pts = np.ascontiguousarray(points, dtype=np.float32).reshape(-1, 3)
    msg = PointCloud2()
    msg.header = _header(header, frame_id)
    msg.height = 1
    msg.width = pts.shape[0]
    msg.fields = list(_FIELDS)
    msg.is_bigendian = False
    msg.point_step = 12
    msg.row_step = 12 * pts.shape[0]
    msg.is_dense = bool(np.isfinite(pts).all())
    msg.data = array.array('B', pts.tobytes())
    return msg


def cloud_points(msg: PointCloud2) -> np.ndarray:
    """Read back the ``(N, 3)`` float32 points of a cloud built by :func:`point_cloud`."""
    return np.frombuffer(bytes(msg.data), np.float32).reshape(-1, 3)


def grid_array(msg: OccupancyGrid) -> np.ndarray:
    """Read back the int8 ``(height, width)`` grid of an OccupancyGrid."""
    return np.frombuffer(bytes(msg.data), np.int8).reshape(msg.info.height, msg.info.width)
