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
Which depth image and camera_info belong to a camera frame: stamps, frame ids and age.

Aligned depth cameras stamp the colour and depth images of one exposure alike, so depth is
matched to a frame by stamp: the nearest of the last few depth images, used only when it lies
within ``sync.tolerance`` of the image stamp and is in the image's frame (or one declared
equivalent). camera_info describes the camera rather than one exposure, so the newest one is
used while it is no older than ``sync.max_age`` (by stamp, relative to the image). When no
stream matches, the caller gets a message that says which stream, how far apart or how old,
and what to check. Stamps are integer nanoseconds, so this module needs no ROS types and
works the same with simulated time; the buffer is filled by the executor thread and read by
the worker, hence the lock.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
import math
import threading
import time
from typing import Any, Deque, Optional, Sequence

import numpy as np

NS = 1_000_000_000
SILENT_S = 1.0   # a stream with nothing for this long has stopped (not just lagging)


@dataclass(frozen=True)
class Stamped:
    """One buffered message with its stamp (ns), frame id and arrival time (monotonic s)."""

    stamp_ns: int
    frame_id: str
    received: float
    msg: Any


@dataclass(frozen=True)
class Match:
    """The message for a frame, or None and the reason (a message for /diagnostics)."""

    item: Optional[Stamped]
    problem: Optional[str] = None


def _gap(seconds: float) -> str:
    return f'{abs(seconds):.3f} s {"before" if seconds < 0 else "after"}'


class StreamBuffer:
    """The last ``size`` messages of one stream, searched by stamp."""

    def __init__(self, stream: str, topic: str, size: int = 8) -> None:
        self.stream = stream        # 'depth' or 'camera_info': used in the messages
        self.topic = topic
        self._items: Deque[Stamped] = deque(maxlen=size)
        self._cond = threading.Condition()

    def add(self, stamp_ns: int, frame_id: str, msg: Any, now: float) -> None:
        with self._cond:
            self._items.append(Stamped(stamp_ns, frame_id, now, msg))
            self._cond.notify_all()

    def clear(self) -> None:
        with self._cond:
            self._items.clear()

    def newest(self) -> Optional[Stamped]:
        with self._cond:
            return self._items[-1] if self._items else None

    def wait_for(self, stamp_ns: int, tolerance_s: float, timeout_s: float) -> None:
        """
        Wait (at most ``timeout_s``) for a message stamped no earlier than the frame's window.

        The image and its depth travel separately, so the depth of the newest frame may land a
        few milliseconds after it; waiting that long beats pairing it with the previous depth.
        A stream that is silent (nothing for a second) or absent is not waited for.
        """
        earliest = stamp_ns - int(tolerance_s * NS)

        def ready() -> bool:
            if not self._items:
                return True
            newest = self._items[-1]
            return newest.stamp_ns >= earliest or time.monotonic() - newest.received > SILENT_S

        with self._cond:
            self._cond.wait_for(ready, timeout=timeout_s)

    def _frame_ok(self, item: Stamped, frame_id: str, equivalent: Sequence[str]) -> bool:
        if not item.frame_id or not frame_id:
            return True   # an unnamed frame cannot be compared; stamps still must match
        return item.frame_id == frame_id or item.frame_id in equivalent

    def _frame_problem(self, item: Stamped, frame_id: str) -> str:
        fix = ('register depth to the colour camera (depth_image_proc/register)'
               if self.stream == 'depth' else 'publish the camera_info of the segmented camera')
        return (f'{self.stream} on {self.topic} is in frame "{item.frame_id}", the image in '
                f'"{frame_id}": {fix}, or list "{item.frame_id}" in sync.equivalent_frames if '
                'they are the same optical frame')

    def match_nearest(self, stamp_ns: int, frame_id: str, tolerance_s: float,
                      equivalent: Sequence[str] = (), now: Optional[float] = None) -> Match:
        """Return the message stamped nearest the frame, if within ``tolerance_s``."""
        now = time.monotonic() if now is None else now
        with self._cond:
            items = list(self._items)
        if not items:
            return Match(None, f'no {self.stream} on {self.topic} (none received yet): check '
                         f'that the {self.stream} stream is published and "{self.stream}" is '
                         'remapped to it')
        best = min(items, key=lambda i: abs(i.stamp_ns - stamp_ns))
        offset = (best.stamp_ns - stamp_ns) / NS
        if abs(offset) > tolerance_s:
            silent = now - items[-1].received
            if silent > SILENT_S:
                what = (f'no {self.stream} on {self.topic} for {silent:.1f} s (the nearest is '
                        f'stamped {_gap(offset)} the image): the {self.stream} stream stopped; '
                        f'check the {self.stream} camera and its driver')
            else:
                what = (f'the nearest {self.stream} on {self.topic} is stamped {_gap(offset)} '
                        f'the image (tolerance {tolerance_s} s): check that both streams are '
                        'stamped by the same clock at the same exposure (sync.tolerance)')
            return Match(None, what)
        if not self._frame_ok(best, frame_id, equivalent):
            return Match(None, self._frame_problem(best, frame_id))
        return Match(best)

    def match_recent(self, stamp_ns: int, frame_id: str, max_age_s: float,
                     equivalent: Sequence[str] = ()) -> Match:
        """Return the newest message, if stamped no more than ``max_age_s`` from the frame."""
        item = self.newest()
        if item is None:
            return Match(None, f'no {self.stream} on {self.topic} (none received yet): the grid '
                         f'needs the intrinsics; check that the camera driver publishes '
                         f'{self.stream} and "{self.stream}" is remapped to it')
        if stamp_ns and not item.stamp_ns:
            return Match(None, f'{self.stream} on {self.topic} is not stamped (stamp 0) while '
                         "the image is: publish it with the image's stamp")
        offset = (item.stamp_ns - stamp_ns) / NS
        if abs(offset) > max_age_s:
            return Match(None, f'the newest {self.stream} on {self.topic} is stamped '
                         f'{_gap(offset)} the image (at most {max_age_s} s, sync.max_age): '
                         f'the {self.stream} stream stopped or is stamped by another clock; '
                         'check the camera driver')
        if not self._frame_ok(item, frame_id, equivalent):
            return Match(None, self._frame_problem(item, frame_id))
        return Match(item)


