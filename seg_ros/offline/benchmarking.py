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
Measurement pieces of ``seg-ros benchmark`` that need no ROS.

Frames, statistics, process accounting, the bare-backend loop, the naive baseline's float
model, and the JSON schema.

The benchmark compares the node with the bare backend on the same frames; the difference is
the node's overhead, the figure to drive down. Everything here is a plain function so that the
statistics and the schema can be tested without starting processes.
"""
from __future__ import annotations

import datetime
import os
from pathlib import Path
import platform
import subprocess
import sys
import time
from typing import Any, Callable, Optional, Sequence

import numpy as np
from seg_ros.common import images, stats

SCHEMA_VERSION = 1
SCENARIOS = ('backend', 'node', 'node-trav', 'transport', 'naive')
SCENARIO_HELP = {
    'backend': 'bare backend.infer() in this process (inference only)',
    'node': 'seg_ros node in its own process, fed by this process over ROS 2',
    'node-trav': 'the node with its traversability tail at work: a camera_info with each '
                 'frame, the grid and the three Nav2 clouds subscribed',
    'transport': 'a relay process without a model: the ROS transport alone',
    'naive': 'the usual hobby node: bridge copies, numpy normalisation, list-assigned data',
}
# ImageNet statistics in pixel units: the naive baseline's default normalisation.
IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)


# --- frames --------------------------------------------------------------------------------


def load_frames(folder: Optional[Path], count: int, seed: int = 0) -> list[np.ndarray]:
    """
    Return ``count`` RGB frames: images from ``folder`` (sorted, cycled), or random noise.

    Real frames matter for real models (their run time hardly depends on content, but the
    labels the node publishes do); noise is enough for the plumbing. Unreadable files are
    skipped: the benchmark needs some frames, not every one.
    """
    frames: list[np.ndarray] = []
    if folder is not None:
        for p in images.list_images(folder)[:count]:
            try:
                frames.append(images.read_image(p))
            except images.ImageFileError:
                continue
        if not frames:
            raise ValueError(f'no readable images in {folder}')
    else:
        rng = np.random.default_rng(seed)
        frames = [rng.integers(0, 256, (480, 640, 3), np.uint8) for _ in range(count)]
    return frames


def resize_frames(frames: Sequence[np.ndarray], size: tuple[int, int],
                  label_range: Optional[int] = None) -> list[np.ndarray]:
    """
    Resize frames to (width, height); with ``label_range`` reduce red modulo it.

    A passthrough model returns the red channel as the class id, so for it the red channel must
    stay below the number of classes or the labels would be ids the model does not have.
    """
    import cv2

    out = []
    for f in frames:
        r = np.asarray(cv2.resize(f, size, interpolation=cv2.INTER_LINEAR), np.uint8)
        if label_range:
            r[..., 0] %= label_range
        out.append(np.ascontiguousarray(r))
    return out


# --- statistics and process accounting -----------------------------------------------------


def summarize_ms(values_ms: Sequence[float]) -> dict[str, Optional[float]]:
    """Return mean / p50 / p95 / p99 / max in ms (None when there is no sample)."""
    keys = ('mean', 'p50', 'p95', 'p99', 'max')
    if not len(values_ms):
        return dict.fromkeys(keys)
    v = np.asarray(values_ms, np.float64)
    figures = (v.mean(), *np.percentile(v, [50, 95, 99]), v.max())
    return {k: round(float(x), 3) for k, x in zip(keys, figures)}


def _clock_ticks() -> int:
    return os.sysconf('SC_CLK_TCK') if hasattr(os, 'sysconf') else 100


def process_cpu_seconds(pid: int) -> Optional[float]:
    """User + system CPU time of a process, from ``/proc/<pid>/stat`` (None if unavailable)."""
    try:
        with open(f'/proc/{pid}/stat', encoding='ascii') as f:
            stat = f.read()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: split after the last ')'.
    fields = stat[stat.rindex(')') + 2:].split()
    return (int(fields[11]) + int(fields[12])) / _clock_ticks()


def process_peak_rss_mb(pid: int) -> Optional[float]:
    """Peak resident set size (``VmHWM``) of a process in MiB, from ``/proc/<pid>/status``."""
    try:
        with open(f'/proc/{pid}/status', encoding='ascii') as f:
            for line in f:
                if line.startswith('VmHWM:'):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


class CpuMeter:
    """CPU use of one process over a window (100 % = one core busy)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._cpu0 = process_cpu_seconds(pid)
        self._t0 = time.perf_counter()

    def percent(self) -> Optional[float]:
        """CPU time used since construction over wall time, in percent."""
        cpu1 = process_cpu_seconds(self.pid)
        wall = time.perf_counter() - self._t0
        if cpu1 is None or self._cpu0 is None or wall <= 0:
            return None
        return round(100 * (cpu1 - self._cpu0) / wall, 1)


