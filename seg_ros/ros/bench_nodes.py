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
ROS 2 processes for ``seg-ros benchmark``: camera-side client, relay, naive node.

The client publishes ready-made frames with ``header.stamp`` = send time and measures the age of
each output at arrival, so the node, the relay and the naive node are timed by the same code on
the same frames. The relay is the transport floor: it answers every frame with a label-sized
image and does nothing else. The naive node is the pipeline most hobby nodes run (bridge-style
copies, colour conversions, per-frame float normalisation on the CPU, argmax of full
logits in NumPy, ``msg.data = list``), so the benchmark shows what the seg_ros design saves.

Run a process with ``python -m seg_ros.ros.bench_nodes relay|naive ...``.
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import Any, Mapping, Optional, Sequence

import numpy as np
from seg_ros.common import conversions, stats
from seg_ros.ros import process

INPUT_TOPIC = 'image'
OUTPUT_TOPIC = 'segmentation/labels'
INFO_TOPIC = 'camera_info'
GRID_TOPIC = 'traversability/grid'
CLOUD_TOPICS = ('traversability/obstacles', 'traversability/dynamic_obstacles',
                'traversability/clearing')
DIAGNOSTICS_TOPIC = '/diagnostics'


def _qos() -> tuple[Any, Any]:
    """Input: best-effort depth 1 (the node's default); output: reliable depth 10."""
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
    from seg_ros.ros.qos import sensor_data

    sensor = sensor_data(depth=1)
    out = QoSProfile(depth=10, history=HistoryPolicy.KEEP_LAST,
                     reliability=ReliabilityPolicy.RELIABLE)
    return sensor, out


