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
RUGD (off-road): the 25 class names in the order the bisenet_ros BiSeNetV2 predicts them.

Wigness et al., "A RUGD Dataset for Autonomous Navigation and Visual Perception in Unstructured
Outdoor Environments", IROS 2019. The names are RUGD's own (``fence`` keeps the dataset's
spelling ``fense`` in the ROS package's class file; seg_ros spells it ``fence`` so taxonomies
and users need not know the typo). Colours are RUGD's annotation colours.
"""
from __future__ import annotations

RUGD_ATTRIBUTION = ('RUGD, Wigness et al., "A RUGD Dataset for Autonomous Navigation and Visual '
                    'Perception in Unstructured Outdoor Environments", IROS 2019 (rugd.vision); '
                    "RUGD's own terms apply to its images")

RUGD_CLASSES = ('void', 'dirt', 'sand', 'grass', 'tree', 'pole', 'water', 'sky', 'vehicle',
                'generic_object', 'asphalt', 'gravel', 'building', 'mulch', 'rock_bed', 'log',
                'bicycle', 'person', 'fence', 'bush', 'sign', 'rock', 'bridge', 'concrete',
                'picnic_table')
# RUGD's annotation colours (its colour map), in class order.
RUGD_PALETTE = ((0, 0, 0), (108, 64, 20), (255, 229, 204), (0, 102, 0), (0, 255, 0),
                (0, 153, 153), (0, 128, 255), (0, 0, 255), (255, 255, 0), (255, 0, 127),
                (64, 64, 64), (255, 128, 0), (255, 0, 0), (153, 76, 0), (102, 102, 0),
                (102, 0, 0), (0, 255, 128), (204, 153, 255), (102, 0, 204), (255, 153, 204),
                (0, 102, 102), (153, 204, 255), (102, 255, 255), (101, 101, 11),
                (114, 85, 47))

# The one RUGD frame the project's tests and demo use (bisenet_ros commit below).
RUGD_DEMO_FRAME = 'creek_00156.png'
RUGD_DEMO_FRAME_SHA256 = '88a3144687ad44808ee1b756e28977aafa8331279ade94db7ba29d60ceee9f28'
