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
GPU timings of the deployment architectures, for a machine with PyTorch + CUDA and no network.

    python3 scripts/gpu_bench.py > gpu_bench.json          # from the repository root

Prints one JSON object:

- ``pytorch``: BiSeNetV2 (CoinCheung layout, 19 classes) and SegFormer-B0 (150 classes) with
  random weights (timing does not depend on the values) at 640x480, FP32 and FP16 (``.half()``,
  cuDNN benchmark mode), median/p90 of ``--runs`` (>= 100) timed runs after ``--warmup`` runs,
  each timed with CUDA events around one forward pass of a (1, 3, 480, 640) tensor. The FP32
  rows run with TF32 off (cuDNN allows TF32 by default, so on Ampere and newer "fp32" would
  otherwise be TF32 convolutions); each row records the ``tf32`` setting it ran with;
- ``onnxruntime_cuda``: the same two networks as seg_ros contract models (uint8 640x480 frame in,
  labels out; resize, normalisation, upsampling and argmax in the graph), exported here with
  random weights, FP32 and FP16 (onnxconverter-common when importable), run with ONNX Runtime's
  CUDA provider when ``onnxruntime-gpu`` is importable (else the reason it was skipped);
- versions (torch, CUDA, cuDNN, ONNX Runtime), the GPU's name and the total wall time.

A row that could not run (an export or the float16 converter missing, no CUDA provider) is
``{"skipped": "<why>"}`` instead of timings.