# --- the bare backend ----------------------------------------------------------------------


def time_backend(infer: Callable[[np.ndarray], Any], frames: Sequence[np.ndarray],
                 duration: float, max_frames: int = 0, warmup: int = 2) -> dict[str, Any]:
    """
    Call ``infer`` on the frames in turn for ``duration`` s (or ``max_frames`` calls).

    Returns the per-call latency summary, throughput and this process's CPU %; the frames are
    ready-made contiguous RGB, so only the backend is timed.
    """
    for i in range(warmup):
        infer(frames[i % len(frames)])
    meter = CpuMeter(os.getpid())
    times = []
    start = time.perf_counter()
    i = 0
    while True:
        t0 = time.perf_counter()
        infer(frames[i % len(frames)])
        t1 = time.perf_counter()
        times.append(1e3 * (t1 - t0))
        i += 1
        if (max_frames and i >= max_frames) or (not max_frames and t1 - start >= duration):
            break
    wall = time.perf_counter() - start
    return {'frames_in': i, 'frames_out': i, 'duration_s': round(wall, 3),
            'fps': round(i / wall, 2), 'latency_ms': summarize_ms(times),
            'cpu_percent': meter.percent(), 'peak_rss_mb': None}


# --- the naive baseline's model ------------------------------------------------------------


def naive_passthrough_model(num_classes: int, mean: Sequence[float] = (0.0, 0.0, 0.0),
                            std: Sequence[float] = (1.0, 1.0, 1.0), scale: float = 1.0) -> Any:
    """
    Float NCHW → logits counterpart of the passthrough model, for the naive baseline.

    The naive node normalises ``x = (rgb - mean) / std * scale`` on the CPU and takes the
    argmax of full-resolution logits itself; a 1x1 convolution with logit_c = c * R - c^2 / 2
    (R recovered from x) has its argmax at the class nearest R, so it yields the same labels
    as the passthrough model and both pipelines do the same job.
    """
    import onnx
    from onnx import helper, numpy_helper, TensorProto

    c = np.arange(num_classes, dtype=np.float64)
    # R = x / scale * std_r + mean_r
    w = np.zeros((num_classes, 3, 1, 1), np.float32)
    w[:, 0, 0, 0] = c * std[0] / scale
    b = (c * mean[0] - c * c / 2).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node('Conv', ['input', 'w', 'b'], ['logits'], kernel_shape=[1, 1])],
        'naive_passthrough',
        [helper.make_tensor_value_info('input', TensorProto.FLOAT, [1, 3, 'H', 'W'])],
        [helper.make_tensor_value_info('logits', TensorProto.FLOAT,
                                       [1, num_classes, 'H', 'W'])],
        initializer=[numpy_helper.from_array(w, 'w'), numpy_helper.from_array(b, 'b')])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 17)],
                              producer_name='seg_ros.offline.benchmarking')
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def naive_normalize(img: np.ndarray, mean: Sequence[float], std: Sequence[float],
                    scale: float) -> np.ndarray:
    """Per-frame CPU normalisation as hobby nodes write it: float copies, then NCHW."""
    x = img.astype(np.float32)
    norm = (x - np.asarray(mean, np.float32)) / np.asarray(std, np.float32) * np.float32(scale)
    return np.expand_dims(norm.transpose(2, 0, 1), 0).astype(np.float32)


# --- machine and schema --------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    """Describe where the figures came from (they mean little without it)."""
    info: dict[str, Any] = {
        'platform': platform.platform(),
        'python': platform.python_version(),
        'cpu': platform.processor() or platform.machine(),
        'cpu_count': os.cpu_count(),
        'affinity_cpus': len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity')
        else None,
        'load_average': [round(v, 2) for v in os.getloadavg()],
        'rmw_implementation': os.environ.get('RMW_IMPLEMENTATION', 'default'),
        'numpy': np.__version__,
    }
    try:
        with open('/proc/cpuinfo', encoding='utf-8') as f:
            names = [ln.split(':', 1)[1].strip() for ln in f if ln.startswith('model name')]
        if names:
            info['cpu'] = names[0]
    except OSError:
        pass
    try:
        import onnxruntime as ort
        info['onnxruntime'] = ort.__version__
        info['onnxruntime_providers'] = ort.get_available_providers()
    except ImportError:
        info['onnxruntime'] = None
    root = Path(__file__).resolve().parents[2]      # the folder holding the seg_ros package
    info['seg_ros'] = str(root / 'seg_ros')
    info['git_commit'], info['git_dirty'] = checkout_commit(root)
    return info


