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
``seg-ros benchmark``: bare backend, node, transport alone and a naive node on the same frames.

Each scenario runs at each size and backend. The node's overhead over the bare backend
(median age at publish minus median inference) is the figure to drive down; the transport
scenario is its floor, the naive scenario what a typical hand-written node costs. Results
print as a table and go to JSON (schema in :func:`seg_ros.offline.benchmarking.validate` and
BENCHMARKS.md).
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
import json
import os
from pathlib import Path
import shutil
import sys
import tempfile
from typing import Any, Optional
import warnings

from seg_ros import zoo
from seg_ros.common.images import format_size, parse_size
from seg_ros.inference import contract
from seg_ros.offline import benchmarking as bm
from seg_ros.ros import dds_env
from seg_ros.ros import process

DEFAULT_SIZES = '640x480,1280x720'


def ros_environment(domain_id: Optional[int]) -> dict[str, str]:
    """
    Set this process's ROS environment (before rclpy.init) and return it for the children.

    A domain of its own by default (``seg_ros.ros.dds_env``'s lock files, shared with the tests
    and the demo), so no other traffic on the host lands in the measurement.
    """
    os.environ.update(dds_env.isolated_env(
        domain=domain_id if domain_id is not None else dds_env.claim_domain()))
    os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
    root = str(Path(__file__).resolve().parents[2])
    paths = [p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p]
    if (Path(root) / 'seg_ros').is_dir() and root not in paths:
        # A source checkout: the processes under test import this tree, as this one does.
        os.environ['PYTHONPATH'] = os.pathsep.join([root] + paths)
    return dict(os.environ)


def _backend_list(spec: str) -> list[tuple[str, str]]:
    """``auto`` = onnxruntime:cpu plus the GPU backends installed here."""
    if spec != 'auto':
        out = []
        for item in spec.split(','):
            kind, _, device = item.partition(':')
            out.append((kind, device or 'cpu'))
        return out
    out = [('onnxruntime', 'cpu')]
    try:
        import onnxruntime as ort
        if 'CUDAExecutionProvider' in ort.get_available_providers():
            out.append(('onnxruntime', 'cuda'))
    except ImportError:
        pass
    try:
        import tensorrt
        if hasattr(tensorrt, 'Builder'):   # the PyPI stubs give an empty namespace package
            out.append(('tensorrt', 'cuda'))
    except ImportError:
        pass
    return out


def _row(scenario: str, kind: str, device: str, size: tuple[int, int], **values: Any) -> dict:
    return {'scenario': scenario, 'backend': kind, 'device': device, 'width': size[0],
            'height': size[1], **values}


def _ros_scenario(client: Any, executor: Any, cmd: list[str], env: dict[str, str],
                  args: argparse.Namespace, rate: Optional[float] = None) -> dict[str, Any]:
    """Start the process under test, feed it at ``rate`` Hz (default ``--rate``), measure it."""
    rate = rate or args.rate
    proc = process.NodeProcess(cmd, env, name='the process under test')
    try:
        client.wait_for_peer(executor, args.start_timeout, alive=proc.dead)
        client.warm_up(executor, rate, args.warmup, args.start_timeout, alive=proc.dead)
        # CPU is sampled over the measured window only (not model loading or warm-up).
        meter = bm.CpuMeter(proc.proc.pid)
        res = client.measure(executor, rate, args.duration, args.frames)
        cpu = meter.percent()
        rss = bm.process_peak_rss_mb(proc.proc.pid)
        process.raise_if_dead(proc.dead, RuntimeError)
    except (RuntimeError, TimeoutError) as exc:
        # A crash says why by its exit code and output; a time-out by what it printed so far.
        reason = proc.dead() or f'{exc}; its output:\n{proc.tail()}'
        return {'status': 'failed', 'reason': reason}
    finally:
        proc.close(timeout=5)        # also on Ctrl-C: never leave a process behind
    return {'status': 'ok', 'frames_in': res['frames_in'], 'frames_out': res['frames_out'],
            'duration_s': round(res['duration_s'], 3),
            'fps': round(res['frames_out'] / res['duration_s'], 2) if res['duration_s'] else 0.0,
            'latency_ms': bm.summarize_ms(res['ages_ms']), 'cpu_percent': cpu,
            'peak_rss_mb': rss, 'rate_hz': round(rate, 2),
            **({'grids_out': res['grids_out']} if client.traversability else {}),
            **client.node_figures(bm.NODE_FIGURES)}


