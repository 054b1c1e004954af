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
r"""
Compare TensorRT int8 (Q/DQ) calibrations of one float32 contract model on a labelled split.

Each calibration (frame set x method) runs once; every variant quantized from it (per-channel
or per-tensor weights, Q/DQ on layer inputs only or shared with residual Adds, the N most
sensitive layers kept float32) reuses its ranges, and each is scored by mIoU through ONNX
Runtime on the evaluation split, which is never used for calibration:

    python scripts/int8_study.py fp32.onnx --calib calib=../shared/data/camvid/calib \
        --calib train=../shared/data/camvid/train --methods minmax,percentile,entropy \
        --images ../shared/data/camvid/val --labels ../shared/data/camvid/valannot \
        --classes 12 --ignore-index 11 --keep-float 0,2

One JSON line per variant, and the float32 model's own line first.
"""
import argparse
import json
import os
import sys
import tempfile
import time

import cv2
import numpy as np
import onnx
import onnxruntime as ort

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))

from seg_ros.offline import metrics  # noqa: E402
from seg_ros.zoo import precision as prec  # noqa: E402


def miou(model: onnx.ModelProto, frames: list, classes: int, ignore: int) -> float:
    """Return the mIoU (percent) of ``model`` on ``frames`` [(rgb, gt)], one ORT thread."""
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), so,
                                providers=['CPUExecutionProvider'])
    cm = np.zeros((classes, classes), np.int64)
    for rgb, gt in frames:
        labels = sess.run(['labels'], {'image': rgb})[0].reshape(gt.shape)
        cm += metrics.confusion_matrix(labels, gt, classes, ignore_index=ignore)
    scored = [c for c in range(classes) if c != ignore]
    return round(100 * metrics.mean_iou(cm, classes=scored), 2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('model', help='float32 contract model (seg-ros export)')
    parser.add_argument('--calib', action='append', required=True, metavar='NAME=DIR',
                        help='a calibration set (repeatable)')
    parser.add_argument('--methods', default='minmax,percentile,entropy')
    parser.add_argument('--images', required=True, help='evaluation frames')
    parser.add_argument('--labels', required=True, help='their label images (same names)')
    parser.add_argument('--classes', type=int, required=True)
    parser.add_argument('--ignore-index', type=int, default=-1)
    parser.add_argument('--keep-float', default='0', help='comma list of N (default 0)')
    parser.add_argument('--sensitivity-frames', type=int, default=prec.SENSITIVITY_FRAMES)
    parser.add_argument('--variants', default='inputs',
                        help='comma list of inputs (Q/DQ on layer inputs only), shared '
                        '(ONNX Runtime placement), per-tensor (inputs, one weight scale)')
    args = parser.parse_args()
    float_model = onnx.load(args.model)
    pre, post = prec.edge_nodes(float_model)
    frames = []
    for path in prec.list_images(args.images):
        rgb = np.ascontiguousarray(cv2.imread(path, cv2.IMREAD_COLOR)[:, :, ::-1])[None]
        gt = cv2.imread(os.path.join(args.labels, os.path.basename(path)), cv2.IMREAD_UNCHANGED)
        frames.append((rgb, gt))
    print(json.dumps({'variant': 'fp32', 'frames': len(frames),
                      'miou': miou(float_model, frames, args.classes, args.ignore_index)}),
          flush=True)
    keeps = [int(k) for k in args.keep_float.split(',')]
    with tempfile.TemporaryDirectory(prefix='int8_study_') as tmp:
        src = os.path.join(tmp, 'fp32.onnx')
        onnx.save(float_model, src)
        for spec in args.calib:
            name, _, folder = spec.partition('=')
            files = prec.list_images(folder)
            for method in args.methods.split(','):
                cache = os.path.join(tmp, f'{name}-{method}.json')
                start = time.time()
                prec.calibrate(src, files, method, True, prec.QUANTIZED_OPS, cache)
                calib_s = round(time.time() - start, 1)
                base = prec.quantize_qdq(src, cache, method, pre + post, True)
                rows = None
                for keep in keeps:
                    kept: list = []
                    if keep:
                        if rows is None:
                            rows = prec.layer_sensitivity(
                                float_model, base, prec._spread(files, args.sensitivity_frames))
                            print(prec.format_sensitivity(rows[:8]), file=sys.stderr)
                        kept = [r.name for r in rows[:keep]]
                    for variant in args.variants.split(','):
                        qdq = prec.quantize_qdq(src, cache, method, pre + post + kept,
                                                variant != 'per-tensor')
                        if variant != 'shared':
                            qdq = prec.only_quantized(
                                qdq, float_model, [n.name for n in prec.quantized_layers(qdq)])
                        print(json.dumps({
                            'calib': name, 'frames': len(files), 'method': method,
                            'variant': variant, 'keep_float': kept, 'calib_s': calib_s,
                            'miou': miou(qdq, frames, args.classes, args.ignore_index)}),
                            flush=True)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
