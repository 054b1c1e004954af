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
``seg-ros build-engine MODEL.onnx -o engines/NAME.engine``: a TensorRT engine plus its sidecar.

Run it on the robot: an engine only runs on the TensorRT version and GPU that built it.
``--check`` needs no TensorRT: it runs the contract check and the TensorRT 10 operator-table
walk, so a model can be vetted on a development machine before it reaches the Jetson.
"""
from __future__ import annotations

import argparse
import os
import sys

from seg_ros.inference import contract
from seg_ros.inference.tensorrt import engine_cache
from seg_ros.inference.tensorrt import trt_compat

_DEFAULT = engine_cache.BuildSettings()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('model', help='seg_ros contract .onnx (seg-ros export ...)')
    parser.add_argument('-o', '--output', default='',
                        help='engine file (default: <model>.<precision>.engine beside the '
                             'model, where the node looks for it)')
    precision = parser.add_mutually_exclusive_group()
    precision.add_argument('--fp16', dest='precision', action='store_const', const='fp16',
                           help='FP16 kernels from a float32 ONNX (TensorRT 10 only; the '
                           'default there, Orin runs FP16 at full speed). On TensorRT 11 '
                           '(default fp32 there) export --precision fp16 instead')
    precision.add_argument('--int8', dest='precision', action='store_const', const='int8',
                           help='implicit INT8 with entropy calibration (needs --calib; '
                           'TensorRT 10 only, deprecated): prefer export --precision int8')
    precision.add_argument('--fp32', dest='precision', action='store_const', const='fp32',
                           help='FP32 only (reference accuracy, slowest)')
    parser.set_defaults(precision=None)
    parser.add_argument('--calib', default='', metavar='DIR',
                        help='folder of calibration frames for --int8 (32+ frames like the '
                             'robot sees, e.g. ../shared/data/camvid/calib)')
    parser.add_argument('--calib-count', type=int, default=0, metavar='N',
                        help='use only the first N calibration frames (0 = all)')
    parser.add_argument('--calib-cache', default='', metavar='FILE',
                        help='read/write the INT8 calibration table here (skips calibration '
                             'on rebuilds; ignored unless it was made from this ONNX and '
                             'these frames)')
    for name, hw, text in (('min', _DEFAULT.min_hw, 'smallest'),
                           ('opt', _DEFAULT.opt_hw, "tuned-for (your camera's)"),
                           ('max', _DEFAULT.max_hw, 'largest')):
        parser.add_argument(f'--{name}', default=None, metavar='WxH',
                            help=f'{text} input frame size of the optimisation profile, '
                                 f'width x height (default {engine_cache.cli_size(hw)})')
    parser.add_argument('--workspace', type=int, default=0, metavar='MB',
                        help='builder workspace limit in MB (0 = TensorRT default); lower it '
                             'if a Jetson build runs out of memory')
    parser.add_argument('--timing-cache', default='', metavar='FILE',
                        help='reuse/update this tactic timing cache (faster rebuilds)')
    parser.add_argument('--dla', type=int, default=-1, metavar='N',
                        help='run on DLA core N of a Jetson Orin, GPU fallback for the rest '
                             '(needs --fp16 or --int8)')
    parser.add_argument('--device', type=int, default=0, help='CUDA device id')
    parser.add_argument('--force', action='store_true',
                        help='rebuild even if the engine is up to date')
    parser.add_argument('--check', action='store_true',
                        help='only check the ONNX (contract + TensorRT 10 operator table); '
                             'needs no TensorRT')


def default_precision() -> str:
    """
    Return the precision a float32 ONNX is built with when no flag says: what it will run as.

    FP16 where the TensorRT has the FP16 builder flag (10.x); FP32 where every network is
    strongly typed (11.x), so that the engine's name, sidecar and cache key say ``fp32``
    instead of recording ``fp16``, building FP32 and rebuilding on every run. Without
    TensorRT the build fails later with the install hint; the default does not matter there.
    """
    from seg_ros.inference.tensorrt import engine_builder
    from seg_ros.inference.tensorrt import trt_api

    try:
        trt_module = engine_builder.import_tensorrt()
    except engine_builder.EngineBuildError:
        return 'fp16'
    return 'fp32' if trt_api.strongly_typed_only(trt_module) else 'fp16'


def settings_from_args(args: argparse.Namespace) -> engine_cache.BuildSettings:
    """Return validated build settings; ValueError names the bad option."""
    opt = engine_cache.parse_hw(args.opt, '--opt') if args.opt else _DEFAULT.opt_hw
    # DLA engines are static: without --min/--max the profile is the --opt size alone.
    static = args.dla >= 0
    lo = (engine_cache.parse_hw(args.min, '--min') if args.min
          else (opt if static else _DEFAULT.min_hw))
    hi = (engine_cache.parse_hw(args.max, '--max') if args.max
          else (opt if static else _DEFAULT.max_hw))
    settings = engine_cache.BuildSettings(
        precision=args.precision or default_precision(), min_hw=lo, opt_hw=opt, max_hw=hi,
        workspace_mb=args.workspace, dla_core=args.dla, calib_dir=args.calib,
        timing_cache=args.timing_cache, calib_limit=args.calib_count)
    if args.calib and args.precision != 'int8':
        raise ValueError('--calib is only used with --int8')
    from seg_ros.inference.tensorrt import engine_builder

    try:   # a typed ONNX brings its precision; implicit INT8 gets its calibration digest
        return engine_builder.prepare_settings(args.model, settings)
    except engine_builder.EngineBuildError as exc:
        raise ValueError(str(exc)) from exc


def check(model: str) -> int:
    """Print the contract and TensorRT-table verdicts; return 0 when both are clean."""
    info = contract.check_onnx(model)
    print(f'{model}: seg_ros contract OK, {info.num_classes} classes')
    if trt_compat.model_precision(model) == 'int8-cpu':   # one reason, not 500 symptoms
        print(f'{model}: an int8-cpu export (the CPU quantized form of ONNX Runtime), which '
              'TensorRT cannot build; export with --precision int8 for TensorRT')
        return 1
    problems = trt_compat.check_model(model)
    for problem in problems:
        print(f'  TensorRT 10: {problem}')
    print(f'{model}: {len(problems)} TensorRT 10 parser problem(s) found'
          if problems else f'{model}: no TensorRT 10 parser problems found')
    return 1 if problems else 0


def run(args: argparse.Namespace) -> int:
    if not os.path.isfile(args.model):
        print(f'error: model file not found: {args.model}', file=sys.stderr)
        return 1
    try:
        if args.check:
            return check(args.model)
        settings = settings_from_args(args)
    except (ValueError, FileNotFoundError) as exc:   # ContractError is a ValueError
        print(f'error: {exc}', file=sys.stderr)
        return 1
    from seg_ros.inference.tensorrt import engine_builder

    output = args.output or engine_cache.engine_path_for(args.model, settings)
    try:
        if not args.force and os.path.isfile(output):
            platform = engine_builder.current_platform(args.device)
            reasons = engine_cache.stale_reasons(
                output, engine_cache.sha256_file(args.model), platform, settings)
            if not reasons:
                print(f'{output} is up to date (use --force to rebuild)')
                return 0
            print(f'rebuilding {output}: {"; ".join(reasons)}')
        engine_builder.build_engine(args.model, output, settings, device_id=args.device,
                                    calib_cache=args.calib_cache, log=print,
                                    strict=args.precision is not None)
    except (engine_builder.EngineBuildError, contract.ContractError, OSError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 1
    print(f'use it with: model_path: {os.path.abspath(output)}  backend: tensorrt')
    return 0
