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
The model zoo: every exportable network with its classes, colours, preprocessing and weights.

:mod:`~seg_ros.zoo.registry` defines an entry and holds the table, :mod:`~seg_ros.zoo.entries`
registers the models (importing this package registers them), :mod:`~seg_ros.zoo.assets`
finds, verifies and downloads weights and demo frames, :mod:`~seg_ros.zoo.datasets` has the
class lists, :mod:`~seg_ros.zoo.networks` the PyTorch architectures and
:mod:`~seg_ros.zoo.export` turns an entry into a contract ONNX model.
"""
from seg_ros.zoo import entries  # noqa: F401  (registers the models)
from seg_ros.zoo.assets import (assets_dir, cache_dir, download, fetch_demo_frames,
                                resolve_weights)
from seg_ros.zoo.datasets.camvid import (CAMVID_ATTRIBUTION, CAMVID_CLASSES, CAMVID_PALETTE,
                                         DEMO_FRAMES, DemoFrame, SEGNET_COMMIT, SEGNET_RAW)
from seg_ros.zoo.datasets.cityscapes import CITYSCAPES_CLASSES, CITYSCAPES_PALETTE
from seg_ros.zoo.entries import ESPNET_ATTRIBUTION, ESPNET_COMMIT, ESPNET_RAW
from seg_ros.zoo.registry import get, names, register, ZOO, ZooEntry, ZooError

__all__ = ['assets_dir', 'cache_dir', 'download', 'fetch_demo_frames', 'resolve_weights',
           'CAMVID_ATTRIBUTION', 'CAMVID_CLASSES', 'CAMVID_PALETTE', 'DEMO_FRAMES', 'DemoFrame',
           'SEGNET_COMMIT', 'SEGNET_RAW', 'CITYSCAPES_CLASSES', 'CITYSCAPES_PALETTE',
           'ESPNET_ATTRIBUTION', 'ESPNET_COMMIT', 'ESPNET_RAW', 'get', 'names', 'register', 'ZOO',
           'ZooEntry', 'ZooError']
