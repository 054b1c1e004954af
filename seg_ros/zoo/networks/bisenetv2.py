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
BiSeNetV2 with the module layout of CoinCheung/BiSeNet, so its released state_dicts load strictly.

Reference layout: CoinCheung/BiSeNet ``lib/models/bisenetv2.py`` @ 6b4b67a (unchanged since the
2021-07-07 refactor c0422a1, which is also the commit that published the
``model_final_v2_city.pth`` / ``model_final_v2_coco.pth`` download links). The released files are
the training state_dict, so they hold the four auxiliary heads (``aux2``, ``aux3``, ``aux4``,
``aux5_4``). They are built here (``aux=True``) so the strict load succeeds, but ``forward`` never
runs them: they only exist to feed the booster losses during training.

Attribute names below are the state_dict keys; do not rename them.
"""
from __future__ import annotations

from seg_ros.zoo.networks import checkpoints
import torch
from torch import nn
import torch.nn.functional as F


def _conv_bn(cin: int, cout: int, ks: int = 3, stride: int = 1, groups: int = 1) -> list:
    return [nn.Conv2d(cin, cout, ks, stride, ks // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout)]


class ConvBNReLU(nn.Module):
    """Conv (no bias) → BN → ReLU with the reference's ``conv``/``bn`` attribute names."""

    def __init__(self, cin: int, cout: int, ks: int = 3, stride: int = 1,
                 padding: int | None = None, groups: int = 1) -> None:
        super().__init__()
        pad = ks // 2 if padding is None else padding
        self.conv = nn.Conv2d(cin, cout, ks, stride, pad, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))


class DetailBranch(nn.Module):
    """Wide, shallow path at 1/8 resolution that keeps spatial detail."""

    def __init__(self) -> None:
        super().__init__()
        self.S1 = nn.Sequential(ConvBNReLU(3, 64, 3, 2), ConvBNReLU(64, 64))
        self.S2 = nn.Sequential(ConvBNReLU(64, 64, 3, 2), ConvBNReLU(64, 64), ConvBNReLU(64, 64))
        self.S3 = nn.Sequential(ConvBNReLU(64, 128, 3, 2), ConvBNReLU(128, 128),
                                ConvBNReLU(128, 128))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.S3(self.S2(self.S1(x)))