def describe_code(machine: dict[str, Any]) -> str:
    """Say which seg_ros runs (the node processes import the same one), before any figure."""
    commit, dirty = machine.get('git_commit'), machine.get('git_dirty')
    where = (f'git {commit}{" with changes" if dirty else ""}' if commit else
             'not a git checkout: an installed copy; set PYTHONPATH to a checkout to measure '
             'it')
    return f'seg_ros: {machine.get("seg_ros")} ({where})'


def checkout_commit(root: Path) -> tuple[Optional[str], Optional[bool]]:
    """
    Return the commit of the checkout whose top is ``root``, and whether seg_ros/ differs from it.

    (None, None) when ``root`` is not the top of a git checkout: a copy installed into a virtual
    environment that lives inside a checkout would otherwise be credited with that checkout's
    commit, which is not the code that ran (``seg-ros`` imports the installed copy).
    """
    def git(*args: str) -> Optional[str]:
        try:
            out = subprocess.run(['git', *args], capture_output=True, text=True, timeout=5,
                                 cwd=root)
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    top = git('rev-parse', '--show-toplevel')
    if not top or Path(top).resolve() != root.resolve():
        return None, None
    status = git('status', '--porcelain', '--', 'seg_ros')
    return git('rev-parse', '--short', 'HEAD'), None if status is None else bool(status)


def _program() -> str:
    name = os.path.basename(sys.argv[0])
    return 'seg-ros' if name in ('cli.py', '__main__.py', 'seg-ros') else name


def new_document(settings: dict[str, Any], model: dict[str, Any]) -> dict[str, Any]:
    """Start a result document (see ``validate``)."""
    return {'schema_version': SCHEMA_VERSION,
            'created': datetime.datetime.now(datetime.timezone.utc).isoformat(
                timespec='seconds'),
            'command': ' '.join([_program()] + sys.argv[1:]),
            'machine': machine_info(), 'model': model, 'settings': settings,
            'results': [], 'overhead': []}


RESULT_KEYS: dict[str, type] = {'scenario': str, 'backend': str, 'device': str, 'width': int,
                                'height': int, 'status': str}
MEASURED_KEYS: dict[str, type] = {'frames_in': int, 'frames_out': int, 'duration_s': float,
                                  'fps': float, 'latency_ms': dict}
LATENCY_KEYS = ('mean', 'p50', 'p95', 'p99', 'max')
# Optional fields of node rows: the node's own timings from its /diagnostics (field -> name).
NODE_FIGURES = {'node_age_ms': stats.AGE_AT_PUBLISH, 'node_inference_ms': stats.INFERENCE_TIME}


def validate(doc: dict[str, Any]) -> list[str]:
    """
    Check a result document against schema 1; return the problems (empty when valid).

    Schema 1: ``schema_version``, ``created``, ``command``, ``machine`` (dict), ``model``
    (dict with ``path``), ``settings`` (dict), ``results`` (list of dicts with ``scenario``,
    ``backend``, ``device``, ``width``, ``height``, ``status`` in ok/skipped/failed; ok rows add
    ``frames_in``, ``frames_out``, ``duration_s``, ``fps``, ``latency_ms`` {mean, p50, p95, p99,
    max}, ``cpu_percent``, ``peak_rss_mb``; other rows a ``reason``), ``overhead`` (list).
    """
    errors = []
    if doc.get('schema_version') != SCHEMA_VERSION:
        errors.append(f'schema_version is {doc.get("schema_version")!r}, not {SCHEMA_VERSION}')
    top: dict[str, type] = {'created': str, 'command': str, 'machine': dict, 'model': dict,
                            'settings': dict, 'results': list, 'overhead': list}
    for key, kind in top.items():
        if not isinstance(doc.get(key), kind):
            errors.append(f'{key} missing or not {kind.__name__}')
    for i, row in enumerate(doc.get('results') or []):
        for key, kind in RESULT_KEYS.items():
            if not isinstance(row.get(key), kind):
                errors.append(f'results[{i}].{key} missing or not {kind.__name__}')
        if row.get('scenario') not in SCENARIOS:
            errors.append(f'results[{i}].scenario {row.get("scenario")!r} unknown')
        status = row.get('status')
        if status == 'ok':
            for key, kind in MEASURED_KEYS.items():
                value = row.get(key)
                number = kind is float and isinstance(value, int)
                if not isinstance(value, kind) and not number:
                    errors.append(f'results[{i}].{key} missing or not {kind.__name__}')
            lat = row.get('latency_ms') or {}
            for key in LATENCY_KEYS:
                if key not in lat:
                    errors.append(f'results[{i}].latency_ms.{key} missing')
            for key in ('cpu_percent', 'peak_rss_mb'):
                if key not in row:
                    errors.append(f'results[{i}].{key} missing')
            for key in NODE_FIGURES.keys() & row.keys():   # only where the node reported them
                figure = row[key]
                if not (isinstance(figure, dict) and all(
                        isinstance(figure.get(q), (int, float)) for q in ('p50', 'p95'))):
                    errors.append(f'results[{i}].{key} is not {{p50, p95}} in ms')
        elif status in ('skipped', 'failed'):
            if not isinstance(row.get('reason'), str):
                errors.append(f'results[{i}].reason missing')
        else:
            errors.append(f'results[{i}].status {status!r} not ok/skipped/failed')
    return errors


