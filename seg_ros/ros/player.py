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
The ROS edge of replay: publish frames from a bag or folder, record what comes back.

One rclpy node in its own context, spun from the calling thread: the play loop sleeps by
spinning, so recording callbacks run while it waits and no second thread touches rclpy. The
timing and file logic lives in ``seg_ros.offline.replay``.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
import queue
import threading
import time
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence

import numpy as np
import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.serialization import deserialize_message
from seg_ros.common import conversions
from seg_ros.offline import replay
from seg_ros.offline.replay import ReplayError
from seg_ros.ros import messages
from seg_ros.ros import process
from std_msgs.msg import Header

# What the segmentation node publishes, by default all recorded (relative names: they follow
# the namespace the node and the player run in).
NODE_OUTPUTS: dict[str, str] = {
    'segmentation/labels': 'sensor_msgs/msg/Image',
    'segmentation/overlay': 'sensor_msgs/msg/Image',
    'segmentation/functional': 'sensor_msgs/msg/Image',
    'segmentation/functional_color': 'sensor_msgs/msg/Image',
    'segmentation/confidence': 'sensor_msgs/msg/Image',
    'traversability/grid': 'nav_msgs/msg/OccupancyGrid',
    '/diagnostics': 'diagnostic_msgs/msg/DiagnosticArray',
}
REPLY_TOPIC = 'segmentation/labels'


@dataclass
class Outgoing:
    """
    One paced step of the stream: a bag message, or a folder frame (image + camera_info).

    ``raw`` is published byte for byte; ``build(stamp)`` makes messages at send time, so a
    folder frame carries the time it was sent and the node's output stamp gives its age.
    """

    topic: str
    msgtype: str
    paced: bool
    recorded_ns: Optional[int] = None
    raw: Optional[bytes] = None
    build: Optional[Callable[[Any], list[tuple[str, str, Any]]]] = None


def camera_info_message(cam: replay.CameraModel, stamp: Any, frame_id: str) -> Any:
    """Return a sensor_msgs/CameraInfo for the model."""
    from sensor_msgs.msg import CameraInfo
    msg = CameraInfo()
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.width, msg.height = cam.width, cam.height
    msg.distortion_model = cam.distortion_model
    msg.d = list(cam.d)
    msg.k = list(cam.k)
    msg.r = list(cam.r)
    msg.p = list(cam.projection())
    return msg


def bag_items(source: replay.BagSource) -> Iterable[Outgoing]:
    """Return the bag's messages as steps; only the image topic is paced and answered."""
    for m in source.messages():
        yield Outgoing(m.topic, m.msgtype, paced=(m.topic == source.image_topic),
                       recorded_ns=m.timestamp, raw=m.raw)


def folder_topics(image_topic: str = 'image',
                  info_topic: Optional[str] = 'camera_info') -> list[tuple[str, str]]:
    """Return the (topic, type) pairs a folder replay publishes, to set up before playing."""
    out = [(image_topic, replay.IMAGE_TYPE)]
    if info_topic:
        out.append((info_topic, replay.CAMERA_INFO_TYPE))
    return out


def folder_items(files: Sequence[Path], encoding: str = 'rgb8', frame_id: str = 'camera',
                 image_topic: str = 'image', info_topic: Optional[str] = 'camera_info',
                 camera: Optional[replay.CameraModel] = None,
                 hfov_deg: float = replay.DEFAULT_HFOV_DEG,
                 on_skip: Optional[Callable[[Path, str], None]] = None) -> Iterable[Outgoing]:
    """
    Return an image folder as steps: camera_info then image, both stamped at send time.

    A file that cannot be read raises :class:`ReplayError`, or, with ``on_skip``, is reported
    to it (path, reason) and left out, so one damaged frame in a long folder does not end
    the run.
    """
    for path in files:
        try:
            img = replay.read_image(path, encoding)
        except ReplayError as exc:
            if on_skip is None:
                raise
            on_skip(Path(path), str(exc))
            continue
        h, w = img.shape[:2]
        cam = camera.scaled_to(w, h) if camera else replay.pinhole_guess(w, h, hfov_deg)

        def build(stamp: Any, img: np.ndarray = img,
                  cam: replay.CameraModel = cam) -> list[tuple[str, str, Any]]:
            out = []
            if info_topic:
                out.append((info_topic, replay.CAMERA_INFO_TYPE,
                            camera_info_message(cam, stamp, frame_id)))
            out.append((image_topic, replay.IMAGE_TYPE,
                        messages.image_message(img, encoding,
                                               Header(stamp=stamp, frame_id=frame_id))))
            return out

        yield Outgoing(image_topic, replay.IMAGE_TYPE, paced=True, build=build)


