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

"""``seg-ros wrap MODEL.onnx -o OUT.onnx``: your own segmentation ONNX as a seg_ros model."""
from __future__ import annotations

import argparse
import sys

import numpy as np

from seg_ros.common.images import parse_size
from seg_ros.tools.export import add_precision_arguments


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the command line."""
    from seg_ros.zoo.wrap import DATASETS, NORMALIZATIONS

    presets = ', '.join(DATASETS)
    parser.add_argument('model', help='the foreign .onnx file (float NCHW image in, logits or '
                        'class ids out)')
    parser.add_argument('-o', '--output', help='where to write the seg_ros model (default: '
                        'MODEL_seg_ros.onnx beside the input)')
    parser.add_argument('--input-size', metavar='WxH',
                        help='size the network runs at, width x height (default: the fixed size '
                        'of its input; required when height/width are dynamic)')
    parser.add_argument('--input', dest='input_name', metavar='NAME',
                        help='image input to feed (default: the only input)')
    parser.add_argument('--output-name', metavar='NAME',
                        help='segmentation output to use (default: the first that looks like '
                        'logits [1, C, h, w] or class ids [1, h, w])')
    parser.add_argument('--norm', choices=tuple(NORMALIZATIONS),
                        help='normalisation preset (default imagenet): imagenet (torchvision, '
                        'Hugging Face, mmseg), symmetric (x/127.5 - 1, PaddleSeg), unit (x/255), '
                        'raw (0..255)')
    parser.add_argument('--mean', metavar='A,B,C',
                        help="x = (pixel * rescale - mean) / std, in the network's channel order")
    parser.add_argument('--std', metavar='A,B,C', help='see --mean')
    parser.add_argument('--rescale', metavar='S',
                        help='pixel multiplier before --mean/--std (default 1/255 when all mean '
                        'and std values are <= 1, else 1)')
    parser.add_argument('--bgr', action='store_true',
                        help='the network wants BGR channel order (frames arrive RGB)')
    parser.add_argument('--classes', metavar='FILE|PRESET',
                        help='class names: a text file (one per line), a JSON list, a Hugging '
                        f'Face config.json (id2label), or a dataset preset ({presets}); the '
                        "count must match the model's")
    parser.add_argument('--palette', metavar='FILE|PRESET',
                        help='colours: a file of "r g b" lines or a dataset preset (default: '
                        "the preset's, else generated)")
    parser.add_argument('--dataset', metavar='NAME',
                        help='dataset recorded in the metadata; a preset name also names the '
                        'classes and lets the node pick the taxonomy preset')
    parser.add_argument('--name', help='model name in the metadata (default: the file name)')
    parser.add_argument('--confidence', action='store_true',
                        help='add the "confidence" output (max softmax; logits models only)')
    parser.add_argument('--align-corners', action='store_true',
                        help='resize with align_corners=True (if the model was trained so)')
    parser.add_argument('--check-image', action='append', default=[], metavar='PATH',
                        help='frame(s) for the agreement check (default: synthetic frames)')
    parser.add_argument('--simplify', action='store_true',
                        help='run onnxslim over the result (kept only if the labels stay the '
                        'same); off by default so the foreign graph stays as it was')
    add_precision_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Wrap, check, write; print what was found and checked."""
    from seg_ros.zoo.export import ExportError
    from seg_ros.zoo.wrap import normalization, wrap_onnx, WrapError

    out = args.output or args.model.rsplit('.', 1)[0] + '_seg_ros.onnx'
    try:
        size = None
        if args.input_size:   # the network's (height, width), written WxH like every size
            width, height = parse_size(args.input_size, '--input-size')
            size = (height, width)
        frames = [_read_rgb(p) for p in args.check_image]
        norm = normalization(args.norm, args.mean, args.std, args.rescale, args.bgr)
        result = wrap_onnx(args.model, out, input_name=args.input_name,
                           output_name=args.output_name, input_size=size, norm=norm,
                           classes=args.classes, palette=args.palette, dataset=args.dataset,
                           name=args.name, confidence=args.confidence,
                           align_corners=args.align_corners, check_frames=frames,
                           simplify=args.simplify, precision=args.precision,
                           calib_dir=args.calib, calib_limit=args.calib_count,
                           calib_method=args.calib_method, keep_float=args.keep_float,
                           sensitivity_frames=args.sensitivity_frames)
    except (WrapError, ExportError, ValueError, FileNotFoundError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 1
    io = result.io
    h, w = result.input_size
    print(f'{args.model}: input "{io.input_name}" {list(io.input_shape)}, output '
          f'"{io.output_name}" {list(io.output_shape)} ({io.kind}), opset {io.opset}')
    print(f'  network input {w}x{h}, {norm.describe()}')
    print(f'  {len(result.classes)} classes: {", ".join(result.classes[:8])}'
          + (', ...' if len(result.classes) > 8 else ''))
    print(f'  agreement with the reference pre/post-processing: {100 * result.agreement:.3f} % '
          f'of pixels (worst of {result.frames_checked} frames)')
    if result.typed_agreement is not None:
        print(f'  {result.precision} graph against the same reference: '
              f'{100 * result.typed_agreement:.3f} %')
    for note in result.notes:
        print(f'  note: {note}')
    problems = result.tensorrt_problems
    if problems:   # foreign graphs can have hundreds of the same kind: show a few
        more = f' (and {len(problems) - 3} more)' if len(problems) > 3 else ''
        print(f'  TensorRT 10 would refuse {len(problems)} node(s): '
              + '; '.join(problems[:3]) + more)
    else:
        print('  TensorRT 10 operator table: no problems found')
    print(f'{result.path}: seg_ros contract OK (see "seg-ros info {result.path}")')
    return 0


def _read_rgb(path: str) -> np.ndarray:
    import cv2

    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f'--check-image {path}: not a readable image')
    return bgr[:, :, ::-1]