def _naive_setup(info: Any, workdir: Path) -> tuple[Optional[list[str]], str]:
    """
    Arguments for the naive node, or None and why it cannot run for this model.

    The naive pipeline needs the bare network (normalised float NCHW in, logits out): for the
    passthrough test model an equivalent 1x1 convolution, for zoo models the network exported
    without the contract wrapper (needs PyTorch and the weights).
    """
    import onnx

    if info.metadata.get('seg_ros.architecture') == 'passthrough':
        path = workdir / 'naive_passthrough.onnx'
        onnx.save(bm.naive_passthrough_model(info.num_classes, bm.IMAGENET_MEAN,
                                             bm.IMAGENET_STD), str(path))
        return (['--model', str(path), '--mean', *map(str, bm.IMAGENET_MEAN),
                 '--std', *map(str, bm.IMAGENET_STD)], '')
    try:
        from seg_ros.zoo import export
        from seg_ros import zoo
        entry = zoo.get(info.name)
    except Exception as exc:  # no exporter installed, or a model that is not in the zoo
        return None, f'no bare network for "{info.name}" ({exc})'
    h, w = info.input_size or entry.input_size
    path = workdir / f'naive_{entry.name}_{w}x{h}.onnx'
    try:
        import torch

        net = export.build_network(entry)
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            torch.onnx.export(net, (torch.zeros(1, 3, h, w),), str(path), dynamo=False,
                              input_names=['input'], output_names=['logits'], opset_version=17)
    except Exception as exc:  # torch missing, weights missing: say so in the table
        return None, f'cannot export the bare network of "{entry.name}": {exc}'
    norm = entry.normalization
    cmd = ['--model', str(path), '--mean', *map(str, norm.mean), '--std', *map(str, norm.std),
           '--scale', str(norm.scale), '--size', format_size(w, h)]
    return cmd + (['--bgr'] if norm.bgr else []), ''


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--model', required=True, help='model in the seg_ros contract (.onnx)')
    parser.add_argument('--scenarios', default=','.join(bm.SCENARIOS),
                        help='comma list of: ' + '; '.join(
                            f'{k} = {v}' for k, v in bm.SCENARIO_HELP.items()))
    parser.add_argument('--sizes', default=DEFAULT_SIZES, help='comma list of WIDTHxHEIGHT')
    parser.add_argument('--backends', default='auto',
                        help='comma list of backend:device (e.g. onnxruntime:cpu,tensorrt:cuda);'
                        ' auto = CPU plus the GPU backends installed here')
    parser.add_argument('--images', type=Path, default=None,
                        help='frames to use (resized to each size); default: CamVid val from '
                        '$SEG_ROS_ASSETS if present, else random frames')
    parser.add_argument('--duration', type=float, default=5.0,
                        help='seconds measured per scenario (default 5)')
    parser.add_argument('--frames', type=int, default=0,
                        help='frames per scenario instead of --duration (0 = use duration)')
    parser.add_argument('--rate', type=float, default=30.0,
                        help='camera rate the publisher sends at, Hz (default 30)')
    parser.add_argument('--rate-factor', type=float, default=0.0, metavar='F',
                        help='send at F times the bare backend rate measured just before, in the '
                        'same round (needs the backend scenario; 0 = use --rate)')
    parser.add_argument('--rounds', type=int, default=1,
                        help='repeat the scenarios this many times, interleaved (backend, node, '
                        '...; again), so a shared machine loads each alike; rows carry "round"')
    parser.add_argument('--warmup', type=float, default=1.0,
                        help='seconds of frames sent after the first output, before measuring')
    parser.add_argument('--threads', type=int, default=0,
                        help='CPU inference threads for every scenario (0 = runtime default)')
    parser.add_argument('--start-timeout', type=float, default=60.0,
                        help='seconds to wait for a process to start and answer')
    parser.add_argument('--domain-id', type=int, default=None,
                        help='ROS_DOMAIN_ID to use (default: a free one, held while running)')
    parser.add_argument('--json', type=Path, default=None, metavar='OUT', help='write JSON')


