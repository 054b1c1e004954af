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
Export a zoo network WITHOUT the contract wrapper, as a foreign model would arrive.

    python scripts/export_bare.py espnet_camvid /tmp/wrap/espnet_bare.onnx

The file takes normalised float NCHW at the entry's input size (``input``) and returns logits
(``output``), like a torchvision or mmsegmentation export. The script prints the
``seg-ros wrap`` flags that describe the entry's normalisation, so wrapping the file again and
comparing it with ``seg-ros export`` (scripts/label_agreement.py) checks ``seg-ros wrap`` on a
real trained network.
"""
import argparse
import warnings

from seg_ros import zoo
from seg_ros.zoo.export import build_network
import torch


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('name', help='zoo entry, e.g. espnet_camvid')
    parser.add_argument('output', help='where to write the bare .onnx')
    parser.add_argument('--opset', type=int, default=17)
    args = parser.parse_args()
    entry = zoo.get(args.name)
    h, w = entry.input_size
    net = build_network(entry)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter('ignore')   # the TorchScript exporter's deprecation notice
        torch.onnx.export(net, (torch.zeros(1, 3, h, w),), args.output, input_names=['input'],
                          output_names=['output'], opset_version=args.opset, dynamo=False)
    norm = entry.normalization

    def triplet(values: tuple) -> str:
        return ','.join(f'{v:.10g}' for v in values)

    # (img - mean) / std * scale  ==  (img * 1 - mean) / (std / scale)
    std = tuple(s / norm.scale for s in norm.std)
    flags = (f'--mean {triplet(norm.mean)} --std {triplet(std)} --rescale 1'
             + (' --bgr' if norm.bgr else ''))
    print(f'{args.output}: {entry.name} without the wrapper, float NCHW {w}x{h} in, logits out')
    print(f'wrap it with: seg-ros wrap {args.output} {flags}'
          + (' --align-corners' if entry.extra.get('align_corners') == 'true' else ''))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
