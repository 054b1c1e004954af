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
Fine-tuned networks: a zoo architecture, optionally with a new classifier for other classes.

``seg-ros finetune`` trains a zoo network on the user's own labels. When the labels have the
same number of classes as the network, the network itself is trained. When they differ, a 1x1
convolution over the base network's class scores maps them onto the new classes
(:class:`Relabelled`): every weight of the base network is kept and keeps training, and only
that small classifier is new. Replacing the last layer instead is not possible in general: in
ESPNet's decoder, for instance, the class count is the width of every decoder layer, so
"the last layer" would be the whole decoder, and its Cityscapes training would be thrown away.

:func:`network` is the factory a fine-tuned zoo entry names, so the normal exporter
(:mod:`seg_ros.zoo.export`) builds and exports a fine-tuned model like any other entry;
:func:`load_checkpoint` reads the plain state_dict the trainer saves, strictly.
"""
from __future__ import annotations

import importlib
from typing import Any, Mapping

from seg_ros.zoo.networks.espnet import load_checkpoint
import torch
from torch import nn

__all__ = ['Relabelled', 'build_base', 'load_checkpoint', 'network']


class Relabelled(nn.Module):
    """``head(base(x))``: a base network's logits mapped onto new classes by a 1x1 conv."""

    def __init__(self, base: nn.Module, base_classes: int, classes: int) -> None:
        super().__init__()
        if base_classes < 1 or classes < 1:
            raise ValueError(f'class counts must be positive, got {base_classes} -> {classes}')
        self.base = base
        self.head = nn.Conv2d(base_classes, classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.base(x))


def build_base(factory: str, kwargs: Mapping[str, Any]) -> nn.Module:
    """Build (without weights) the network a zoo ``factory`` string names."""
    module_name, _, func = factory.partition(':')
    return getattr(importlib.import_module(module_name), func)(**dict(kwargs))


def network(base: str, base_kwargs: Mapping[str, Any], base_classes: int,
            classes: int = 0) -> nn.Module:
    """
    Build a fine-tuned network's architecture (weights come from :func:`load_checkpoint`).

    ``base`` and ``base_kwargs`` are the base entry's ``factory`` and ``factory_kwargs``;
    ``classes`` 0 (or equal to ``base_classes``) means the network is trained as it is, any
    other count adds the :class:`Relabelled` classifier.
    """
    net = build_base(base, base_kwargs)
    if classes and classes != base_classes:
        return Relabelled(net, base_classes, classes)
    return net