def overhead_rows(results: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """
    Pair each ROS scenario with the bare backend at the same size and device.

    ``p50_over_backend_ms`` is the scenario's median age at publish minus the backend's median
    inference time: what the process, the conversions and the transport add to the model.
    """
    def key(r: dict[str, Any]) -> tuple[Any, ...]:
        # With --rounds, each scenario is paired with the bare backend of its own round.
        return r['width'], r['height'], r['backend'], r['device'], r.get('round', 0)

    base = {key(r): r for r in results if r['scenario'] == 'backend' and r['status'] == 'ok'}
    rows = []
    for r in results:
        b = base.get(key(r))
        if r['scenario'] == 'backend' or r['status'] != 'ok' or b is None:
            continue
        lat, blat = r['latency_ms'], b['latency_ms']
        if lat['p50'] is None or blat['p50'] is None:
            continue
        rows.append({'scenario': r['scenario'], 'backend': r['backend'], 'device': r['device'],
                     'width': r['width'], 'height': r['height'], 'round': r.get('round', 0),
                     'p50_over_backend_ms': round(lat['p50'] - blat['p50'], 3),
                     'fps_ratio': round(r['fps'] / b['fps'], 3) if b['fps'] else None})
    return rows


def format_table(doc: dict[str, Any]) -> str:
    """Return the results as a fixed-width text table (also pasted into BENCHMARKS.md)."""
    head = (f'{"scenario":<10s} {"backend":<18s} {"size":>9s} {"fps":>7s} {"p50 ms":>8s} '
            f'{"p95 ms":>8s} {"p99 ms":>8s} {"out/in":>11s} {"CPU %":>6s} {"RSS MB":>7s}')
    lines = [head, '-' * len(head)]

    def f(v: Optional[float], fmt: str = '8.1f') -> str:
        return format(v, fmt) if v is not None else format('-', '>' + fmt.split('.')[0])

    for r in doc['results']:
        size = f'{r["width"]}x{r["height"]}'
        be = f'{r["backend"]}:{r["device"]}'
        if r['status'] != 'ok':
            lines.append(f'{r["scenario"]:<10s} {be:<18s} {size:>9s}  {r["status"]}: '
                         f'{r.get("reason", "")}')
            continue
        lat = r['latency_ms']
        extra = ''.join(f' {k}={r[k]}' for k in ('round', 'rate_hz', 'grids_out') if k in r)
        if 'node_age_ms' in r:   # the node's own age at publish (/diagnostics) beside the arrival
            extra += f' node_age_p95={r["node_age_ms"]["p95"]}'
        lines.append(f'{r["scenario"]:<10s} {be:<18s} {size:>9s} {f(r["fps"], "7.1f")} '
                     f'{f(lat["p50"])} {f(lat["p95"])} {f(lat["p99"])} '
                     f'{r["frames_out"]:>5d}/{r["frames_in"]:<5d} '
                     f'{f(r["cpu_percent"], "6.0f")} {f(r["peak_rss_mb"], "7.0f")}{extra}')
    if doc.get('overhead'):
        lines.append('')
        lines.append('median age at publish minus median bare inference (same size, backend'
                     ' and round), and output rate / bare rate:')
        for o in doc['overhead']:
            ratio = f'{o["fps_ratio"]:.3f}' if o.get('fps_ratio') is not None else '-'
            lines.append(f'  {o["scenario"]:<10s} {o["width"]}x{o["height"]} '
                         f'{o["backend"]}:{o["device"]} round {o.get("round", 0)}: '
                         f'{o["p50_over_backend_ms"]:+.1f} ms, {ratio} x the bare rate')
    return '\n'.join(lines)