class ImageSaver:
    """
    Save image-like outputs as ``DIR/<folder>/NNNN.png`` on a writer thread.

    NNNN is the index of the input frame the output answers (matched by stamp), so
    ``labels/0007.png`` and the seventh input image line up. Writing off the spinning thread
    keeps PNG encoding out of the measured frame ages.
    """

    def __init__(self, root: Path, folders: Mapping[str, str],
                 index_of: Callable[[int], Optional[int]],
                 decorate: Optional[Mapping[str, Callable[[Any], Any]]] = None) -> None:
        self.root = Path(root)
        self.folders = dict(folders)
        # folder -> function applied to the RGB picture before saving (e.g. draws a legend)
        self.decorate = dict(decorate or {})
        self.index_of = index_of
        self.saved: dict[str, int] = {}
        self._extra: dict[str, int] = {}
        self._queue: queue.Queue = queue.Queue(maxsize=256)
        self._thread = threading.Thread(target=self._work, name='seg_ros_png', daemon=True)
        self._thread.start()
        self.errors: list[str] = []

    def __call__(self, topic: str, msgtype: str, msg: Any, t: float) -> None:
        """Queue one received output (the Player's output hook)."""
        folder = self.folders.get(topic)
        if folder is None or msg is None:
            return
        stamp = conversions.stamp_ns(msg.header.stamp)
        index = self.index_of(stamp)
        if index is None:  # not one of ours (e.g. a frame of an earlier run): number after
            index = 100000 + self._extra.get(topic, 0)
            self._extra[topic] = self._extra.get(topic, 0) + 1
        try:
            if msgtype == replay.IMAGE_TYPE:
                arr = replay.decode_image(msg.encoding, msg.height, msg.width, msg.step,
                                          msg.data).copy()
                enc = msg.encoding
            elif msgtype == 'nav_msgs/msg/OccupancyGrid':
                arr = replay.grid_to_image(msg.data, msg.info.width, msg.info.height)
                enc = 'rgb8'
            else:
                return
            if folder in self.decorate and enc == 'rgb8':
                arr = self.decorate[folder](arr)
        except ReplayError as exc:
            self.errors.append(f'{topic}: {exc}')
            return
        self._queue.put((self.root / folder / f'{index:04d}.png', arr, enc))

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            path, arr, enc = item
            try:
                replay.save_png(path, arr, enc)
                self.saved[path.parent.name] = self.saved.get(path.parent.name, 0) + 1
            except ReplayError as exc:
                self.errors.append(str(exc))

    def close(self) -> None:
        """Finish writing everything queued."""
        self._queue.put(None)
        self._thread.join()