def depth_size_problem(depth: np.ndarray, shape: tuple[int, ...], topic: str) -> Optional[str]:
    """Say so when depth is not the image's size (not registered to the colour camera)."""
    if depth.shape[:2] == tuple(shape[:2]):
        return None
    return (f'depth on {topic} is {depth.shape[1]}x{depth.shape[0]}, the image '
            f'{shape[1]}x{shape[0]}: depth must be registered to the colour camera at its '
            'resolution (depth_image_proc/register)')


def depth_content_problem(depth: np.ndarray, topic: str) -> Optional[str]:
    """Say so when a depth image holds no usable range at all (NaN, inf, zero, negative)."""
    d = np.asarray(depth)
    valid = np.isfinite(d) & (d > 0) if d.dtype.kind == 'f' else d > 0
    if np.any(valid):
        return None
    return (f'depth on {topic} has no valid pixel ({d.shape[1]}x{d.shape[0]}, all NaN, inf, '
            'zero or negative): check the depth camera (covered, too close, out of range or '
            'not streaming depth)')


def camera_info_problem(k: Sequence[float], d: Sequence[float], width: int, height: int,
                        image_size: tuple[int, int], topic: str) -> Optional[str]:
    """Say so when camera_info cannot describe the image: bad numbers or another shape."""
    values = [float(v) for v in k] + [float(v) for v in d]
    if len(k) != 9 or not all(math.isfinite(v) for v in values):
        bad = 'd (distortion)' if all(math.isfinite(float(v)) for v in k) else 'k'
        return (f'camera_info on {topic} has NaN or inf in {bad}: the intrinsics carry no '
                'information; check the camera calibration')
    fx, fy = float(k[0]), float(k[4])
    if not (fx > 0 and fy > 0):
        return (f'camera_info on {topic} has focal lengths fx={fx}, fy={fy}: the camera is not '
                "calibrated; run camera_calibration or set the driver's calibration file")
    w, h = image_size
    if width <= 0 or height <= 0:
        return f'camera_info on {topic} has no size ({width}x{height}); check the camera driver'
    if abs(width / height - w / h) > 0.01 * w / h:
        return (f'camera_info on {topic} is {width}x{height} but the image is {w}x{h} (another '
                'aspect ratio): it describes another camera or mode; publish the camera_info '
                'of the segmented image')
    return None
