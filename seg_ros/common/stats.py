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
Counters and sliding-window statistics behind the node's ``/diagnostics``.

Kept free of ROS so the arithmetic (rates, percentiles, the OK/WARN/ERROR decision) is tested
directly. Times are plain floats in seconds from a monotonic clock supplied by the caller, so
tests can drive them. Not thread-safe: the node's diagnostics (seg_ros.ros.diagnostics) call it
under their own lock.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
import time
from typing import Deque, Optional

import numpy as np

OK, WARN, ERROR = 0, 1, 2
LEVEL_NAMES = ('OK', 'WARN', 'ERROR')


class Window:
    """The last ``seconds`` of (time, value) samples, for rates and percentiles."""

    def __init__(self, seconds: float = 5.0, maxlen: int = 10000) -> None:
        self.seconds = seconds
        self._samples: Deque[tuple[float, float]] = deque(maxlen=maxlen)

    def add(self, now: float, value: float = 0.0) -> None:
        self._samples.append((now, value))

    def _trim(self, now: float) -> None:
        while self._samples and self._samples[0][0] < now - self.seconds:
            self._samples.popleft()

    def rate(self, now: float) -> float:
        """Events per second over the window (0 with fewer than two events)."""
        self._trim(now)
        if len(self._samples) < 2:
            return 0.0
        span = now - self._samples[0][0]
        return (len(self._samples) - 1) / span if span > 0 else 0.0

    def percentiles(self, now: float, qs: tuple[float, ...] = (50, 95)) -> Optional[list[float]]:
        """Percentiles of the values in the window, or None when it is empty."""
        self._trim(now)
        if not self._samples:
            return None
        values = np.fromiter((v for _, v in self._samples), float, len(self._samples))
        return [float(x) for x in np.percentile(values, qs)]


@dataclass
class Problem:
    """The latest problem of one kind, shown on /diagnostics until it is old."""

    level: int
    message: str
    time: float


# The /diagnostics keys of the node's timings: f'{stem} p50 (ms)' and f'{stem} p95 (ms)'. Named
# once, because the benchmark reads them back (the node's own figures beside its measurement).
AGE_AT_PUBLISH = 'age of frame at publish'
INFERENCE_TIME = 'inference time'


def percentile_key(stem: str, q: int) -> str:
    """Return the /diagnostics key of one timing percentile (``q`` is 50 or 95)."""
    return f'{stem} p{q} (ms)'


def read_percentiles(values: dict[str, str], stem: str) -> Optional[dict[str, float]]:
    """Return ``{'p50', 'p95'}`` of a timing in /diagnostics values; None while it is n/a."""
    try:
        return {f'p{q}': float(values[percentile_key(stem, q)]) for q in (50, 95)}
    except (KeyError, ValueError):
        return None