class StemBlock(nn.Module):
    """Fast 4x down-sampling: a strided conv pair next to a max-pool, fused by a 3x3 conv."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = ConvBNReLU(3, 16, 3, 2)
        self.left = nn.Sequential(ConvBNReLU(16, 8, 1, 1), ConvBNReLU(8, 16, 3, 2))
        self.right = nn.MaxPool2d(3, 2, 1)
        self.fuse = ConvBNReLU(32, 16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        return self.fuse(torch.cat([self.left(x), self.right(x)], dim=1))


class CEBlock(nn.Module):
    """Context embedding: global average (a ReduceMean, exportable) added back to every pixel."""

    def __init__(self) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(128)
        self.conv_gap = ConvBNReLU(128, 128, 1, 1)
        self.conv_last = ConvBNReLU(128, 128)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g = self.conv_gap(self.bn(torch.mean(x, dim=(2, 3), keepdim=True)))
        return self.conv_last(x + g)


class GELayerS1(nn.Module):
    """Gather-and-expand layer, stride 1, identity shortcut."""

    def __init__(self, cin: int, cout: int, exp: int = 6) -> None:
        super().__init__()
        mid = cin * exp
        self.conv1 = ConvBNReLU(cin, cin)
        self.dwconv = nn.Sequential(*_conv_bn(cin, mid, 3, 1, groups=cin), nn.ReLU(inplace=True))
        self.conv2 = nn.Sequential(*_conv_bn(mid, cout, 1))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv2(self.dwconv(self.conv1(x))) + x)


class GELayerS2(nn.Module):
    """Gather-and-expand layer, stride 2, depthwise-separable projection shortcut."""

    def __init__(self, cin: int, cout: int, exp: int = 6) -> None:
        super().__init__()
        mid = cin * exp
        self.conv1 = ConvBNReLU(cin, cin)
        self.dwconv1 = nn.Sequential(*_conv_bn(cin, mid, 3, 2, groups=cin))
        self.dwconv2 = nn.Sequential(*_conv_bn(mid, mid, 3, 1, groups=mid), nn.ReLU(inplace=True))
        self.conv2 = nn.Sequential(*_conv_bn(mid, cout, 1))
        self.shortcut = nn.Sequential(*_conv_bn(cin, cin, 3, 2, groups=cin),
                                      *_conv_bn(cin, cout, 1))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv2(self.dwconv2(self.dwconv1(self.conv1(x))))
        return self.relu(y + self.shortcut(x))


class SegmentBranch(nn.Module):
    """Narrow, deep semantic path down to 1/32; returns every stage for the auxiliary heads."""

    def __init__(self) -> None:
        super().__init__()
        self.S1S2 = StemBlock()
        self.S3 = nn.Sequential(GELayerS2(16, 32), GELayerS1(32, 32))
        self.S4 = nn.Sequential(GELayerS2(32, 64), GELayerS1(64, 64))
        self.S5_4 = nn.Sequential(GELayerS2(64, 128), GELayerS1(128, 128), GELayerS1(128, 128),
                                  GELayerS1(128, 128))
        self.S5_5 = CEBlock()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        f2 = self.S1S2(x)
        f3 = self.S3(f2)
        f4 = self.S4(f3)
        f5_4 = self.S5_4(f4)
        return f2, f3, f4, f5_4, self.S5_5(f5_4)


class BGALayer(nn.Module):
    """Bilateral guided aggregation of the detail (1/8) and semantic (1/32) features."""

    def __init__(self) -> None:
        super().__init__()
        self.left1 = nn.Sequential(*_conv_bn(128, 128, 3, 1, groups=128),
                                   nn.Conv2d(128, 128, 1, bias=False))
        self.left2 = nn.Sequential(*_conv_bn(128, 128, 3, 2), nn.AvgPool2d(3, 2, 1))
        self.right1 = nn.Sequential(*_conv_bn(128, 128, 3, 1))
        self.right2 = nn.Sequential(*_conv_bn(128, 128, 3, 1, groups=128),
                                    nn.Conv2d(128, 128, 1, bias=False))
        self.conv = nn.Sequential(*_conv_bn(128, 128, 3, 1), nn.ReLU(inplace=True))

    def forward(self, x_d: torch.Tensor, x_s: torch.Tensor) -> torch.Tensor:
        # The reference up-samples with nn.Upsample(scale_factor=4), i.e. nearest neighbour.
        left = self.left1(x_d) * torch.sigmoid(
            F.interpolate(self.right1(x_s), scale_factor=4.0, mode='nearest'))
        right = self.left2(x_d) * torch.sigmoid(self.right2(x_s))
        right = F.interpolate(right, scale_factor=4.0, mode='nearest')
        return self.conv(left + right)


class SegmentHead(nn.Module):
    """Classifier head; ``aux`` heads carry an extra 2x nearest up-sample + conv (index 0)."""

    def __init__(self, cin: int, mid: int, n_classes: int, up_factor: int = 8,
                 aux: bool = True) -> None:
        super().__init__()
        self.conv = ConvBNReLU(cin, mid)
        self.drop = nn.Dropout(0.1)
        self.up_factor = up_factor
        mid2 = up_factor * up_factor if aux else mid
        pre = (nn.Sequential(nn.Upsample(scale_factor=2), ConvBNReLU(mid, mid2)) if aux
               else nn.Identity())
        self.conv_out = nn.Sequential(
            pre, nn.Conv2d(mid2, n_classes, 1, bias=True),
            nn.Upsample(scale_factor=up_factor // 2 if aux else up_factor, mode='bilinear',
                        align_corners=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_out(self.drop(self.conv(x)))


class BiSeNetV2(nn.Module):
    """
    BiSeNetV2 returning full-resolution logits ``(N, n_classes, H, W)``; H, W multiples of 32.

    ``aux=True`` builds the training heads so the released checkpoints load with
    ``strict=True``; they take no part in ``forward`` (and so not in an exported graph).
    """

    def __init__(self, n_classes: int = 19, aux: bool = True) -> None:
        super().__init__()
        self.detail = DetailBranch()
        self.segment = SegmentBranch()
        self.bga = BGALayer()
        self.head = SegmentHead(128, 1024, n_classes, up_factor=8, aux=False)
        self.aux = aux
        if aux:
            self.aux2 = SegmentHead(16, 128, n_classes, up_factor=4)
            self.aux3 = SegmentHead(32, 128, n_classes, up_factor=8)
            self.aux4 = SegmentHead(64, 128, n_classes, up_factor=16)
            self.aux5_4 = SegmentHead(128, 128, n_classes, up_factor=32)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat_s = self.segment(x)[-1]
        return self.head(self.bga(self.detail(x), feat_s))


def inference_parameter_count(model: BiSeNetV2) -> int:
    """Count the learnable parameters that run at inference (the auxiliary heads excluded)."""
    return sum(p.numel() for n, p in model.named_parameters() if not n.startswith('aux'))


def bisenetv2(n_classes: int = 19, aux: bool = True) -> BiSeNetV2:
    """Build BiSeNetV2 (zoo factory), by default with the aux heads the released files hold."""
    return BiSeNetV2(n_classes, aux=aux)


def load_state_dict(model: BiSeNetV2, state: dict) -> None:
    """
    Load a CoinCheung checkpoint strictly, with or without its auxiliary heads.

    Files saved by ``tools/train_amp.py`` hold the heads; a file the user trimmed (or saved from
    an ``aux_mode='eval'`` net) does not, and then only the heads are left as they were.
    """
    state = checkpoints.strip_module_prefix(state)
    has_aux = any(k.startswith('aux') for k in state)
    if not has_aux and model.aux:
        for name in ('aux2', 'aux3', 'aux4', 'aux5_4'):
            delattr(model, name)
        model.aux = False
    model.load_state_dict(state, strict=True)


def load_checkpoint(model: BiSeNetV2, path: str) -> BiSeNetV2:
    """Load a released ``.pth`` state_dict file strictly (see :func:`load_state_dict`); eval."""
    try:
        load_state_dict(model, torch.load(str(path), map_location='cpu', weights_only=True))
    except (RuntimeError, ValueError, OSError) as exc:
        raise ValueError(f'{path}: weights do not fit {type(model).__name__} ({exc})') from exc
    return model.eval()