def run(args: argparse.Namespace) -> int:
    scenarios = [s.strip() for s in args.scenarios.split(',') if s.strip()]
    unknown = sorted(set(scenarios) - set(bm.SCENARIOS))
    if unknown:
        print(f'error: unknown scenario(s) {unknown}; choose from {", ".join(bm.SCENARIOS)}',
              file=sys.stderr)
        return 1
    try:
        sizes = [parse_size(s, '--sizes') for s in args.sizes.split(',')]
        if args.rate <= 0:
            raise ValueError('--rate must be positive')
        if args.rounds < 1 or args.rate_factor < 0:
            raise ValueError('--rounds must be at least 1 and --rate-factor not negative')
        if args.rate_factor and 'backend' not in scenarios:
            raise ValueError('--rate-factor needs the backend scenario (its rate is the base)')
        images = args.images
        if images is None:
            assets = zoo.assets_dir()
            default = assets / 'data' / 'camvid' / 'val' if assets else None
            images = default if default and default.is_dir() else None
        frames = bm.load_frames(images, 16)
        if not os.path.isfile(args.model):
            raise ValueError(f'model file not found: {args.model}')
        # Classes and metadata without a runtime (an .engine has none to read here).
        info = contract.check_onnx(args.model) if args.model.endswith('.onnx') else None
    except (ValueError, contract.ContractError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 1
    label_range = (info.num_classes if info is not None
                   and info.metadata.get('seg_ros.architecture') == 'passthrough' else None)
    backends = _backend_list(args.backends)
    settings = {'scenarios': scenarios, 'sizes': [format_size(*s) for s in sizes],
                'backends': [f'{k}:{d}' for k, d in backends], 'duration_s': args.duration,
                'frames': args.frames, 'rate_hz': args.rate, 'warmup_s': args.warmup,
                'threads': args.threads, 'images': str(images) if images else 'random',
                'rounds': args.rounds, 'rate_factor': args.rate_factor,
                'input_qos': 'best_effort depth 1', 'output_qos': 'reliable depth 10'}
    model = {'path': args.model, 'name': info.name if info else None,
             'classes': info.num_classes if info else None}
    doc = bm.new_document(settings, model)
    print(bm.describe_code(doc['machine']), flush=True)

    ros = [s for s in scenarios if s != 'backend']
    env: dict[str, str] = {}
    client = executor = node = context = None
    if ros:
        env = ros_environment(args.domain_id)
        import rclpy

        from seg_ros.ros.bench_nodes import Client
        from seg_ros.ros.spin import make_executor
        # An own context: the benchmark can run inside a process that already uses rclpy.
        context = rclpy.Context()
        rclpy.init(context=context)
        node = rclpy.create_node('seg_ros_benchmark_client', context=context)
        client = Client(node)
        # Always the EventsExecutor, whatever SEG_ROS_EXECUTOR chooses for the node: the client
        # times each output in its callback, so its own cost per message (the camera's frames
        # out, the labels, grid and clouds in) is in every age it records.
        executor, warning = make_executor('events', context=context)
        if warning:
            print(f'benchmark client: {warning}', file=sys.stderr)
        executor.add_node(node)
        doc['settings']['ros_domain_id'] = int(os.environ['ROS_DOMAIN_ID'])
        doc['settings']['client_executor'] = type(executor).__name__
    workdir = Path(tempfile.mkdtemp(prefix='seg_ros_bench_'))
    naive: Optional[tuple[Optional[list[str]], str]] = None
    try:
        for size in sizes:
            sized = bm.resize_frames(frames, size, label_range)
            if client is not None:
                client.set_frames(sized)
            for round_ in range(args.rounds):
                naive = _round(Round(doc, args, scenarios, backends, size, sized, round_,
                                     client, executor, env, info, workdir), naive)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        if node is not None and executor is not None and context is not None:
            executor.shutdown()
            node.destroy_node()
            context.try_shutdown()
    doc['overhead'] = bm.overhead_rows(doc['results'])
    doc['machine']['load_average_end'] = [round(v, 2) for v in os.getloadavg()]
    problems = bm.validate(doc)
    if problems:  # a bug here, not the user's: say so rather than write a bad file
        print('internal error, result does not match its schema: ' + '; '.join(problems),
              file=sys.stderr)
        return 2
    print(bm.format_table(doc))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(doc, indent=2) + '\n')
        print(f'wrote {args.json}')
    return 0 if all(r['status'] != 'failed' for r in doc['results']) else 1