@dataclass
class NodeStats:
    """Everything the diagnostics message reports, updated by the callbacks and the worker."""

    window_s: float = 5.0
    problem_hold_s: float = 5.0
    received: int = 0
    processed: int = 0
    dropped: int = 0                 # replaced before inference
    skipped: int = 0                 # labels published, the rest replaced before publishing
    rejected: int = 0
    overlays: int = 0
    inputs: Window = field(default_factory=Window)
    outputs: Window = field(default_factory=Window)
    inference_ms: Window = field(default_factory=Window)
    decode_ms: Window = field(default_factory=Window)
    tail_ms: Window = field(default_factory=Window)
    age_ms: Window = field(default_factory=Window)
    problems: dict[str, Problem] = field(default_factory=dict)
    last_input: Optional[float] = None
    started: float = field(default_factory=time.monotonic)

    def on_input(self, now: float) -> None:
        self.received += 1
        self.last_input = now
        self.inputs.add(now)

    def on_decode(self, now: float, decode_s: float) -> None:
        self.decode_ms.add(now, decode_s * 1000.0)

    def on_drop(self) -> None:
        """Count a frame replaced by a newer one before inference."""
        self.dropped += 1

    def on_skip(self) -> None:
        """Count a frame whose labels went out but whose other outputs were replaced."""
        self.skipped += 1

    def on_output(self, now: float, inference_s: float, age_s: Optional[float],
                  overlay: bool = False) -> None:
        """Count a frame segmented and its labels published, with its timings."""
        self.processed += 1
        self.overlays += int(overlay)
        self.outputs.add(now)
        self.inference_ms.add(now, inference_s * 1000.0)
        if age_s is not None:
            self.age_ms.add(now, age_s * 1000.0)

    def on_publishing(self, now: float, seconds: float, overlay: bool = False) -> None:
        """Record the publishing step of one frame (overlay, images, grid, clouds, fusion)."""
        self.overlays += int(overlay)
        self.tail_ms.add(now, seconds * 1000.0)

    def report(self, kind: str, level: int, message: str, now: float) -> None:
        """Record a problem; ``kind`` groups repeats (one line per kind on /diagnostics)."""
        if kind == 'input':
            self.rejected += 1
        self.problems[kind] = Problem(level, message, now)

    def clear(self, kind: str) -> None:
        self.problems.pop(kind, None)

    def summary(self, now: float, topic: str = 'image',
                stale_after_s: float = 5.0) -> tuple[int, str, dict[str, str]]:
        """Return (level, one-line message, key/values) for a DiagnosticStatus."""
        def fmt(p: Optional[list[float]]) -> tuple[str, str]:
            # Two decimals: a TensorRT model or the decode of a raw image takes well under 0.1 ms.
            return ('n/a', 'n/a') if p is None else (f'{p[0]:.2f}', f'{p[1]:.2f}')

        inf50, inf95 = fmt(self.inference_ms.percentiles(now))
        dec50, dec95 = fmt(self.decode_ms.percentiles(now))
        tail50, tail95 = fmt(self.tail_ms.percentiles(now))
        age50, age95 = fmt(self.age_ms.percentiles(now))
        values = {
            'input rate (Hz)': f'{self.inputs.rate(now):.2f}',
            'output rate (Hz)': f'{self.outputs.rate(now):.2f}',
            'frames received': str(self.received),
            'frames processed': str(self.processed),
            'frames dropped (overload)': str(self.dropped),
            'frames with labels only (publishing overload)': str(self.skipped),
            'frames rejected (bad input)': str(self.rejected),
            'overlays published': str(self.overlays),
            percentile_key(INFERENCE_TIME, 50): inf50,
            percentile_key(INFERENCE_TIME, 95): inf95,
            'decode time p50 (ms)': dec50,
            'decode time p95 (ms)': dec95,
            'publishing time p50 (ms)': tail50,
            'publishing time p95 (ms)': tail95,
            percentile_key(AGE_AT_PUBLISH, 50): age50,
            percentile_key(AGE_AT_PUBLISH, 95): age95,
        }
        active = [p for p in self.problems.values()
                  if p.level == ERROR or now - p.time <= self.problem_hold_s]
        # An old error stays until cleared (e.g. a model that failed to load); old warnings fade.
        self.problems = {k: p for k, p in self.problems.items() if p in active}
        # Every active entry, not only the worst: an operator (or a test) sees each condition
        # appear and clear on its own.
        for kind, p in sorted(self.problems.items()):
            values[f'problem: {kind}'] = f'{LEVEL_NAMES[p.level]}: {p.message}'
        if active:
            worst = max(active, key=lambda p: (p.level, p.time))
            return worst.level, worst.message, values
        since = now - (self.last_input if self.last_input is not None else self.started)
        if since > stale_after_s:
            what = 'no image received' if self.last_input is None else 'no new image'
            return WARN, (f'{what} on {topic} for {since:.0f} s; check that the camera '
                          'publishes and that "image" is remapped to its topic'), values
        if self.last_input is None:
            return OK, f'waiting for images on {topic}', values
        return OK, 'segmenting', values
