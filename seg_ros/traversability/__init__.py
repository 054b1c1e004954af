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
Traversability: from a label image to functional ids, a cost grid and obstacle points.

:mod:`~seg_ros.traversability.taxonomy` maps model classes onto the functional classes,
:mod:`~seg_ros.traversability.geometry` turns pixels into ground or depth points,
:mod:`~seg_ros.traversability.grid` rasterises them into an occupancy grid, and
:mod:`~seg_ros.traversability.pipeline` chains the three for the node, and
:mod:`~seg_ros.traversability.fusion` accumulates the per-frame grids in a fixed frame. All pure
NumPy.
"""
from seg_ros.traversability.pipeline import (Config, DATASET_PRESETS, defaults,
                                             from_parameters, mask_unconfident, PARAMETERS,
                                             resolve_taxonomy, Traversability,
                                             TraversabilityResult)

__all__ = ['Config', 'DATASET_PRESETS', 'defaults', 'from_parameters', 'mask_unconfident',
           'PARAMETERS', 'resolve_taxonomy', 'Traversability', 'TraversabilityResult']
