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
Replay logic without ROS: sources (rosbag2 files, image folders), pacing, recording, summaries.

Everything here works on file paths, bytes and NumPy arrays, so it is tested without a ROS
graph; ``seg_ros.ros.player`` puts it on topics. Bags are read and written with ``rosbags``: its
reader and writer handle both storage plugins rosbag2 ships (``mcap`` and ``sqlite3``) and the
payloads stay the serialised CDR that rclpy produces and consumes, so no message is ever
re-encoded by hand.
"""
from __future__ import annotations

from dataclasses import dataclass, field
import importlib
import math
from pathlib import Path
import time
from typing import Any, Callable, Iterator, Mapping, Optional, Sequence

import numpy as np
from seg_ros.common import conversions
from seg_ros.common import images
from seg_ros.traversability import grid

IMAGE_TYPE = 'sensor_msgs/msg/Image'
SAVABLE_ENCODINGS = ('mono8', 'rgb8', 'bgr8', 'rgba8', 'bgra8')
CAMERA_INFO_TYPE = 'sensor_msgs/msg/CameraInfo'
COMPRESSED_TYPE = 'sensor_msgs/msg/CompressedImage'
FRAME_TYPES = (IMAGE_TYPE, COMPRESSED_TYPE)  # what can pace a bag (one frame per message)
# Without a calibration, a pinhole with this horizontal field of view; a typical webcam or
# dash-cam lens, and the grid's error from a wrong guess is stated in the docs.
DEFAULT_HFOV_DEG = 60.0
STORAGES = ('mcap', 'sqlite3')


class ReplayError(ValueError):
    """Bad replay input or output; the message names the file or topic and what to do."""


# ---------------------------------------------------------------------------------------------
# Message types by name


def message_class(msgtype: str) -> Any:
    """
    Return the rclpy message class for ``pkg/msg/Name`` (or ``pkg/Name``).

    Imported by name rather than through rosidl_runtime_py, which the pip wheels lack.
    """
    parts = msgtype.split('/')
    if len(parts) == 2:
        parts = [parts[0], 'msg', parts[1]]
    if len(parts) != 3 or not all(parts):
        raise ReplayError(f'{msgtype!r} is not a ROS message type name (pkg/msg/Name)')
    pkg, kind, name = parts
    try:
        module = importlib.import_module(f'{pkg}.{kind}')
        return getattr(module, name)
    except (ImportError, AttributeError):
        raise ReplayError(
            f'unknown message type {msgtype!r}: no Python module {pkg}.{kind} with {name} is '
            f'installed; install the ROS package {pkg} (ros-<distro>-{pkg.replace("_", "-")}) '
            'or leave that topic out') from None


# ---------------------------------------------------------------------------------------------
# Camera model


@dataclass(frozen=True)
class CameraModel:
    """The numbers a sensor_msgs/CameraInfo carries, in ROS's row-major layout."""

    width: int
    height: int
    k: tuple[float, ...]
    d: tuple[float, ...] = ()
    r: tuple[float, ...] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
    p: tuple[float, ...] = ()
    distortion_model: str = 'plumb_bob'
    source: str = 'guess'

    def projection(self) -> tuple[float, ...]:
        """Return P, derived from K when the file gave none (unrectified = rectified)."""
        if self.p:
            return self.p
        k = self.k
        return (k[0], k[1], k[2], 0.0, k[3], k[4], k[5], 0.0, k[6], k[7], k[8], 0.0)

    def scaled_to(self, width: int, height: int) -> 'CameraModel':
        """Return the model for frames of another size (calibrated at one size, fed another)."""
        if (width, height) == (self.width, self.height):
            return self
        sx, sy = width / self.width, height / self.height

        def scale(m: Sequence[float], cols: int) -> tuple[float, ...]:
            # Row 0 (fx, skew, cx, Tx) scales with x, row 1 (0, fy, cy, Ty) with y.
            out = list(m)
            for i in range(cols):
                out[i] *= sx
                out[cols + i] *= sy
            return tuple(out)

        return CameraModel(width, height, scale(self.k, 3), self.d, self.r,
                           scale(self.projection(), 4), self.distortion_model,
                           f'{self.source} scaled to {width}x{height}')