``--smoke`` runs a handful of iterations at 128x96 on whatever device is there (a CPU in the
tests) to check the script end to end; its figures mean nothing.
"""
import argparse
import contextlib
import json
import os
from pathlib import Path
import statistics
import sys
import tempfile
import time
from typing import Any, Callable, Iterator

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _stats(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {'median_ms': round(statistics.median(ordered), 3),
            'p90_ms': round(ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))], 3),
            'min_ms': round(ordered[0], 3), 'runs': len(ordered)}


def time_torch(fn: Callable[[], Any], runs: int, warmup: int, cuda: bool) -> dict[str, float]:
    """Median of ``runs`` calls after ``warmup``; CUDA events on a GPU, perf_counter else."""
    import torch

    for _ in range(warmup):
        fn()
    samples = []
    if cuda:
        torch.cuda.synchronize()
        for _ in range(runs):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            samples.append(start.elapsed_time(end))
    else:
        for _ in range(runs):
            t = time.perf_counter()
            fn()
            samples.append(1000 * (time.perf_counter() - t))
    return _stats(samples)


@contextlib.contextmanager
def tf32(enabled: bool) -> Iterator[None]:
    """Allow or forbid TF32 in cuBLAS matmuls and cuDNN convolutions for the block."""
    import torch

    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = enabled
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def tf32_in_use() -> bool:
    """Return whether matmuls or convolutions may run in TF32 right now."""
    import torch

    return bool(torch.backends.cuda.matmul.allow_tf32 or torch.backends.cudnn.allow_tf32)


def networks() -> dict[str, Callable[[], Any]]:
    from seg_ros.zoo.networks.bisenetv2 import BiSeNetV2
    from seg_ros.zoo.networks.segformer import segformer_b0

    return {'bisenetv2': lambda: BiSeNetV2(19, aux=False),
            'segformer_b0': lambda: segformer_b0(150)}


def bench_pytorch(size: tuple[int, int], runs: int, warmup: int, device: str,
                  half: bool) -> dict[str, Any]:
    import torch

    torch.manual_seed(0)
    torch.backends.cudnn.benchmark = True
    out: dict[str, Any] = {}
    h, w = size
    precisions = ('fp32', 'fp16') if half else ('fp32',)
    for name, make in networks().items():
        for precision in precisions:
            net = make().eval().to(device)
            x = torch.randn(1, 3, h, w, device=device)
            if precision == 'fp16':
                net, x = net.half(), x.half()
            # FP32 means IEEE FP32: TF32 off (it stays as configured for the FP16 rows).
            with torch.inference_mode(), tf32(False) if precision == 'fp32' \
                    else contextlib.nullcontext():
                row = time_torch(lambda net=net, x=x: net(x), runs, warmup, device == 'cuda')
                out[f'{name}_{precision}'] = {**row, 'tf32': tf32_in_use()}
    return out


def export_contract(name: str, make: Callable[[], Any], size: tuple[int, int],
                    folder: str) -> dict[str, str]:
    """Export a random-weight network as a contract ONNX (fp32, and fp16 when possible)."""
    import onnx

    from seg_ros.zoo.export import _fix_batch_dim, _only_cast_reads_image, _trace
    from seg_ros.zoo.networks import Normalization
    from seg_ros.zoo.networks.wrapper import wrap

    paths = {}
    wrapper = wrap(make().eval(), size, Normalization.imagenet(), confidence=False)
    fp32 = os.path.join(folder, f'{name}_fp32.onnx')
    _trace(wrapper, size, 17, fp32, 'torchscript')
    model = onnx.load(fp32)
    _fix_batch_dim(model)
    _only_cast_reads_image(model)
    onnx.save(model, fp32)
    paths['fp32'] = fp32
    try:
        from seg_ros.zoo.precision import to_fp16

        fp16 = os.path.join(folder, f'{name}_fp16.onnx')
        onnx.save(to_fp16(model), fp16)
        paths['fp16'] = fp16
    except Exception as exc:  # no onnxconverter-common there: report, keep fp32
        paths['fp16_skipped'] = f'{type(exc).__name__}: {exc}'
    return paths


def bench_onnxruntime(size: tuple[int, int], runs: int, warmup: int,
                      smoke: bool) -> dict[str, Any]:
    try:
        import onnxruntime as ort
    except ImportError as exc:
        return {'skipped': f'onnxruntime not importable ({exc})'}
    providers = ort.get_available_providers()
    wanted = 'CUDAExecutionProvider'
    if wanted not in providers and not smoke:
        return {'skipped': f'onnxruntime {ort.__version__} has no CUDA provider (providers: '
                           f'{providers}); carry the onnxruntime-gpu wheel to measure it'}
    provider = wanted if wanted in providers else 'CPUExecutionProvider'
    import numpy as np

    out: dict[str, Any] = {'onnxruntime': ort.__version__, 'provider': provider}
    frame = np.random.default_rng(0).integers(0, 256, (1, size[0], size[1], 3), np.uint8)
    with tempfile.TemporaryDirectory(prefix='seg_ros_gpu_bench_') as tmp:
        for name, make in networks().items():
            t = time.perf_counter()
            try:
                paths = export_contract(name, make, size, tmp)
            except Exception as exc:  # report which export failed, keep the rest
                out[name] = {'skipped': f'export failed: {type(exc).__name__}: {exc}'}
                continue
            out[f'{name}_export_s'] = round(time.perf_counter() - t, 1)
            for precision in ('fp32', 'fp16'):
                if precision not in paths:
                    out[f'{name}_{precision}'] = {'skipped': paths.get(
                        f'{precision}_skipped', f'no {precision} export')}
                    continue
                sess = ort.InferenceSession(paths[precision], providers=[provider])

                def run(sess: Any = sess) -> None:
                    sess.run(['labels'], {'image': frame})

                for _ in range(warmup):
                    run()
                samples = []
                for _ in range(runs):
                    start = time.perf_counter()
                    run()    # labels come back to the host: the time includes the copies
                    samples.append(1000 * (time.perf_counter() - start))
                out[f'{name}_{precision}'] = _stats(samples)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--runs', type=int, default=200, help='timed runs (>= 100; default 200)')
    parser.add_argument('--warmup', type=int, default=30, help='warm-up runs (default 30)')
    parser.add_argument('--size', default='640x480', help='WIDTHxHEIGHT (default 640x480)')
    parser.add_argument('--smoke', action='store_true',
                        help='a few runs at 128x96 on any device: checks the script only')
    parser.add_argument('--no-onnxruntime', action='store_true', help='PyTorch part only')
    args = parser.parse_args()
    start = time.perf_counter()
    import torch

    cuda = torch.cuda.is_available()
    if args.smoke:
        runs, warmup, size = 3, 1, (96, 128)
    else:
        if args.runs < 100:
            parser.error('--runs must be at least 100 (median of >= 100 runs)')
        if not cuda:
            parser.error('no CUDA device visible to PyTorch; use --smoke to test on a CPU')
        w, h = (int(v) for v in args.size.lower().split('x'))
        runs, warmup, size = args.runs, args.warmup, (h, w)
    device = 'cuda' if cuda else 'cpu'
    result: dict[str, Any] = {
        'smoke': args.smoke, 'size': f'{size[1]}x{size[0]}', 'device': device,
        'gpu': torch.cuda.get_device_name(0) if cuda else None,
        'torch': torch.__version__, 'cuda': torch.version.cuda,
        'cudnn': torch.backends.cudnn.version() if cuda else None,
        'weights': 'random (timing only)'}
    result['pytorch'] = bench_pytorch(size, runs, warmup, device, half=cuda)
    if not args.no_onnxruntime:
        result['onnxruntime_cuda'] = bench_onnxruntime(size, runs, warmup, args.smoke)
    result['wall_s'] = round(time.perf_counter() - start, 1)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
