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
Share of pixels two contract models label the same, frame by frame over an image folder.

    python scripts/label_agreement.py a.onnx b.onnx --images ../shared/data/camvid/val

Prints JSON: frames, pixels, the mean and the worst frame's agreement, the number of frames
under 99.9 %, and the versions that produced it.
"""
import argparse
import json
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('a', help='first contract .onnx')
    parser.add_argument('b', help='second contract .onnx')
    parser.add_argument('--images', required=True, help='folder of frames (.png/.jpg)')
    args = parser.parse_args()
    sessions = [ort.InferenceSession(p, providers=['CPUExecutionProvider'])
                for p in (args.a, args.b)]
    files = sorted(p for p in Path(args.images).iterdir()
                   if p.suffix.lower() in ('.png', '.jpg', '.jpeg'))
    shares, pixels = [], 0
    for path in files:
        rgb = cv2.imread(str(path), cv2.IMREAD_COLOR)[:, :, ::-1].copy()[None]
        a, b = (s.run(['labels'], {'image': rgb})[0] for s in sessions)
        shares.append(float(np.mean(a == b)))
        pixels += a.size
    print(json.dumps({
        'a': args.a, 'b': args.b, 'images': args.images, 'frames': len(files),
        'pixels': pixels, 'mean_agreement': float(np.mean(shares)) if shares else None,
        'worst_frame_agreement': min(shares) if shares else None,
        'frames_under_99.9': sum(s < 0.999 for s in shares),
        'onnxruntime': ort.__version__}, indent=2))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