def pinhole_guess(width: int, height: int, hfov_deg: float = DEFAULT_HFOV_DEG) -> CameraModel:
    """Return an undistorted pinhole with square pixels and the given horizontal FOV."""
    if not 1.0 <= hfov_deg < 179.0:
        raise ReplayError(f'horizontal field of view {hfov_deg} deg is outside 1..179')
    f = (width / 2.0) / math.tan(math.radians(hfov_deg) / 2.0)
    cx, cy = width / 2.0, height / 2.0
    return CameraModel(width, height, (f, 0.0, cx, 0.0, f, cy, 0.0, 0.0, 1.0),
                       (0.0, 0.0, 0.0, 0.0, 0.0), source=f'pinhole guess, {hfov_deg:g} deg HFOV')


def load_camera_info_yaml(path: str | Path) -> CameraModel:
    """
    Read a calibration in the ROS camera_calibration format (``camera_info_manager`` YAML).

    That is what ``ros2 run camera_calibration cameracalibrator`` saves and camera drivers load,
    so a robot's existing calibration file works as is.
    """
    import yaml
    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ReplayError(f'cannot read camera info file {path}: {exc.strerror}') from None
    except yaml.YAMLError as exc:
        raise ReplayError(f'camera info file {path} is not valid YAML: {exc}') from None

    def matrix(key: str, n: int, required: bool = True) -> tuple[float, ...]:
        value = doc.get(key) if isinstance(doc, dict) else None
        if value is None:
            if required:
                raise ReplayError(f'camera info file {path} has no {key!r}; expected the ROS '
                                  'camera_calibration format (image_width, image_height, '
                                  'camera_matrix: {rows, cols, data}, ...)')
            return ()
        data = value.get('data') if isinstance(value, dict) else value
        try:
            if not isinstance(data, (list, tuple)):
                raise TypeError(key)
            out = tuple(float(x) for x in data)
        except (TypeError, ValueError):
            raise ReplayError(f'{path}: {key} data is not a list of numbers') from None
        if n and len(out) != n:
            raise ReplayError(f'{path}: {key} has {len(out)} numbers, expected {n}')
        return out

    if not isinstance(doc, dict):
        raise ReplayError(f'camera info file {path} is not a YAML mapping')
    try:
        width, height = int(doc['image_width']), int(doc['image_height'])
    except (KeyError, TypeError, ValueError):
        raise ReplayError(f'camera info file {path} needs integer image_width and '
                          'image_height') from None
    return CameraModel(width, height, matrix('camera_matrix', 9),
                       matrix('distortion_coefficients', 0, required=False),
                       matrix('rectification_matrix', 9, required=False) or CameraModel.r,
                       matrix('projection_matrix', 12, required=False),
                       str(doc.get('distortion_model', 'plumb_bob')), source=str(path))


# ---------------------------------------------------------------------------------------------
# Image folders


def list_images(folder: str | Path) -> list[Path]:
    """Return the folder's frames in name order (the order a camera would have sent them)."""
    try:
        return images.list_images(folder)
    except images.ImageFileError as exc:
        raise ReplayError(str(exc)) from None


def read_image(path: str | Path, encoding: str = 'rgb8') -> np.ndarray:
    """Return an image file as HxWx3 uint8 in the given encoding (rgb8 or bgr8)."""
    try:
        return images.read_image(path, encoding)
    except images.ImageFileError as exc:
        raise ReplayError(str(exc)) from None


# ---------------------------------------------------------------------------------------------
# Bags


@dataclass(frozen=True)
class BagMessage:
    """One serialised message as stored: CDR bytes, exactly what rclpy publishes raw."""

    topic: str
    msgtype: str
    timestamp: int  # receive time recorded in the bag, ns
    raw: bytes


def _reader_errors() -> tuple[type[BaseException], ...]:
    from rosbags.rosbag2 import ReaderError
    import sqlite3
    return (ReaderError, sqlite3.Error, OSError, ValueError, KeyError, IndexError, EOFError,
            AssertionError, TypeError, AttributeError, RuntimeError)