def _node_scenario(client: Any, executor: Any, env: dict[str, str], args: argparse.Namespace,
                   kind: str, device: str, rate: Optional[float] = None,
                   traversability: bool = False) -> dict[str, Any]:
    import importlib.util

    if importlib.util.find_spec(process.NODE_MODULE) is None:
        return {'status': 'skipped', 'reason': f'{process.NODE_MODULE} is not installed'}
    cmd = process.node_command({'model_path': os.path.abspath(args.model), 'backend': kind,
                                'device': device, 'threads': args.threads,
                                'traversability.enabled': traversability})
    client.set_traversability(traversability)
    try:
        return _ros_scenario(client, executor, cmd, env, args, rate)
    finally:
        client.set_traversability(False)


@dataclass
class Round:
    """What one round of scenarios at one size needs."""

    doc: dict[str, Any]
    args: argparse.Namespace
    scenarios: list[str]
    backends: list[tuple[str, str]]
    size: tuple[int, int]
    sized: list[Any]
    index: int
    client: Any
    executor: Any
    env: dict[str, str]
    info: Any
    workdir: Path


def _round(r: Round, naive: Optional[tuple[Optional[list[str]], str]]
           ) -> Optional[tuple[Optional[list[str]], str]]:
    """Run every scenario once at one size (one round); return the naive set-up for reuse."""
    doc, args, scenarios, size, sized = r.doc, r.args, r.scenarios, r.size, r.sized
    from seg_ros.inference.backend import BackendError, BackendOptions
    from seg_ros.inference.loader import create_backend

    client, executor, env, info, workdir = r.client, r.executor, r.env, r.info, r.workdir
    py = sys.executable

    def row(scenario: str, kind: str, device: str, values: dict[str, Any]) -> None:
        extra = {'round': r.index} if args.rounds > 1 else {}
        doc['results'].append(_row(scenario, kind, device, size, **values, **extra))

    def rate(kind: str, device: str) -> Optional[float]:
        """Return this round's camera rate: --rate-factor x the bare rate just measured."""
        if not args.rate_factor:
            return None
        bare = [x for x in doc['results'] if x['scenario'] == 'backend'
                and x['status'] == 'ok' and (x['backend'], x['device']) == (kind, device)
                and x['width'] == size[0] and x['height'] == size[1]
                and x.get('round', 0) == (r.index if args.rounds > 1 else 0)]
        return args.rate_factor * bare[-1]['fps'] if bare and bare[-1]['fps'] else None

    where = f'{size[0]}x{size[1]}' + (f' round {r.index + 1}/{args.rounds}'
                                      if args.rounds > 1 else '')
    if 'transport' in scenarios:
        print(f'transport {where} ...', file=sys.stderr)
        row('transport', 'none', 'cpu', _ros_scenario(
            client, executor, [py, '-m', 'seg_ros.ros.bench_nodes', 'relay'], env, args))
    for kind, device in r.backends:
        if 'backend' in scenarios:
            print(f'backend {kind}:{device} {where} ...', file=sys.stderr)
            try:
                be = create_backend(kind, args.model, BackendOptions(
                    threads=args.threads, device=device))
                values = {'status': 'ok', **bm.time_backend(
                    be.infer, sized, args.duration, args.frames)}
                values['backend_description'] = be.describe()
                be.close()
            except (BackendError, RuntimeError, ValueError) as exc:
                values = {'status': 'failed', 'reason': str(exc)}
            row('backend', kind, device, values)
        for scenario in ('node', 'node-trav'):
            if scenario in scenarios:
                print(f'{scenario} {kind}:{device} {where} ...', file=sys.stderr)
                row(scenario, kind, device, _node_scenario(
                    client, executor, env, args, kind, device, rate(kind, device),
                    traversability=scenario == 'node-trav'))
        if 'naive' in scenarios and kind == 'onnxruntime':
            print(f'naive {kind}:{device} {where} ...', file=sys.stderr)
            if naive is None:       # once per run: exporting a network takes time
                naive = (_naive_setup(info, workdir) if info
                         else (None, 'needs an .onnx model'))
            naive_args, why = naive
            if naive_args is None:
                values = {'status': 'skipped', 'reason': why}
            else:
                cmd = [py, '-m', 'seg_ros.ros.bench_nodes', 'naive', *naive_args,
                       '--threads', str(args.threads), '--device', device]
                values = _ros_scenario(client, executor, cmd, env, args, rate(kind, device))
            row('naive', kind, device, values)
    return naive