class Player:
    """
    A replay node: publishes steps with a pacing policy, records outputs, measures ages.

    ``record`` maps topics to message types; every message received on them goes to
    ``recorder`` (a bag) and to each hook ``hook(topic, msgtype, msg, t_monotonic)``.
    """

    def __init__(self, record: Optional[Mapping[str, str]] = None,
                 recorder: Optional[replay.BagRecorder] = None,
                 hooks: Sequence[Callable[[str, str, Any, float], None]] = (),
                 reply_topic: Optional[str] = REPLY_TOPIC, node_name: str = 'seg_ros_replay',
                 publish_depth: int = 10, deserialize: bool = True) -> None:
        self.context = Context()
        rclpy.init(context=self.context)
        self.node = Node(node_name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.stats = replay.StreamStats()
        self.recorder = recorder
        self.hooks = list(hooks)
        self.reply_topic = reply_topic
        self.deserialize = deserialize
        self.last_reply = time.monotonic()
        self._warmup: set[int] = set()  # stamps of warm-up frames: outputs not recorded
        self.warmup_replies = 0
        self._pub_qos = QoSProfile(depth=publish_depth, history=HistoryPolicy.KEEP_LAST,
                                   reliability=ReliabilityPolicy.RELIABLE)
        self._publishers: dict[str, Any] = {}
        self._subs: dict[str, Any] = {}
        record = dict(record or {})
        if reply_topic and reply_topic not in record:
            record[reply_topic] = replay.IMAGE_TYPE
        for topic, msgtype in record.items():
            self.subscribe(topic, msgtype)

    # -- set-up ---------------------------------------------------------------------------------

    def subscribe(self, topic: str, msgtype: str) -> None:
        """Record ``topic`` (reliable, depth 100: the node publishes its outputs reliable)."""
        if topic in self._subs:
            return
        cls = replay.message_class(msgtype)
        if self.recorder is not None:
            self.recorder.add_topic(self._full_name(topic), msgtype)
        qos = QoSProfile(depth=100, history=HistoryPolicy.KEEP_LAST,
                         reliability=ReliabilityPolicy.RELIABLE)

        def on_raw(raw: bytes, topic: str = topic, msgtype: str = msgtype,
                   cls: Any = cls) -> None:
            t = time.monotonic()
            msg = None
            if self.deserialize or topic == self.reply_topic or self._warmup:
                msg = deserialize_message(raw, cls)
            header = getattr(msg, 'header', None)
            if header is not None and self._warmup:
                key = conversions.stamp_ns(header.stamp)
                if key in self._warmup:
                    self.warmup_replies += topic == self.reply_topic
                    return
            self.stats.outputs[topic] = self.stats.outputs.get(topic, 0) + 1
            if self.recorder is not None:
                self.recorder.write(self._full_name(topic), time.time_ns(), raw)
            if topic == self.reply_topic and header is not None:
                self.last_reply = t
                self.stats.on_reply(conversions.stamp_ns(header.stamp), t)
            for hook in self.hooks:
                hook(topic, msgtype, msg, t)

        self._subs[topic] = self.node.create_subscription(cls, topic, on_raw, qos, raw=True)

    def reply_publishers(self) -> int:
        """Return how many publishers the reply topic has (0: nobody could answer)."""
        sub = self._subs.get(self.reply_topic or '')
        return sub.get_publisher_count() if sub is not None else 0

    def discover_type(self, topic: str, timeout: float) -> Optional[str]:
        """Return the type a publisher on ``topic`` offers, waiting up to ``timeout``."""
        full = self._full_name(topic)
        deadline = time.monotonic() + timeout
        while True:
            for name, types in self.node.get_topic_names_and_types():
                if name == full and types:
                    return types[0]
            if time.monotonic() > deadline:
                return None
            self.spin_for(0.1)

    def _full_name(self, topic: str) -> str:
        return topic if topic.startswith('/') else '/' + topic

    def publisher(self, topic: str, msgtype: str) -> Any:
        """Return (creating once) a reliable publisher; reliable reaches best-effort readers."""
        pub = self._publishers.get(topic)
        if pub is None:
            pub = self.node.create_publisher(replay.message_class(msgtype), topic,
                                             self._pub_qos)
            self._publishers[topic] = pub
        return pub

    def spin_for(self, seconds: float) -> None:
        """Process callbacks for ``seconds`` (at least one pass)."""
        replay.wait_until(time.monotonic() + max(seconds, 0.0),
                          lambda rem: self.executor.spin_once(timeout_sec=min(rem, 0.05)))

    def wait_for_peer(self, topic: str, timeout: float, what: str,
                      alive: Optional[process.Alive] = None,
                      settle: float = 0.0) -> None:
        """
        Wait until ``topic`` has a matched reader (our publisher) or writer (our subscription).

        ``alive()`` returns an error text when the peer died (e.g. the node process exited),
        so a crash is reported at once instead of after the timeout. Matching is seen from
        our side first: a best-effort reader may not have matched our writer yet and would
        drop a frame sent at once, hence ``settle`` seconds of spinning afterwards.
        """
        deadline = time.monotonic() + timeout
        while True:
            if ((topic in self._publishers
                 and self._publishers[topic].get_subscription_count())
                    or (topic in self._subs and self._subs[topic].get_publisher_count())):
                self.spin_for(settle)
                return
            process.raise_if_dead(alive, ReplayError)
            if time.monotonic() > deadline:
                raise ReplayError(f'{what}: nothing matched topic {self._full_name(topic)} '
                                  f'within {timeout:g} s (ROS_DOMAIN_ID, topic names and QoS '
                                  'must agree)')
            self.spin_for(0.05)

    def warm_up(self, item: Outgoing, timeout: float, period: float = 0.5,
                alive: Optional[process.Alive] = None) -> float:
        """
        Send ``item`` (a folder frame) every ``period`` s until the reply topic answers one.

        A subscribed node may still be loading its model; the first answered frame proves
        the whole path works. Outputs for warm-up frames are neither recorded nor counted.
        Return the seconds it took.
        """
        if item.build is None:
            raise ReplayError('warm-up needs a frame built at send time (an image folder)')
        start = time.monotonic()
        while not self.warmup_replies:
            process.raise_if_dead(alive, ReplayError)
            if time.monotonic() - start > timeout:
                raise ReplayError(f'the node subscribed but answered no frame on '
                                  f'{self._full_name(self.reply_topic or "?")} within '
                                  f'{timeout:g} s')
            stamp = self.node.get_clock().now().to_msg()
            self._warmup.add(conversions.stamp_ns(stamp))
            for topic, msgtype, msg in item.build(stamp):
                self.publisher(topic, msgtype).publish(msg)
            self.spin_for(period)
        return time.monotonic() - start

    # -- playing --------------------------------------------------------------------------------

    def play(self, items: Iterable[Outgoing], pacer: replay.Pacer,
             reply_timeout: Optional[float] = None, limit: Optional[int] = None,
             start_index: int = 0,
             alive: Optional[process.Alive] = None) -> int:
        """
        Publish ``items``; return the number of paced frames sent (counting from start_index).

        ``reply_timeout`` set: after each paced frame wait for the reply with its stamp (the
        node's pace), at most that long. ``limit`` caps the paced frames sent in total.
        """
        index = start_index
        for item in items:
            if limit is not None and item.paced and index >= limit:
                break
            if item.build is None and item.paced:
                self.publisher(item.topic, item.msgtype)  # created before its deadline
            when = pacer.due(time.monotonic(), item.recorded_ns, item.paced)
            replay.wait_until(when, lambda rem: self.executor.spin_once(timeout_sec=rem))
            process.raise_if_dead(alive, ReplayError)
            if item.build is not None:
                stamp = self.node.get_clock().now().to_msg()
                for topic, msgtype, msg in item.build(stamp):
                    self.publisher(topic, msgtype).publish(msg)
                key = conversions.stamp_ns(stamp)
            else:
                if item.raw is None:
                    raise ReplayError(f'nothing to publish on {item.topic}')
                key = None
                if item.paced:  # its stamp, read before sending so the send time is exact
                    msg = deserialize_message(item.raw, replay.message_class(item.msgtype))
                    key = conversions.stamp_ns(msg.header.stamp)
                self.publisher(item.topic, item.msgtype).publish(item.raw)
            if not item.paced or key is None:
                continue
            self.stats.on_sent(key, index, time.monotonic())
            index += 1
            if reply_timeout:
                deadline = time.monotonic() + reply_timeout
                while key not in self.stats.replies and time.monotonic() < deadline:
                    self.executor.spin_once(timeout_sec=0.05)
            else:
                self.executor.spin_once(timeout_sec=0)
        return index - start_index

    def drain(self, idle: float = 2.0, timeout: float = 30.0) -> None:
        """
        Keep recording until every frame is answered or replies stop for ``idle`` seconds.

        A node that keeps only the newest frame never answers the frames it skipped, hence
        the idle rule; a short settle afterwards lets the last overlay/grid follow its labels.
        """
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if len(self.stats.replies) >= len(self.stats.sent):
                break
            if time.monotonic() - max(self.last_reply, start) > idle:
                break
            self.executor.spin_once(timeout_sec=0.05)
        self.spin_for(0.3)

    def close(self) -> None:
        """Destroy the node and shut its context down."""
        self.executor.shutdown()
        self.node.destroy_node()
        if self.context.ok():
            rclpy.shutdown(context=self.context)