class BagSource:
    """
    A rosbag2 (folder with metadata.yaml, or a bare ``.mcap`` / ``.db3`` file) to replay.

    Opening checks everything replay relies on (readable, topics present, types importable),
    so a bad bag fails before any node sees a frame.
    """

    def __init__(self, path: str | Path, topics: Optional[Sequence[str]] = None,
                 image_topic: Optional[str] = None) -> None:
        from rosbags.rosbag2 import Reader
        self.path = Path(path)
        if not self.path.exists():
            raise ReplayError(f'bag {self.path} does not exist')
        try:
            self._reader = Reader(self.path)
            self._reader.open()
        except _reader_errors() as exc:
            raise ReplayError(f'cannot read bag {self.path}: {exc} (expected a rosbag2 folder, '
                              'or a .mcap or .db3 file)') from None
        present = {t: info.msgtype or '?' for t, info in self._reader.topics.items()}
        self.topics_present: dict[str, str] = present
        listing = ', '.join(f'{t} [{m}]' for t, m in sorted(present.items())) or 'none'
        wanted = list(topics) if topics else sorted(present)
        missing = [t for t in wanted if t not in present]
        if image_topic and image_topic not in present:
            missing.append(image_topic)
        if missing:
            self.close()
            raise ReplayError(f'topic {", ".join(missing)} not in bag {self.path}; '
                              f'topics present: {listing}')
        self.topics: dict[str, str] = {t: present[t] for t in wanted}
        for topic, msgtype in self.topics.items():
            try:
                message_class(msgtype)
            except ReplayError as exc:
                self.close()
                raise ReplayError(f'bag {self.path}, topic {topic}: {exc}') from None
        images = [t for t, m in self.topics.items() if m in FRAME_TYPES]
        if image_topic is not None and self.topics.get(image_topic) not in FRAME_TYPES:
            self.close()
            raise ReplayError(f'--image-topic {image_topic} carries {present[image_topic]}, '
                              'not sensor_msgs/msg/Image or CompressedImage')
        if image_topic is None:
            image_topic = images[0] if len(images) == 1 else None
            if len(images) > 1:
                self.close()
                raise ReplayError(f'bag {self.path} has several image topics '
                                  f'({", ".join(images)}); choose one with --image-topic')
        self.image_topic: Optional[str] = image_topic
        self.message_count = sum(self._reader.topics[t].msgcount for t in self.topics)
        self.image_count = self._reader.topics[image_topic].msgcount if image_topic else 0

    def messages(self) -> Iterator[BagMessage]:
        """Yield the chosen topics' messages in recorded order."""
        conns = [c for c in self._reader.connections if c.topic in self.topics]
        try:
            for conn, t, raw in self._reader.messages(connections=conns):
                yield BagMessage(conn.topic, conn.msgtype, int(t), bytes(raw))
        except _reader_errors() as exc:
            raise ReplayError(f'bag {self.path} is damaged after the first messages: {exc}'
                              ) from None

    def close(self) -> None:
        """Close the underlying reader (safe to call twice)."""
        if getattr(self, '_reader', None) is not None and self._reader.is_open:
            self._reader.close()


def _typestore() -> Any:
    from rosbags.typesys import get_typestore, Stores
    store = getattr(Stores, 'ROS2_KILTED', None) or Stores.LATEST
    return get_typestore(store)


