#!/usr/bin/env python3
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
CPU time of typed exports through ONNX Runtime, interleaved in one run.

Interleaving frame by frame makes the models share the machine's state (other processes,
clocks), so the ratio of their times means something.

    python scripts/cpu_precision_bench.py fp32.onnx int8.onnx [fp16.onnx] \
        --image ../shared/data/camvid/val/0016E5_07959.png --size 640x480 --threads 1

Each round runs every model once on the same 640x480 frame (the contract model resizes it
itself); after the warm-up rounds the median and 90th percentile per model and the ratio of
each median to the first model's are printed as JSON. With ``--threads 1`` ONNX Runtime runs
the graph on the calling thread, so the thread's CPU time per run is measured too
(``cpu_median_ms``, ``cpu_ratio_to_first``): on a machine shared with other jobs it leaves
out the time the thread waited for a core, which the wall time includes.
"""
import argparse
import json
import platform
import statistics
import time

import cv2
import numpy as np
import onnxruntime as ort


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('models', nargs='+', help='contract .onnx files; the first is the base')
    parser.add_argument('--image', required=True, help='frame to feed (resized to --size)')
    parser.add_argument('--size', default='640x480', help='WIDTHxHEIGHT (default 640x480)')
    parser.add_argument('--threads', type=int, default=1, help='intra-op threads (default 1)')
    parser.add_argument('--rounds', type=int, default=30, help='measured rounds (default 30)')
    parser.add_argument('--warmup', type=int, default=3, help='warm-up rounds (default 3)')
    args = parser.parse_args()
    w, h = (int(v) for v in args.size.lower().split('x'))
    bgr = cv2.imread(args.image, cv2.IMREAD_COLOR)
    if bgr is None:
        parser.error(f'{args.image}: not a readable image')
    frame = np.ascontiguousarray(cv2.resize(bgr, (w, h), interpolation=cv2.INTER_AREA)
                                 [:, :, ::-1])[None]
    sessions = []
    for path in args.models:
        so = ort.SessionOptions()
        so.intra_op_num_threads = args.threads
        so.inter_op_num_threads = 1
        sessions.append(ort.InferenceSession(path, so, providers=['CPUExecutionProvider']))
    times: list[list[float]] = [[] for _ in sessions]
    cpu: list[list[float]] = [[] for _ in sessions]
    for r in range(args.warmup + args.rounds):
        for i, sess in enumerate(sessions):
            start, start_cpu = time.perf_counter(), time.thread_time()
            sess.run(['labels'], {'image': frame})
            if r >= args.warmup:
                times[i].append(1000 * (time.perf_counter() - start))
                cpu[i].append(1000 * (time.thread_time() - start_cpu))
    base, base_cpu = statistics.median(times[0]), statistics.median(cpu[0])
    result = {
        'size': f'{w}x{h}', 'threads': args.threads, 'rounds': args.rounds,
        'onnxruntime': ort.__version__, 'cpu': platform.processor() or platform.machine(),
        'models': [{'model': path, 'median_ms': round(statistics.median(t), 1),
                    'p90_ms': round(float(np.percentile(t, 90)), 1),
                    'ratio_to_first': round(statistics.median(t) / base, 3),
                    'cpu_median_ms': round(statistics.median(c), 1),
                    'cpu_ratio_to_first': round(statistics.median(c) / base_cpu, 3),
                    'speedup_cpu': round(base_cpu / statistics.median(c), 2)}
                   for path, t, c in zip(args.models, times, cpu)]}
    print(json.dumps(result, indent=2))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
