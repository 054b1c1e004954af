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
ESPNet (Mehta et al., ECCV 2018) with its light-weight decoder, written for export.

The module and parameter names follow the published checkpoints (sacmehta/ESPNet, MIT
licence), so ``load_state_dict(strict=True)`` proves that every tensor of the official weights
found its place and nothing was left randomly initialised. The forward pass is plain tensor
code without Python-side shape logic, so the TorchScript ONNX exporter traces it into a static
graph (the network always runs at one fixed size inside the contract wrapper).

Layout (p and q are the depth multipliers of the two ESP stages; the zoo uses p=2, q=8):

- encoder (ESPNet-C): a strided 3x3 conv, two ESP stages at 1/4 and 1/8 of the input, each fed
  with a down-sampled copy of the image ("input reinforcement"), and a 1x1 classifier;
- decoder: two "reverse upsampling modules" that project the 1/4 and 1/2 features to the class
  space, merge them with the up-sampled coarser prediction and end in a x2 transposed conv to
  full resolution.

The two published decoder checkpoints differ in one place: the last decoder conv sees the
up-sampled class map concatenated with either the 1/2 features after input reinforcement and
batch norm (19 channels; the CamVid weights, ``train/Model.py``) or the raw strided-conv output
(16 channels; the Cityscapes weights, ``test/Model.py``). ``skip`` selects which, so both load
strictly.

The input height and width must be multiples of 8 (three stride-2 stages and three x2
transposed convs have to meet at the same sizes).
"""
from __future__ import annotations

from typing import Mapping

from seg_ros.zoo.networks import checkpoints
import torch
from torch import nn

BN_EPS = 1e-3


class ConvBnAct(nn.Module):
    """Square conv without bias, batch norm, PReLU (keys ``conv``, ``bn``, ``act``)."""

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride=stride, padding=(k - 1) // 2, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=BN_EPS)
        self.act = nn.PReLU(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class BnAct(nn.Module):
    """Batch norm and PReLU, applied after concatenations (keys ``bn``, ``act``)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(channels, eps=BN_EPS)
        self.act = nn.PReLU(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(x))


class Conv(nn.Module):
    """A bias-free square conv wrapped in a module so its key reads ``<name>.conv.weight``."""

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, dilation: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride=stride, padding=(k - 1) // 2 * dilation,
                              dilation=dilation, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


def _split_widths(cout: int) -> tuple[int, int]:
    """Width of each dilated branch and of the first one, which takes the remainder."""
    n = cout // 5
    return n, cout - 4 * n


class _EspBranches(nn.Module):
    """
    Reduce, split into five dilated 3x3 convs (rates 1..16), fuse hierarchically, concatenate.

    Adding the branches with larger rates onto the smaller ones before concatenation removes
    the gridding artefacts that parallel dilated convs would otherwise produce.
    """

    def __init__(self, cin: int, cout: int, reduce_k: int, stride: int) -> None:
        super().__init__()
        n, n1 = _split_widths(cout)
        self.c1 = Conv(cin, n, reduce_k, stride)
        self.d1 = Conv(n, n1, 3, 1, 1)
        self.d2 = Conv(n, n, 3, 1, 2)
        self.d4 = Conv(n, n, 3, 1, 4)
        self.d8 = Conv(n, n, 3, 1, 8)
        self.d16 = Conv(n, n, 3, 1, 16)

    def branches(self, x: torch.Tensor) -> torch.Tensor:
        r = self.c1(x)
        s2 = self.d2(r)
        s4 = s2 + self.d4(r)
        s8 = s4 + self.d8(r)
        s16 = s8 + self.d16(r)
        return torch.cat([self.d1(r), s2, s4, s8, s16], 1)


