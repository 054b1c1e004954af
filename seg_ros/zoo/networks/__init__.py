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
Networks that the exporter wraps into the seg_ros contract, and their input normalisation.

This package's ``__init__`` stays free of PyTorch so the model zoo (and ``seg-ros download``)
can describe a network's preprocessing on machines without the ``export`` extra; the networks
themselves (:mod:`seg_ros.zoo.networks.espnet`) and the contract wrapper
(:mod:`seg_ros.zoo.networks.wrapper`) import torch.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

Triplet = Tuple[float, float, float]


@dataclass(frozen=True)
class Normalization:
    """
    How a network wants its float input: ``x = (img - mean) / std * scale`` per channel.

    ``img`` is the camera frame in 0..255 after reordering to the network's channel order, so
    ``mean`` and ``std`` are in 0..255 units and in that order (B, G, R when ``bgr``). One
    formula covers both common conventions:

    - ESPNet's ``(img - mean) / std / 255``: ``mean``/``std`` as trained, ``scale=1/255``;
    - ImageNet-style ``(img / 255 - m) / s``: ``mean = 255 m``, ``std = 255 s``, ``scale=1``
      (see :meth:`imagenet`).
    """

    mean: Triplet = (0.0, 0.0, 0.0)
    std: Triplet = (1.0, 1.0, 1.0)
    scale: float = 1.0
    bgr: bool = False

    def __post_init__(self) -> None:
        if len(self.mean) != 3 or len(self.std) != 3:
            raise ValueError(f'mean and std need 3 values each, got {self.mean}, {self.std}')
        if any(s == 0 for s in self.std) or self.scale == 0:
            raise ValueError(f'std and scale must be non-zero, got std={self.std}, '
                             f'scale={self.scale}')

    @classmethod
    def imagenet(cls, bgr: bool = False) -> 'Normalization':
        """Torchvision's ImageNet statistics, ``(img / 255 - m) / s``, in RGB (or BGR) order."""
        r, g, b = 255.0 * 0.485, 255.0 * 0.456, 255.0 * 0.406
        sr, sg, sb = 255.0 * 0.229, 255.0 * 0.224, 255.0 * 0.225
        if bgr:
            return cls((b, g, r), (sb, sg, sr), 1.0, True)
        return cls((r, g, b), (sr, sg, sb), 1.0, False)

    def affine(self) -> tuple[Triplet, Triplet]:
        """Per network channel ``(gain, offset)`` so that ``x = img * gain + offset``."""
        gain = tuple(self.scale / s for s in self.std)
        offset = tuple(-m * g for m, g in zip(self.mean, gain))
        return gain, offset  # type: ignore[return-value]

    def describe(self) -> str:
        """One line for model metadata and logs."""
        order = 'BGR' if self.bgr else 'RGB'
        return (f'{order}, x = (img - {list(self.mean)}) / {list(self.std)} * {self.scale:.6g} '
                '(img in 0..255)')