class Client:
    """Publish frames at a fixed rate and record each output's age (receive - header.stamp)."""

    def __init__(self, node: Any) -> None:
        from diagnostic_msgs.msg import DiagnosticArray
        from sensor_msgs.msg import Image

        sensor, out = _qos()
        self.node = node
        # The publisher keeps 1 sample like a camera driver; best effort, as the node expects.
        self.pub = node.create_publisher(Image, INPUT_TOPIC, sensor)
        self.sub = node.create_subscription(Image, OUTPUT_TOPIC, self._on_output, out)
        self.diag_sub = node.create_subscription(DiagnosticArray, DIAGNOSTICS_TOPIC,
                                                 self._on_diagnostics, out)
        self._diagnostics: Optional[dict[str, str]] = None
        self.msgs: list[Any] = []
        self._sent: set[int] = set()
        self._ages: list[float] = []
        self._grids: set[int] = set()
        self._recorded: set[int] = set()
        self._any_output = False
        self._next = 0
        self._info: Optional[Any] = None         # the camera_info to send, when traversability
        self._info_pub: Optional[Any] = None
        self._trav_subs: list[Any] = []

    @property
    def traversability(self) -> bool:
        """Return whether camera_info is sent and the grid and clouds are subscribed."""
        return bool(self._trav_subs)

    def set_traversability(self, on: bool) -> None:
        """
        Send a camera_info with each frame and subscribe to the grid and the Nav2 clouds.

        So the node's traversability tail runs in full (functional image, grid, three clouds,
        each with a subscriber as in a Nav2 set-up); the grids received are counted.
        """
        from nav_msgs.msg import OccupancyGrid
        from sensor_msgs.msg import CameraInfo, PointCloud2

        for sub in self._trav_subs:
            self.node.destroy_subscription(sub)
        self._trav_subs = []
        if not on:
            return
        sensor, out = _qos()
        if self._info_pub is None:
            self._info_pub = self.node.create_publisher(CameraInfo, INFO_TOPIC, sensor)
        self._trav_subs = [self.node.create_subscription(OccupancyGrid, GRID_TOPIC,
                                                         self._on_grid, out)]
        self._trav_subs += [self.node.create_subscription(PointCloud2, topic, lambda _: None, out)
                            for topic in CLOUD_TOPICS]

    def _on_grid(self, msg: Any) -> None:
        self._grids.add(conversions.stamp_ns(msg.header.stamp))

    def _on_diagnostics(self, msg: Any) -> None:
        from seg_ros.ros.diagnostics import node_status_values

        values = node_status_values(msg)
        if values:
            self._diagnostics = values

    def node_figures(self, wanted: Mapping[str, str]) -> dict[str, dict[str, float]]:
        """
        Return the node's own timings from its latest /diagnostics since :meth:`measure` began.

        ``wanted`` maps a result field to a timing's /diagnostics name
        (``seg_ros.common.stats.AGE_AT_PUBLISH``, ...). A seg_ros node times its labels' age
        right after their publish, over the last 5 s: beside the client's age (at arrival) the
        difference is delivery and the client's own executor. Fields the process does not
        report (the relay, the naive node), or not yet, are left out.
        """
        values = self._diagnostics or {}
        found = {field: stats.read_percentiles(values, stem) for field, stem in wanted.items()}
        return {field: p for field, p in found.items() if p is not None}

    def set_frames(self, frames: Sequence[np.ndarray], frame_id: str = 'camera') -> None:
        """Prepare the messages to send (conversion is not part of any measurement)."""
        from seg_ros.ros import messages
        from std_msgs.msg import Header

        # Built once; only the stamp changes per send.
        self.msgs = [messages.image_message(f, 'rgb8', Header(frame_id=frame_id))
                     for f in frames]
        self._info = _camera_info(frames[0].shape[1], frames[0].shape[0], frame_id)

    def _on_output(self, msg: Any) -> None:
        now = time.time_ns()
        stamp = conversions.stamp_ns(msg.header.stamp)
        self._any_output = True
        if stamp in self._sent:
            self._sent.discard(stamp)
            self._ages.append((now - stamp) / 1e6)

    def _spin(self, executor: Any, seconds: float) -> None:
        executor.spin_once(timeout_sec=max(0.0, seconds))

    def wait_for_peer(self, executor: Any, timeout: float,
                      alive: Optional[process.Alive] = None) -> None:
        """
        Wait until the process under test subscribes to frames and publishes labels.

        ``alive`` (e.g. :meth:`seg_ros.ros.process.NodeProcess.dead`) reports a crash at once.
        """
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.pub.get_subscription_count() > 0 and self.sub.get_publisher_count() > 0:
                return
            process.raise_if_dead(alive, RuntimeError)
            self._spin(executor, 0.05)
        raise TimeoutError(f'no subscriber on "{INPUT_TOPIC}" and publisher on '
                           f'"{OUTPUT_TOPIC}" within {timeout:.0f} s')

    def _publish(self, i: int, record: bool) -> None:
        msg = self.msgs[i % len(self.msgs)]
        self._next = i + 1
        now = time.time_ns()
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(now, 1_000_000_000)
        if record:
            self._sent.add(now)
            self._recorded.add(now)
        if self._trav_subs and self._info_pub is not None and self._info is not None:
            self._info.header.stamp = msg.header.stamp    # the frame's camera_info, first
            self._info_pub.publish(self._info)
        self.pub.publish(msg)

    def warm_up(self, executor: Any, rate: float, seconds: float = 1.0,
                first_output_timeout: float = 60.0,
                alive: Optional[process.Alive] = None) -> None:
        """Send frames until the first output arrives (model load), then ``seconds`` more."""
        period = 1.0 / rate
        self._any_output = False
        t_first = next_t = time.monotonic()
        warm_end = None
        while True:
            now = time.monotonic()
            if warm_end is None and self._any_output:
                warm_end = now + seconds
            if warm_end is not None and now >= warm_end:
                return
            if now - t_first > first_output_timeout:
                raise TimeoutError(f'no output on "{OUTPUT_TOPIC}" within '
                                   f'{first_output_timeout:.0f} s of sending frames')
            process.raise_if_dead(alive, RuntimeError)
            if now >= next_t:
                self._publish(self._next, record=False)
                next_t += period
            self._spin(executor, next_t - time.monotonic())

    def measure(self, executor: Any, rate: float, duration: float, max_frames: int = 0,
                drain: float = 1.0) -> dict[str, Any]:
        """
        Send for ``duration`` s (or ``max_frames`` frames) and collect the outputs' ages.

        Returns frames sent and answered in the window, the window length, and the ages (ms).
        Outputs of frames sent before the window (warm-up) are not counted; answers that come
        within ``drain`` s after the window still are.
        """
        period = 1.0 / rate
        self._sent.clear()
        self._ages = []
        self._diagnostics = None
        self._grids = set()
        self._recorded = set()
        sent = 0
        start = next_t = time.monotonic()
        while True:
            now = time.monotonic()
            if (max_frames and sent >= max_frames) or (not max_frames and now - start >= duration):
                break
            if now >= next_t:
                self._publish(self._next, record=True)
                sent += 1
                next_t += period
                if next_t < now:              # fell behind (busy machine): do not burst
                    next_t = now + period
            self._spin(executor, next_t - time.monotonic())
        window = time.monotonic() - start
        drain_end = time.monotonic() + drain
        while self._sent and time.monotonic() < drain_end:
            self._spin(executor, 0.02)
        return {'frames_in': sent, 'frames_out': len(self._ages), 'duration_s': window,
                'ages_ms': list(self._ages), 'grids_out': len(self._grids & self._recorded)}


def _camera_info(width: int, height: int, frame_id: str) -> Any:
    """Return a pinhole camera_info for frames of this size (60 degrees across)."""
    from sensor_msgs.msg import CameraInfo

    f = width / (2 * np.tan(np.radians(30)))
    msg = CameraInfo(width=width, height=height, distortion_model='plumb_bob')
    msg.header.frame_id = frame_id
    msg.k = [f, 0.0, (width - 1) / 2, 0.0, f, (height - 1) / 2, 0.0, 0.0, 1.0]
    msg.d = [0.0] * 5
    msg.r = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    msg.p = [f, 0.0, (width - 1) / 2, 0.0, 0.0, f, (height - 1) / 2, 0.0, 0.0, 0.0, 1.0, 0.0]
    return msg


