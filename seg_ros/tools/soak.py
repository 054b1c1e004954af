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
``seg-ros soak``: the node under a steady camera stream for minutes, every output subscribed.

A leak, a queue that grows, or a thread that stalls shows only over time: this feeds real frames
at a fixed rate (default 30 Hz, 640x480, CamVid val resized) with camera_info, subscribes to
every output (labels, overlay, confidence, functional, grid, obstacles, /diagnostics), and
prints one row per interval (default a minute): frames sent and answered, frames the node
dropped (newer frame arrived first), age at arrival p50/p95/max, and the node's resident memory.
The summary gives RSS growth after the first interval (warm-up) and the age trend. The output
format (``#`` header, one whitespace-separated row per interval, ``summary:`` lines) is what
``test/test_soak.py`` checks; results go in BENCHMARKS.md with the command.
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
import sys
import time
from typing import Any, Optional

import numpy as np

from seg_ros import zoo
from seg_ros.common import conversions
from seg_ros.common.images import parse_size
from seg_ros.offline import benchmarking as bm
from seg_ros.ros import process
from seg_ros.tools.benchmark import ros_environment

COLUMNS = ('interval', 't_end_s', 'frames_in', 'frames_out', 'dropped', 'age_p50_ms',
           'age_p95_ms', 'age_max_ms', 'rss_mb', 'anon_mb', 'shm_mb', 'overlays', 'grids')
OUTPUTS = {'segmentation/labels': 'Image', 'segmentation/overlay': 'Image',
           'segmentation/confidence': 'Image', 'segmentation/functional': 'Image',
           'traversability/grid': 'OccupancyGrid', 'traversability/obstacles': 'PointCloud2'}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--model', required=True, help='model in the seg_ros contract (.onnx)')
    parser.add_argument('--images', type=Path, default=None,
                        help='frames (cycled; default: CamVid val from $SEG_ROS_ASSETS)')
    parser.add_argument('--size', default='640x480', help='WIDTHxHEIGHT sent (default 640x480)')
    parser.add_argument('--rate', type=float, default=30.0, help='camera rate, Hz (default 30)')
    parser.add_argument('--duration', type=float, default=600.0,
                        help='seconds of streaming after the first answer (default 600)')
    parser.add_argument('--interval', type=float, default=60.0,
                        help='seconds per printed row (default 60)')
    parser.add_argument('--threads', type=int, default=0, help='node inference threads')
    parser.add_argument('--start-timeout', type=float, default=120.0,
                        help='seconds to wait for the node to start and answer')
    parser.add_argument('--domain-id', type=int, default=None,
                        help='ROS_DOMAIN_ID (default: a free one, held while running)')
    parser.add_argument('--spike', default=None, metavar='WxH',
                        help='send one mono8 frame of this size at the start of the second '
                        'interval (e.g. 4000x3000): the RSS rows show whether it is released')
    parser.add_argument('--spike-frames', type=int, default=1, metavar='N',
                        help='send a stream of N frames of the --spike size at --rate instead '
                        'of one (a camera switched to a large mode for a while)')
    parser.add_argument('--spike-at', default='2', metavar='I[,I...]',
                        help='intervals at whose start the spike is sent (default 2); several '
                        'show whether repeated spikes add memory or reuse it')
    parser.add_argument('--spike-encoding', choices=('mono8', 'rgb8'), default='mono8',
                        help='encoding of the spike frames (rgb8: the first frame, resized)')
    parser.add_argument('--json', type=Path, default=None, metavar='OUT', help='write JSON')


def rss_mb(pid: int) -> Optional[float]:
    """Return the current resident set of a process (VmRSS), MB; None when it is gone."""
    try:
        for line in Path(f'/proc/{pid}/status').read_text().splitlines():
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def memory_parts_mb(pid: int) -> dict[str, Optional[float]]:
    """
    Split a process's resident memory: anonymous (heap, arenas) and shared-memory segments.

    Fast DDS maps its shared-memory transport's segments from /dev/shm and keeps the largest
    payload it has carried; the C and ONNX Runtime heaps are anonymous. Which of the two holds
    memory after large frames says whether it is the transport or the node's own buffers.
    """
    anon = shm = 0
    try:
        path = ''
        for line in Path(f'/proc/{pid}/smaps').read_text().splitlines():
            fields = line.split()
            if fields and not fields[0].endswith(':'):
                path = fields[5] if len(fields) > 5 else ''
            elif fields and fields[0] == 'Rss:':
                kb = int(fields[1])
                if path.startswith('/dev/shm'):
                    shm += kb
                elif path in ('', '[heap]') or path.startswith('[anon'):
                    anon += kb
    except (OSError, ValueError, IndexError):
        return {'anon_mb': None, 'shm_mb': None}
    return {'anon_mb': anon / 1024.0, 'shm_mb': shm / 1024.0}


def camera_info_msg(width: int, height: int) -> Any:
    """Return a pinhole camera_info for the sent size (60 degree horizontal field of view)."""
    from sensor_msgs.msg import CameraInfo

    f = width / (2 * np.tan(np.radians(30)))
    info = CameraInfo(width=width, height=height, distortion_model='plumb_bob')
    info.header.frame_id = 'camera_optical_frame'
    info.k = [f, 0.0, (width - 1) / 2, 0.0, f, (height - 1) / 2, 0.0, 0.0, 1.0]
    info.d = [0.0] * 5
    return info


class Soak:
    """The feeding and recording side: one rclpy node in this process."""

    def __init__(self, frames: list[np.ndarray], size: tuple[int, int]) -> None:
        import rclpy
        from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
        from seg_ros.ros.qos import sensor_data
        from seg_ros.ros.spin import make_executor
        from diagnostic_msgs.msg import DiagnosticArray
        from nav_msgs.msg import OccupancyGrid
        from seg_ros.ros.messages import image_message
        from sensor_msgs.msg import CameraInfo, Image, PointCloud2
        from std_msgs.msg import Header

        rclpy.init()
        self.node = rclpy.create_node('seg_ros_soak')
        # The EventsExecutor, as the benchmark's client: the ages are taken in its callbacks.
        self.executor, warning = make_executor('events')
        if warning:
            print(f'soak: {warning}', file=sys.stderr)
        self.executor.add_node(self.node)
        sensor = sensor_data(depth=1)
        reliable = QoSProfile(depth=10, history=HistoryPolicy.KEEP_LAST,
                              reliability=ReliabilityPolicy.RELIABLE)
        self.image_pub = self.node.create_publisher(Image, 'image', sensor)
        self.info_pub = self.node.create_publisher(CameraInfo, 'camera_info', reliable)
        self.frames = frames
        self.msgs = [image_message(f, 'rgb8', Header(frame_id='camera_optical_frame'))
                     for f in frames]
        self.info = camera_info_msg(*size)
        self.counts = dict.fromkeys(OUTPUTS, 0)
        self.ages: list[float] = []
        self.dropped = 0
        types = {'Image': Image, 'OccupancyGrid': OccupancyGrid, 'PointCloud2': PointCloud2}
        for topic, type_name in OUTPUTS.items():
            self.node.create_subscription(types[type_name], topic,
                                          lambda m, t=topic: self._on_output(t, m), reliable)
        self.node.create_subscription(DiagnosticArray, '/diagnostics', self._on_diagnostics,
                                      reliable)
        self._sent = 0
        self.frames_sent = 0   # every frame, spikes included: what frames_out is compared with

    def _on_output(self, topic: str, msg: Any) -> None:
        self.counts[topic] += 1
        if topic == 'segmentation/labels':
            stamp = conversions.stamp_ns(msg.header.stamp)
            self.ages.append((time.time_ns() - stamp) / 1e6)

    def _on_diagnostics(self, msg: Any) -> None:
        from seg_ros.ros.diagnostics import node_status_values

        dropped = node_status_values(msg).get('frames dropped (overload)')
        if dropped is not None:
            self.dropped = int(dropped)

    def spike_message(self, size: tuple[int, int], encoding: str) -> Any:
        """Return a frame of ``size`` (a camera switching mode, a bad driver)."""
        from sensor_msgs.msg import Image
        from std_msgs.msg import Header
        from seg_ros.ros.messages import image_message
        import array

        w, h = size
        if encoding == 'rgb8':
            return image_message(bm.resize_frames(self.frames[:1], size)[0], 'rgb8',
                                 Header(frame_id='camera_optical_frame'))
        msg = Image(height=h, width=w, encoding='mono8', step=w)
        msg.header.frame_id = 'camera_optical_frame'
        msg.data = array.array('B', bytes(w * h))
        return msg

    def publish_spike(self, msg: Any, info: Any) -> None:
        """Send one spike frame with a camera_info of its size, stamped now."""
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(time.time_ns(), 1_000_000_000)
        info.header.stamp = msg.header.stamp
        self.info_pub.publish(info)
        self.image_pub.publish(msg)
        self.frames_sent += 1

    def publish(self) -> None:
        msg = self.msgs[self._sent % len(self.msgs)]
        now = time.time_ns()
        msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(now, 1_000_000_000)
        self.info.header.stamp = msg.header.stamp
        self.info_pub.publish(self.info)
        self.image_pub.publish(msg)
        self._sent += 1
        self.frames_sent += 1

    def spin_until(self, t: float) -> None:
        while True:
            left = t - time.monotonic()
            if left <= 0:
                return
            self.executor.spin_once(timeout_sec=left)

    def close(self) -> None:
        import rclpy

        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown()


def _fmt(v: Optional[float]) -> str:
    return 'n/a' if v is None else f'{v:.1f}'


def run(args: argparse.Namespace) -> int:
    try:
        size = parse_size(args.size, '--size')
        spike = parse_size(args.spike, '--spike') if args.spike else None
        try:
            spike_at = {int(i) for i in args.spike_at.split(',') if i.strip()}
        except ValueError:
            raise ValueError(f'--spike-at: a comma list of interval numbers, not '
                             f'{args.spike_at!r}') from None
        if args.spike_frames < 1:
            raise ValueError('--spike-frames must be at least 1')
        if args.rate <= 0 or args.duration <= 0 or args.interval <= 0:
            raise ValueError('--rate, --duration and --interval must be positive')
        if not os.path.isfile(args.model):
            raise ValueError(f'model file not found: {args.model}')
        images = args.images
        if images is None:
            assets = zoo.assets_dir()
            default = assets / 'data' / 'camvid' / 'val' if assets else None
            images = default if default and default.is_dir() else None
        frames = bm.resize_frames(bm.load_frames(images, 32), size)
    except ValueError as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 1
    env = ros_environment(args.domain_id)
    cmd = process.node_command({'model_path': os.path.abspath(args.model),
                                'threads': args.threads, 'publish_confidence': True})
    print(f'soak: {args.model}, {len(frames)} frames from {images or "random noise"} at '
          f'{size[0]}x{size[1]}, {args.rate:g} Hz for {args.duration:g} s, a row every '
          f'{args.interval:g} s; every output subscribed', flush=True)
    soak = Soak(frames, size)
    spike_msg = soak.spike_message(spike, args.spike_encoding) if spike else None
    spike_info = camera_info_msg(*spike) if spike else None
    proc = process.NodeProcess(cmd, env)
    rows: list[dict[str, Any]] = []
    try:
        end = time.monotonic() + args.start_timeout
        while not soak.ages:   # the model loads: send until the first answer
            if time.monotonic() > end or proc.proc.poll() is not None:
                print(f'error: the node did not answer within {args.start_timeout:g} s; its '
                      f'output:\n{proc.tail()}', file=sys.stderr)
                return 1
            soak.publish()
            soak.spin_until(time.monotonic() + 1.0 / args.rate)
        print('# ' + ' '.join(COLUMNS), flush=True)
        period = 1.0 / args.rate
        start = next_t = time.monotonic()
        n_intervals = max(1, int(round(args.duration / args.interval)))
        for i in range(1, n_intervals + 1):
            sent0, counts0, dropped0 = soak.frames_sent, dict(soak.counts), soak.dropped
            soak.ages = []
            interval_end = start + i * args.interval
            if spike is not None and i in spike_at:
                for _ in range(args.spike_frames):
                    soak.publish_spike(spike_msg, spike_info)
                    soak.spin_until(time.monotonic() + period)
                # Nothing else for 3 s, so the node takes the last one rather than a newer one.
                soak.spin_until(time.monotonic() + 3.0)
                print(f'# sent {args.spike_frames} {spike[0]}x{spike[1]} {args.spike_encoding} '
                      f'frame(s), then 3 s without frames', flush=True)
            while time.monotonic() < interval_end:
                if proc.proc.poll() is not None:
                    print(f'error: the node exited with code {proc.proc.returncode}:\n'
                          f'{proc.tail()}', file=sys.stderr)
                    return 1
                soak.publish()
                next_t = max(next_t + period, time.monotonic())  # no bursts after a stall
                soak.spin_until(min(next_t, interval_end))
            ages = bm.summarize_ms(soak.ages)
            row = {'interval': i, 't_end_s': round(time.monotonic() - start, 1),
                   'frames_in': soak.frames_sent - sent0,
                   'frames_out': soak.counts['segmentation/labels']
                   - counts0['segmentation/labels'],
                   'dropped': soak.dropped - dropped0, 'age_p50_ms': ages['p50'],
                   'age_p95_ms': ages['p95'], 'age_max_ms': ages['max'],
                   'rss_mb': rss_mb(proc.proc.pid), **memory_parts_mb(proc.proc.pid),
                   'overlays': soak.counts['segmentation/overlay']
                   - counts0['segmentation/overlay'],
                   'grids': soak.counts['traversability/grid'] - counts0['traversability/grid']}
            rows.append(row)
            print('  ' + ' '.join(_fmt(row[c]) if isinstance(row[c], float) else str(row[c])
                                  for c in COLUMNS), flush=True)
    finally:
        proc.stop()
        soak.close()
    summary = summarize(rows)
    for key, value in summary.items():
        print(f'summary: {key} = {value}')
    if args.json:
        args.json.write_text(json.dumps({'settings': {
            'model': args.model, 'size': args.size, 'rate': args.rate,
            'duration': args.duration, 'interval': args.interval, 'threads': args.threads,
            'spike': args.spike, 'spike_frames': args.spike_frames, 'spike_at': sorted(spike_at),
            'spike_encoding': args.spike_encoding},
            'machine': bm.machine_info(), 'rows': rows, 'summary': summary}, indent=2))
        print(f'wrote {args.json}')
    return 0


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Return the RSS growth after the first row (warm-up) and the age trend (p50 last - first)."""
    first, last = rows[0], rows[-1]
    growth = (None if first['rss_mb'] is None or last['rss_mb'] is None
              else round(last['rss_mb'] - first['rss_mb'], 1))
    trend = (None if first['age_p50_ms'] is None or last['age_p50_ms'] is None
             else round(last['age_p50_ms'] - first['age_p50_ms'], 1))
    return {'rss_growth_after_warmup_mb': growth, 'age_p50_trend_ms': trend,
            'rss_max_mb': round(max((r['rss_mb'] or 0.0) for r in rows), 1),
            'frames_in': sum(r['frames_in'] for r in rows),
            'frames_out': sum(r['frames_out'] for r in rows),
            'dropped': sum(r['dropped'] for r in rows)}