class BagRecorder:
    """
    Write serialised messages into a new rosbag2 (``mcap`` or ``sqlite3`` storage).

    The message definitions come from rosbags' Kilted type store, so ``ros2 bag info`` and
    Foxglove read the bag without the seg_ros sources.
    """

    def __init__(self, path: str | Path, storage: str = 'mcap') -> None:
        from rosbags.rosbag2 import StoragePlugin, Writer, WriterError
        if storage not in STORAGES:
            raise ReplayError(f'storage {storage!r} is not one of {", ".join(STORAGES)}')
        self.path = Path(path)
        if self.path.exists():
            raise ReplayError(f'{self.path} exists already; rosbag2 never overwrites a bag: '
                              'remove it or choose another path')
        self.path.parent.mkdir(parents=True, exist_ok=True)
        plugin = StoragePlugin.MCAP if storage == 'mcap' else StoragePlugin.SQLITE3
        self._writer: Optional[Writer] = Writer(self.path, version=Writer.VERSION_LATEST,
                                                storage_plugin=plugin)
        try:
            self._writer.open()
        except (WriterError, OSError) as exc:
            raise ReplayError(f'cannot create bag {self.path}: {exc}') from None
        self._store = _typestore()
        self._connections: dict[str, Any] = {}
        self.counts: dict[str, int] = {}

    def add_topic(self, topic: str, msgtype: str) -> None:
        """Declare a topic before writing to it (once per topic)."""
        if topic in self._connections:
            return
        if msgtype not in self._store.types:
            raise ReplayError(f'cannot record {topic}: message type {msgtype} is unknown to '
                              "rosbags' type store")
        if self._writer is None:
            raise ReplayError(f'bag {self.path} is closed')
        self._connections[topic] = self._writer.add_connection(topic, msgtype,
                                                               typestore=self._store)
        self.counts[topic] = 0

    def write(self, topic: str, timestamp_ns: int, raw: bytes) -> None:
        """Append one serialised message; ``timestamp_ns`` is its receive time."""
        if self._writer is None:
            raise ReplayError(f'bag {self.path} is closed')
        self._writer.write(self._connections[topic], int(timestamp_ns), raw)
        self.counts[topic] += 1

    def close(self) -> None:
        """Finish the bag (writes metadata.yaml); safe to call twice."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None


# ---------------------------------------------------------------------------------------------
# Pacing


class Pacer:
    """
    When to send the next message: recorded speed, a fixed rate, or at once.

    ``due(now, recorded_ns, paced)`` returns the monotonic time the message should go out;
    the caller sleeps (spinning) until then. Fixed-rate deadlines follow from the previous
    deadline, not from when the message really went out, so the average rate holds; after a
    stall longer than a period the schedule restarts instead of bursting to catch up.
    """

    def __init__(self, mode: str, rate: Optional[float] = None, speed: float = 1.0) -> None:
        if mode not in ('recorded', 'rate', 'asap'):
            raise ReplayError(f'pacing mode {mode!r} is not recorded, rate or asap')
        if mode == 'rate' and not (rate and rate > 0):
            raise ReplayError(f'rate must be a positive number of frames per second, not {rate}')
        if mode == 'recorded' and not speed > 0:
            raise ReplayError(f'speed factor must be positive, not {speed}')
        self.mode, self.rate, self.speed = mode, rate, speed
        self._anchor: Optional[tuple[float, int]] = None
        self._next: Optional[float] = None

    def restart(self) -> None:
        """Forget the schedule (a new loop through the source begins)."""
        self._anchor = None
        self._next = None

    def due(self, now: float, recorded_ns: Optional[int] = None, paced: bool = True) -> float:
        """Return when to send; ``paced`` is False for companions such as camera_info."""
        if self.mode == 'recorded':
            if recorded_ns is None:
                raise ReplayError('recorded-speed pacing needs recorded times; use a rate')
            if self._anchor is None:
                self._anchor = (now, recorded_ns)
            t0, r0 = self._anchor
            return t0 + (recorded_ns - r0) / 1e9 / self.speed
        if not paced or self.mode == 'asap':
            return now
        period = 1.0 / float(self.rate or 1.0)
        if self._next is None or now - self._next > period:
            self._next = now
        when = self._next
        self._next = when + period
        return when


# ---------------------------------------------------------------------------------------------
# Outputs


def decode_image(encoding: str, height: int, width: int, step: int, data: Any) -> np.ndarray:
    """Return an Image payload as an array view (HxW or HxWxC), honouring ``step`` padding."""
    if encoding not in SAVABLE_ENCODINGS:
        raise ReplayError(f'cannot save images with encoding {encoding!r}; savable: '
                          f'{", ".join(SAVABLE_ENCODINGS)}')
    try:
        view = conversions.image_view(encoding, width, height, step, data)
    except conversions.ImageError as exc:
        raise ReplayError(f'cannot save image: {exc}') from exc
    return view[:, :, 0] if view.shape[2] == 1 else view


def grid_to_image(data: Any, width: int, height: int) -> np.ndarray:
    """
    Return an OccupancyGrid as an RGB top-down image: forward up, the robot's left on the left.

    Free white, cost 100 black, costs in between in shades of grey, unknown RViz's grey-green:
    RViz's ``map`` colour scheme, drawn by :func:`seg_ros.traversability.grid.grid_image`.
    """
    cells = np.frombuffer(data, np.int8).reshape(height, width)
    return grid.grid_image(cells)


def save_png(path: str | Path, array: np.ndarray, encoding: str = 'mono8') -> None:
    """Write an HxW or HxWx3 array (RGB unless ``encoding`` says bgr) as PNG."""
    import cv2
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    if array.ndim == 3 and encoding.startswith('rgb'):
        array = cv2.cvtColor(array, cv2.COLOR_RGBA2BGRA if array.shape[2] == 4
                             else cv2.COLOR_RGB2BGR)
    if not cv2.imwrite(str(path), array):
        raise ReplayError(f'cannot write {path}')


def topic_dirname(topic: str) -> str:
    """Return a folder name for a topic (``/segmentation/labels`` -> ``segmentation_labels``)."""
    return topic.strip('/').replace('/', '_') or 'root'


def percentile_ms(values_s: Sequence[float], q: float) -> Optional[float]:
    """Return the q-th percentile of seconds, in ms rounded to 0.1 (None when empty)."""
    if not len(values_s):
        return None
    return round(float(np.percentile(np.asarray(values_s) * 1e3, q)), 1)


@dataclass
class StreamStats:
    """
    Frames sent and replies matched by stamp: the numbers a replay run is judged on.

    Age of a frame = when its reply arrived minus when the frame was published, both on this
    process's clock, so it includes transport both ways, queueing and inference.
    """

    sent: dict[int, tuple[int, float]] = field(default_factory=dict)  # stamp -> (index, t)
    replies: dict[int, float] = field(default_factory=dict)           # stamp -> t received
    outputs: dict[str, int] = field(default_factory=dict)             # topic -> count

    def on_sent(self, stamp: int, index: int, t: float) -> None:
        """Note a frame published at monotonic time ``t``."""
        self.sent[stamp] = (index, t)

    def on_reply(self, stamp: int, t: float) -> Optional[int]:
        """Note a reply; return the index of the frame it answers (None if unknown)."""
        if stamp in self.sent and stamp not in self.replies:
            self.replies[stamp] = t
        hit = self.sent.get(stamp)
        return hit[0] if hit else None

    def index_of(self, stamp: int) -> Optional[int]:
        """Return the index of the frame sent with this stamp."""
        hit = self.sent.get(stamp)
        return hit[0] if hit else None

    def summary(self) -> dict[str, Any]:
        """Return frames in/out, dropped, reply rate and age percentiles (JSON-ready)."""
        ages = [self.replies[s] - self.sent[s][1] for s in self.replies]
        times = sorted(self.replies.values())
        fps = None
        if len(times) >= 2 and times[-1] > times[0]:
            fps = round((len(times) - 1) / (times[-1] - times[0]), 2)
        sends = sorted(t for _, t in self.sent.values())
        send_fps = None
        if len(sends) >= 2 and sends[-1] > sends[0]:
            send_fps = round((len(sends) - 1) / (sends[-1] - sends[0]), 2)
        return {
            'frames_sent': len(self.sent),
            'frames_answered': len(self.replies),
            'frames_dropped': len(self.sent) - len(self.replies),
            'send_fps': send_fps,
            'output_fps': fps,
            'age_ms': {'p50': percentile_ms(ages, 50), 'p95': percentile_ms(ages, 95),
                       'p99': percentile_ms(ages, 99),
                       'max': percentile_ms(ages, 100)},
            'messages_received': dict(self.outputs),
        }


def wait_until(deadline: float, step: Callable[[float], None],
               clock: Callable[[], float] = time.monotonic) -> None:
    """Call ``step(remaining)`` (which may block up to that long) until ``deadline``."""
    while True:
        remaining = deadline - clock()
        if remaining <= 0:
            return
        step(remaining)


def describe_counts(counts: Mapping[str, int]) -> str:
    """Return ``topic: n`` pairs on one line, for logs."""
    return ', '.join(f'{t}: {n}' for t, n in sorted(counts.items())) or 'nothing'
