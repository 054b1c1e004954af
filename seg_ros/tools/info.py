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

"""``seg-ros info MODEL``: contract check and class list, the first thing to run on a new model."""
from __future__ import annotations

import argparse
import json
import os
import sys

from seg_ros.inference import contract


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('model', help='.onnx file')
    parser.add_argument('--json', action='store_true', help='print machine-readable JSON')


def run(args: argparse.Namespace) -> int:
    if not os.path.isfile(args.model):
        print(f'error: {args.model}: no such file; export a model with '
              f'seg-ros export NAME -o {args.model} (seg-ros export --list names them)',
              file=sys.stderr)
        return 1
    try:
        info = contract.check_onnx(args.model)
    except (contract.ContractError, FileNotFoundError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({'classes': list(info.classes), 'palette': info.palette.tolist(),
                          'has_confidence': info.has_confidence,
                          'metadata': dict(info.metadata)}, indent=2))
        return 0
    print(f'{args.model}: seg_ros contract OK, {info.num_classes} classes, '
          f'confidence output: {"yes" if info.has_confidence else "no"}')
    for key in contract.OPTIONAL_KEYS:
        if key in info.metadata:
            print(f'  {key}: {info.metadata[key]}')
    for i, (name, rgb) in enumerate(zip(info.classes, info.palette.tolist())):
        print(f'  {i:3d} {name:<24s} rgb{tuple(rgb)}')
    return 0
