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

"""``seg-ros export NAME -o OUT.onnx``: a zoo model in the seg_ros contract, ready for the node."""
from __future__ import annotations

import argparse
import sys

from seg_ros import zoo
from seg_ros.common.images import parse_size
from seg_ros.inference import contract
from seg_ros.zoo.precision import PRECISIONS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the command line."""
    parser.add_argument('name', nargs='?', help='zoo model name (see --list)')
    parser.add_argument('-o', '--output', help='where to write the .onnx file '
                        '(default: NAME.onnx in the current directory)')
    parser.add_argument('--input-size', metavar='WxH',
                        help='network input size, width x height, e.g. 480x360 (default: the '
                        "zoo entry's); "
                        'the exported model still takes frames of any size')
    parser.add_argument('--opset', type=int, default=17, help='ONNX opset (default 17)')
    parser.add_argument('--confidence', action='store_true',
                        help='add the "confidence" output (max softmax per pixel). Off by '
                        'default: on a CPU it costs about as much as the network itself')
    parser.add_argument('--weights', metavar='PATH',
                        help="use this state_dict instead of the zoo's (no sha256 check)")
    parser.add_argument('--no-simplify', action='store_true', help='skip onnxslim')
    parser.add_argument('--exporter', choices=('torchscript', 'dynamo'), default='torchscript',
                        help='PyTorch ONNX exporter (default torchscript: faster, same graph)')
    add_precision_arguments(parser)
    parser.add_argument('--list', action='store_true', help='list the zoo and exit')


def add_precision_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare --precision and the calibration options (``seg-ros wrap`` takes the same)."""
    parser.add_argument('--precision', choices=PRECISIONS, default='fp32',
                        help='types inside the graph (default fp32). fp16: float16 weights and '
                        'activations; int8: explicit symmetric Q/DQ calibrated on --calib, for '
                        'TensorRT 10 and 11 (they build fp16/int8 as typed, see '
                        "doc/tensorrt.md); int8-cpu: ONNX Runtime's own quantized form for its "
                        'CPU kernels (U8S8; TensorRT cannot build it). All keep the uint8 image '
                        'in and labels out')
    parser.add_argument('--calib', metavar='DIR', default='',
                        help='int8: folder of frames like the robot sees (not the evaluation '
                        "frames), fed through the graph's own preprocessing")
    parser.add_argument('--calib-count', type=int, default=0, metavar='N',
                        help='int8: use the first N frames (sorted by name; 0 = all)')
    parser.add_argument('--calib-method', choices=('percentile', 'minmax', 'entropy'),
                        default='percentile',
                        help='int8: how activation ranges are chosen (default percentile, '
                        '99.999 %%)')
    parser.add_argument('--keep-float', type=int, default=0, metavar='N',
                        help='int8: run the per-layer sensitivity pass, print it, and keep the '
                        'N most sensitive layers in float32 (default 0: no pass)')
    parser.add_argument('--sensitivity-frames', type=int, default=0, metavar='N',
                        help='int8: calibration frames the sensitivity pass runs on, spread over '
                        'the set (default 0 = 4)')


def print_zoo() -> None:
    """Print one block per zoo entry."""
    for name in zoo.names():
        e = zoo.get(name)
        sha = e.sha256 or 'none published: download the file yourself, pass --weights FILE'
        print(f'{name}\n  {e.architecture}; {e.dataset}; {len(e.classes)} classes; network '
              f'input {e.input_size[1]}x{e.input_size[0]}\n  weights: {e.url}\n'
              f'  sha256: {sha}\n  licence: {e.licence}')


def run(args: argparse.Namespace) -> int:
    """Export, then print the contract summary of the written file."""
    if args.list:
        print_zoo()
        return 0
    if not args.name:
        print(f'error: name a model to export: {", ".join(zoo.names())}', file=sys.stderr)
        return 2
    from seg_ros.zoo.export import export_onnx, ExportError

    out = args.output or f'{args.name}.onnx'
    try:
        size = None
        if args.input_size:   # the network's (height, width), written WxH like every size
            width, height = parse_size(args.input_size, '--input-size')
            size = (height, width)
        path = export_onnx(args.name, out, input_size=size, opset=args.opset,
                           confidence=args.confidence, weights=args.weights,
                           simplify=not args.no_simplify, exporter=args.exporter,
                           precision=args.precision, calib_dir=args.calib,
                           calib_limit=args.calib_count, calib_method=args.calib_method,
                           keep_float=args.keep_float,
                           sensitivity_frames=args.sensitivity_frames, log=print)
        info = contract.check_onnx(path)
    except (zoo.ZooError, ExportError, ValueError, contract.ContractError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 1
    h, w = info.input_size or (0, 0)
    print(f'{path}: {args.name}, {info.num_classes} classes, network input {w}x{h}, '
          f'confidence output: {"yes" if info.has_confidence else "no"}, precision '
          f'{args.precision}')
    return 0