# --- processes under test ------------------------------------------------------------------


def _spin_node(node: Any, executor_choice: Optional[str] = None) -> int:
    from seg_ros.ros.spin import spin
    return spin(node, executor_choice)


def run_relay(argv: Sequence[str]) -> int:
    """Answer every frame with a mono8 image of its size and its header; no model, no copy."""
    import rclpy
    from rclpy.node import Node
    from seg_ros.ros import messages
    from sensor_msgs.msg import Image

    rclpy.init(args=list(argv))
    node = Node('seg_ros_bench_relay')
    sensor, out_qos = _qos()
    pub = node.create_publisher(Image, OUTPUT_TOPIC, out_qos)
    state: dict[str, Any] = {'shape': None, 'out': None}

    def on_image(msg: Any) -> None:
        np.frombuffer(msg.data, np.uint8)      # what the node does first: a zero-copy view
        shape = (msg.height, msg.width)
        if state['shape'] != shape:            # built once per size: no per-frame copy
            state['shape'] = shape
            state['out'] = messages.image_message(np.zeros(shape, np.uint8), 'mono8')
        out = state['out']
        out.header = msg.header
        pub.publish(out)

    node.create_subscription(Image, INPUT_TOPIC, on_image, sensor)
    return _spin_node(node)


def run_naive(argv: Sequence[str]) -> int:
    """Run the naive baseline node: everything in the callback, the common way."""
    import cv2
    import onnxruntime as ort
    import rclpy
    from rclpy.node import Node
    from sensor_msgs.msg import Image

    from seg_ros.common.images import parse_size
    from seg_ros.offline.benchmarking import naive_normalize

    parser = argparse.ArgumentParser(prog='seg_ros.ros.bench_nodes naive')
    parser.add_argument('--model', required=True, help='float NCHW input, logits output')
    parser.add_argument('--mean', type=float, nargs=3, required=True)
    parser.add_argument('--std', type=float, nargs=3, required=True)
    parser.add_argument('--scale', type=float, default=1.0)
    parser.add_argument('--bgr', action='store_true', help='the network takes BGR')
    parser.add_argument('--size', default='', metavar='WxH',
                        help='network input WIDTHxHEIGHT; empty = frame size')
    parser.add_argument('--threads', type=int, default=0)
    parser.add_argument('--device', default='cpu')
    args, ros_args = parser.parse_known_args(argv)
    so = ort.SessionOptions()
    if args.threads:
        so.intra_op_num_threads = args.threads
    providers = (['CUDAExecutionProvider', 'CPUExecutionProvider'] if args.device == 'cuda'
                 else ['CPUExecutionProvider'])
    session = ort.InferenceSession(args.model, so, providers=providers)
    in_name = session.get_inputs()[0].name
    net_size = parse_size(args.size, '--size') if args.size else None   # (w, h), as cv2 wants

    rclpy.init(args=ros_args)
    node = Node('seg_ros_bench_naive')
    sensor, out_qos = _qos()
    pub = node.create_publisher(Image, OUTPUT_TOPIC, out_qos)

    def on_image(msg: Any) -> None:
        # imgmsg_to_cv2(msg, 'bgr8'): copy the buffer, convert to OpenCV's channel order.
        frame = np.array(msg.data, dtype=np.uint8).reshape(msg.height, msg.width, 3)
        img = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
        if not args.bgr:
            img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        if net_size is not None and net_size != (msg.width, msg.height):
            img = cv2.resize(img, net_size, interpolation=cv2.INTER_LINEAR)
        x = naive_normalize(img, args.mean, args.std, args.scale)
        logits = session.run(None, {in_name: x})[0][0]
        if logits.shape[1:] != (msg.height, msg.width):
            # Same job as the contract graph: bilinear logits at frame size, then argmax.
            hwc = cv2.resize(logits.transpose(1, 2, 0), (msg.width, msg.height),
                             interpolation=cv2.INTER_LINEAR)
            labels = np.argmax(hwc, axis=2).astype(np.uint8)
        else:
            labels = np.argmax(logits, axis=0).astype(np.uint8)
        # cv2_to_imgmsg, then the list assignment seen in most examples (on purpose not
        # seg_ros.ros.messages.image_message: this is the cost the benchmark shows).
        out = Image()
        out.header = msg.header
        out.height, out.width = labels.shape
        out.encoding = 'mono8'
        out.step = labels.shape[1]
        out.data = labels.flatten().tolist()
        pub.publish(out)

    node.create_subscription(Image, INPUT_TOPIC, on_image, sensor)
    # The common way spins with rclpy's default executor, not the node's EventsExecutor.
    return _spin_node(node, 'single')


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in ('relay', 'naive'):
        print('usage: python -m seg_ros.ros.bench_nodes relay|naive [options] [--ros-args ...]',
              file=sys.stderr)
        return 2
    return run_relay(argv[1:]) if argv[0] == 'relay' else run_naive(argv[1:])


if __name__ == '__main__':
    sys.exit(main())