class EspDown(_EspBranches):
    """Strided ESP module: halves the resolution (3x3 stride-2 reduction)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(cin, cout, 3, 2)
        self.bn = nn.BatchNorm2d(cout, eps=BN_EPS)
        self.act = nn.PReLU(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.branches(x)))


class EspBlock(_EspBranches):
    """ESP module at constant resolution (1x1 reduction), with an identity skip if ``add``."""

    def __init__(self, cin: int, cout: int, add: bool = True) -> None:
        super().__init__(cin, cout, 1, 1)
        self.bn = BnAct(cout)
        self.add = add

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.branches(x)
        return self.bn(x + y if self.add else y)


class ImagePyramid(nn.Module):
    """Down-sample the image ``times`` x2 with 3x3 average pools, to re-inject it deeper."""

    def __init__(self, times: int) -> None:
        super().__init__()
        self.pool = nn.ModuleList(nn.AvgPool2d(3, stride=2, padding=1) for _ in range(times))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for pool in self.pool:
            x = pool(x)
        return x


class EspNetEncoder(nn.Module):
    """ESPNet-C; ``features`` returns the three skip tensors and the 1/8 class map."""

    def __init__(self, classes: int, p: int, q: int) -> None:
        super().__init__()
        self.level1 = ConvBnAct(3, 16, 3, 2)
        self.sample1 = ImagePyramid(1)
        self.sample2 = ImagePyramid(2)
        self.b1 = BnAct(16 + 3)
        self.level2_0 = EspDown(16 + 3, 64)
        self.level2 = nn.ModuleList(EspBlock(64, 64) for _ in range(p))
        self.b2 = BnAct(128 + 3)
        self.level3_0 = EspDown(128 + 3, 128)
        self.level3 = nn.ModuleList(EspBlock(128, 128) for _ in range(q))
        self.b3 = BnAct(256)
        self.classifier = Conv(256, classes, 1)

    def features(self, img: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return the skip tensors at 1/2 (16 and 19 ch) and 1/4 (131 ch), and 1/8 class scores."""
        first = self.level1(img)
        half = self.b1(torch.cat([first, self.sample1(img)], 1))
        down2 = self.level2_0(half)
        x = down2
        for block in self.level2:
            x = block(x)
        quarter = self.b2(torch.cat([x, down2, self.sample2(img)], 1))
        down3 = self.level3_0(quarter)
        x = down3
        for block in self.level3:
            x = block(x)
        eighth = self.classifier(self.b3(torch.cat([down3, x], 1)))
        return first, half, quarter, eighth

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return self.features(img)[3]


def _up2(classes: int) -> nn.ConvTranspose2d:
    return nn.ConvTranspose2d(classes, classes, 2, stride=2, bias=False)


class EspNet(nn.Module):
    """
    ESPNet with decoder: normalised BGR float ``(N, 3, H, W)`` in, logits ``(N, C, H, W)`` out.

    H and W must be multiples of 8. ``skip`` is ``'b1'`` (19-channel skip, CamVid weights) or
    ``'level1'`` (16-channel skip, Cityscapes weights).
    """

    SKIPS = {'b1': 16 + 3, 'level1': 16}

    def __init__(self, classes: int = 20, p: int = 2, q: int = 8, skip: str = 'b1') -> None:
        super().__init__()
        if skip not in self.SKIPS:
            raise ValueError(f'skip must be one of {sorted(self.SKIPS)}, got {skip!r}')
        self.skip = skip
        self.encoder = EspNetEncoder(classes, p, q)
        self.level3_C = Conv(128 + 3, classes, 1)
        self.br = nn.BatchNorm2d(classes, eps=BN_EPS)
        self.conv = ConvBnAct(self.SKIPS[skip] + classes, classes, 3)
        self.up_l3 = nn.Sequential(_up2(classes))
        self.combine_l2_l3 = nn.Sequential(BnAct(2 * classes),
                                           EspBlock(2 * classes, classes, add=False))
        self.up_l2 = nn.Sequential(_up2(classes), BnAct(classes))
        self.classifier = _up2(classes)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        first, half, quarter, eighth = self.encoder.features(img)
        coarse = self.up_l3(self.br(eighth))                                  # 1/4
        mid = self.up_l2(self.combine_l2_l3(torch.cat([self.level3_C(quarter), coarse], 1)))
        fine = half if self.skip == 'b1' else first
        return self.classifier(self.conv(torch.cat([mid, fine], 1)))          # 1/2 -> 1/1


def load_checkpoint(model: nn.Module, path: str) -> nn.Module:
    """
    Load a state_dict file strictly and switch to eval mode.

    Strict loading is the proof that the architecture matches the weights; a mismatch raises
    with the missing and unexpected keys and the file, instead of exporting a half-random net.
    """
    try:
        state = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as exc:  # pickle/zip errors of a corrupt or foreign file
        raise ValueError(f'{path}: not a readable PyTorch state_dict ({exc}); delete it and '
                         'download it again ("seg-ros download NAME")') from exc
    if isinstance(state, Mapping) and 'state_dict' in state and len(state) < 10:
        state = state['state_dict']
    if not isinstance(state, Mapping):
        raise ValueError(f'{path}: expected a state_dict (mapping of tensors), got '
                         f'{type(state).__name__}')
    try:
        model.load_state_dict(checkpoints.strip_module_prefix(state), strict=True)
    except RuntimeError as exc:
        raise ValueError(f'{path}: weights do not fit {type(model).__name__}: {exc}') from exc
    return model.eval()


def espnet(classes: int, p: int = 2, q: int = 8, skip: str = 'b1') -> EspNet:
    """Build ESPNet-p-q with decoder (factory used by the model zoo)."""
    return EspNet(classes, p, q, skip)
