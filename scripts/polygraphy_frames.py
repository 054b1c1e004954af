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
Polygraphy data loader: real frames, fed as the seg_ros node feeds them (uint8 RGB 1xHxWx3).

    FRAMES=../shared/data/camvid/val SIZE=640x480 polygraphy run MODEL.onnx --trt --onnxrt \
        --data-loader-script scripts/polygraphy_frames.py ...

Polygraphy's default loader fills a uint8 input with random values, which tells little about a
segmentation model; these are the first ``COUNT`` (default 4) images of ``FRAMES``, resized to
``SIZE`` (WIDTHxHEIGHT, default 640x480; keep it inside the engine's profile).
"""
import glob
import os

import cv2
import numpy as np


def load_data():  # noqa: ANN201 (Polygraphy's entry point)
    """Yield one feed dict per frame."""
    folder = os.environ.get('FRAMES', '../shared/data/camvid/val')
    width, height = (int(v) for v in os.environ.get('SIZE', '640x480').lower().split('x'))
    paths = sorted(p for ext in ('png', 'jpg', 'jpeg') for p in glob.glob(f'{folder}/*.{ext}'))
    if not paths:
        raise FileNotFoundError(f'no frames in {folder}; set FRAMES to a folder of images')
    for path in paths[:int(os.environ.get('COUNT', '4'))]:
        bgr = cv2.resize(cv2.imread(path, cv2.IMREAD_COLOR), (width, height))
        yield {'image': np.ascontiguousarray(bgr[:, :, ::-1])[None]}
