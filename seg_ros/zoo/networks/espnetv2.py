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
ESPNetv2 segmentation (EESPNet encoder + efficient pyramid-pool decoder) with an exportable pool.

Module names follow sacmehta/EdgeNets @ 2b232d3 (``model/segmentation/espnetv2.py`` and
``nn_layers/{eesp,espnet_utils,cnn_utils,efficient_pyramid_pool,efficient_pt}.py``), so the
released ``espnetv2_s_2.0_city_1024x512.pth`` loads with ``strict=True``.

The reference pools with ``adaptive_avg_pool2d`` to sizes that rarely divide the input (a
pyramid level at 1.5x is pooled back to 1x, levels at 0.5x and 0.1x pool down). The TorchScript
ONNX exporter refuses that, and TensorRT has no adaptive pooling. :func:`adaptive_avg_pool2d`
here gives the same numbers with ops every runtime has: a plain ``AvgPool`` when the sizes divide,
otherwise, axis by axis (adaptive average pooling is separable: each output cell is the mean of
a rectangle ``rows[i] x cols[j]``), a weighted sum of shifted Gathers or a MatMul with a constant
averaging matrix. Indices, weights and matrices depend only on the shapes, which are fixed once
the network input size is chosen for export.
"""
from __future__ import annotations

import math

import numpy as np
from seg_ros.zoo.networks import checkpoints
import torch
from torch import nn
import torch.nn.functional as F

# EdgeNets model/classification/espnetv2_config.py
CHANNELS = {0.5: (16, 32, 64, 128, 256, 1024), 1.0: (32, 64, 128, 256, 512, 1024),
            1.25: (32, 80, 160, 320, 640, 1024), 1.5: (32, 96, 192, 384, 768, 1024),
            2.0: (32, 128, 256, 512, 1024, 1280)}
REPS = (0, 3, 7, 3)
RECEPTIVE_LIMIT = (13, 11, 9, 7, 5)
BRANCHES = 4
INPUT_REINFORCEMENT_CHANNELS = 3


def pool_bins(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the [start, end) input range of every adaptive-pool output cell along one axis."""
    i = np.arange(n_out)
    return (i * n_in) // n_out, -((-(i + 1) * n_in) // n_out)  # floor, ceil


def pool_matrix(n_in: int, n_out: int) -> np.ndarray:
    """
    Return the (n_out, n_in) matrix whose row i averages adaptive-pool bin i.

    Built in NumPy so an exporter sees one constant, not the ops that would fill it.
    """
    m = np.zeros((n_out, n_in), np.float32)
    for i, (start, end) in enumerate(zip(*pool_bins(n_in, n_out))):
        m[i, start:end] = 1.0 / (end - start)
    return m


# Bins at most this wide are summed from shifted Gathers; wider ones use a MatMul. A 1.5x
# pyramid level pooled back has 2-wide bins on maps of up to 768 cells: as a MatMul that would be
# O(n^2) (about 1.7 GMAC at 1024x512 input, more than the rest of the network), as Gathers O(n).
MAX_GATHER_WIDTH = 4


def _pool_axis(x: torch.Tensor, axis: int, n_out: int) -> torch.Tensor:
    """Adaptive average pooling of ``x`` along ``axis`` (2 or 3) with static, exportable ops."""
    n_in = int(x.shape[axis])
    if n_in == n_out:
        return x
    if n_in % n_out == 0:
        k = n_in // n_out
        kernel = (k, 1) if axis == 2 else (1, k)
        return F.avg_pool2d(x, kernel, kernel)
    starts, ends = pool_bins(n_in, n_out)
    widths = ends - starts
    shape = [1, 1, 1, 1]
    shape[axis] = n_out
    if widths.max() <= MAX_GATHER_WIDTH:
        terms = []
        for j in range(int(widths.max())):
            index = torch.from_numpy(np.minimum(starts + j, n_in - 1).astype(np.int64))
            weight = np.where(starts + j < ends, 1.0 / widths, 0.0).astype(np.float32)
            terms.append(torch.index_select(x, axis, index) * torch.from_numpy(
                weight.reshape(shape)).to(x.dtype))
        out = terms[0]
        for term in terms[1:]:
            out = out + term
        return out
    m = torch.from_numpy(pool_matrix(n_in, n_out)).to(x.dtype)
    return torch.matmul(m, x) if axis == 2 else torch.matmul(x, m.t())


def adaptive_avg_pool2d(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """
    Average-pool to ``size`` exactly as PyTorch's adaptive pool does, with exportable ops.

    Adaptive average pooling is separable, so each axis is pooled on its own: AvgPool when the
    sizes divide, else a weighted sum of a few shifted Gathers (narrow bins) or a MatMul with a
    constant averaging matrix (wide bins on small maps).
    """
    h_in, w_in = int(x.shape[2]), int(x.shape[3])
    h_out, w_out = int(size[0]), int(size[1])
    if h_in % h_out == 0 and w_in % w_out == 0:
        kh, kw = h_in // h_out, w_in // w_out
        if kh == 1 and kw == 1:
            return x
        return F.avg_pool2d(x, (kh, kw), (kh, kw))
    return _pool_axis(_pool_axis(x, 2, h_out), 3, w_out)


# --- building blocks; class and attribute names are state_dict keys --------------------------

class CBR(nn.Module):
    """Conv → BN → PReLU with ``conv``/``bn``/``act`` names (EdgeNets ``espnet_utils.CBR``)."""

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, groups: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, bias=False, groups=groups)
        self.bn = nn.BatchNorm2d(cout)
        self.act = nn.PReLU(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class CB(nn.Module):
    """Conv → BN (``espnet_utils.CB``)."""

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, groups: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, bias=False, groups=groups)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x))


class BR(nn.Module):
    """BN → PReLU (``espnet_utils.BR``)."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(c)
        self.act = nn.PReLU(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(x))


class CDilated(nn.Module):
    """Dilated depthwise conv with a ``conv`` child (``espnet_utils.CDilated``)."""

    def __init__(self, c: int, stride: int, d: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, stride, d, dilation=d, groups=c, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class SeqCBR(nn.Module):
    """Conv → BN → PReLU stored as ``cbr.0/1/2`` (the decoder's ``cnn_utils.CBR``)."""

    def __init__(self, cin: int, cout: int, k: int, groups: int = 1) -> None:
        super().__init__()
        self.cbr = nn.Sequential(nn.Conv2d(cin, cout, k, 1, (k - 1) // 2, bias=False,
                                           groups=groups),
                                 nn.BatchNorm2d(cout), nn.PReLU(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cbr(x)


class SeqBR(nn.Module):
    """BN → PReLU stored as ``br.0/1`` (``cnn_utils.BR``)."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.br = nn.Sequential(nn.BatchNorm2d(c), nn.PReLU(c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.br(x)


class Shuffle(nn.Module):
    """Channel shuffle across ``groups`` (reshape-transpose-reshape on static shapes)."""

    def __init__(self, groups: int) -> None:
        super().__init__()
        self.groups = groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        x = x.reshape(b, self.groups, c // self.groups, h, w).transpose(1, 2)
        return x.reshape(b, c, h, w)


class EESP(nn.Module):
    """Reduce → split into dilated depthwise branches → hierarchical fusion → expand."""

    def __init__(self, cin: int, cout: int, stride: int = 1, k: int = 4, r_lim: int = 7,
                 down_avg: bool = False) -> None:
        super().__init__()
        self.stride = stride
        n = cout // k
        if n * k != cout:
            raise ValueError(f'EESP: {cout} output channels do not split into {k} branches')
        self.proj_1x1 = CBR(cin, n, 1, 1, groups=k)
        ksizes = sorted(3 + 2 * i if 3 + 2 * i <= r_lim else 3 for i in range(k))
        self.spp_dw = nn.ModuleList(CDilated(n, stride, (ks - 1) // 2) for ks in ksizes)
        self.conv_1x1_exp = CB(cout, cout, 1, 1, groups=k)
        self.br_after_cat = BR(cout)
        self.module_act = nn.PReLU(cout)
        self.down_avg = down_avg

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.proj_1x1(x)
        outs = [self.spp_dw[0](y)]
        for branch in self.spp_dw[1:]:
            outs.append(branch(y) + outs[-1])
        out = self.conv_1x1_exp(self.br_after_cat(torch.cat(outs, 1)))
        if self.stride == 2 and self.down_avg:
            return out
        if out.shape == x.shape:
            out = out + x
        return self.module_act(out)


class DownSampler(nn.Module):
    """Strided EESP next to an average pool, plus the pooled input image (input reinforcement)."""

    def __init__(self, cin: int, cout: int, k: int, r_lim: int, reinf: bool = True) -> None:
        super().__init__()
        self.eesp = EESP(cin, cout - cin, 2, k, r_lim, down_avg=True)
        self.avg = nn.AvgPool2d(3, 2, 1)
        if reinf:
            c = INPUT_REINFORCEMENT_CHANNELS
            self.inp_reinf = nn.Sequential(CBR(c, c, 3, 1), CB(c, cout, 1, 1))
        self.act = nn.PReLU(cout)

    def forward(self, x: torch.Tensor, image: torch.Tensor | None = None) -> torch.Tensor:
        pooled = self.avg(x)
        out = torch.cat([pooled, self.eesp(x)], 1)
        if image is not None:
            while image.shape[2] != pooled.shape[2]:
                image = F.avg_pool2d(image, 3, 2, 1)
            out = out + self.inp_reinf(image)
        return self.act(out)


class EESPNet(nn.Module):
    """The encoder up to level 4 (level 5 and the classifier are deleted in the reference too)."""

    def __init__(self, s: float = 2.0) -> None:
        super().__init__()
        if s not in CHANNELS:
            raise ValueError(f'ESPNetv2: no width scale s={s}; choose one of {sorted(CHANNELS)}')
        ch = CHANNELS[s]
        k = BRANCHES
        rl = RECEPTIVE_LIMIT
        self.config = ch
        self.level1 = CBR(3, ch[0], 3, 2)
        self.level2_0 = DownSampler(ch[0], ch[1], k, rl[0])
        self.level3_0 = DownSampler(ch[1], ch[2], k, rl[1])
        self.level3 = nn.ModuleList(EESP(ch[2], ch[2], 1, k, rl[2]) for _ in range(REPS[1]))
        self.level4_0 = DownSampler(ch[2], ch[3], k, rl[2])
        self.level4 = nn.ModuleList(EESP(ch[3], ch[3], 1, k, rl[3]) for _ in range(REPS[2]))


class EfficientPyrPool(nn.Module):
    """Pyramid of depthwise convs at scales 2, 1.5, 1, 0.5, 0.1 of the feature map, merged."""

    SCALES = (2.0, 1.5, 1.0, 0.5, 0.1)

    def __init__(self, cin: int, proj: int, cout: int, last_layer_br: bool = True) -> None:
        super().__init__()
        n = len(self.SCALES)
        self.projection_layer = SeqCBR(cin, proj, 1)
        self.stages = nn.ModuleList(nn.Conv2d(proj, proj, 3, 1, 1, bias=False, groups=proj)
                                    for _ in range(n))
        self.merge_layer = nn.Sequential(SeqBR(proj * n), Shuffle(n),
                                         SeqCBR(proj * n, proj, 3, groups=proj),
                                         nn.Conv2d(proj, cout, 1, bias=not last_layer_br))
        if last_layer_br:
            self.br = SeqBR(cout)
        self.last_layer_br = last_layer_br

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.projection_layer(x)
        h, w = int(x.shape[2]), int(x.shape[3])
        outs = []
        for scale, stage in zip(self.SCALES, self.stages):
            hs, ws = max(5, math.ceil(h * scale)), max(5, math.ceil(w * scale))
            if scale < 1.0:
                y = stage(adaptive_avg_pool2d(x, (hs, ws)))
                y = F.interpolate(y, (h, w), mode='bilinear', align_corners=True)
            elif scale > 1.0:
                y = F.interpolate(x, (hs, ws), mode='bilinear', align_corners=True)
                y = adaptive_avg_pool2d(stage(y), (h, w))
            else:
                y = stage(x)
            outs.append(y)
        out = self.merge_layer(torch.cat(outs, 1))
        return self.br(out) if self.last_layer_br else out


class EfficientPWConv(nn.Module):
    """Grouped 3x3 expansion gated by a sigmoid of the globally averaged input."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        # index 0 of the reference is AdaptiveAvgPool2d(1): a parameter-free global mean.
        self.wt_layer = nn.Sequential(nn.Identity(), nn.Conv2d(cin, cout, 1, bias=False),
                                      nn.Sigmoid())
        self.expansion_layer = SeqCBR(cin, cout, 3, groups=math.gcd(cin, cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        wts = self.wt_layer(torch.mean(x, dim=(2, 3), keepdim=True))
        return self.expansion_layer(x) * wts


class ESPNetv2(nn.Module):
    """ESPNetv2 segmentation returning full-resolution logits ``(N, classes, H, W)``."""

    def __init__(self, classes: int = 20, s: float = 2.0, dec_base: int = 16) -> None:
        super().__init__()
        self.base_net = EESPNet(s)
        cfg = self.base_net.config
        dec = (4 * dec_base, 3 * dec_base, 2 * dec_base, classes)
        proj = min(classes // 2, dec_base)
        self.bu_dec_l1 = EfficientPyrPool(cfg[3], proj, dec[0])
        self.bu_dec_l2 = EfficientPyrPool(dec[0], proj, dec[1])
        self.bu_dec_l3 = EfficientPyrPool(dec[1], proj, dec[2])
        self.bu_dec_l4 = EfficientPyrPool(dec[2], proj, dec[3], last_layer_br=False)
        self.merge_enc_dec_l2 = EfficientPWConv(cfg[2], dec[0])
        self.merge_enc_dec_l3 = EfficientPWConv(cfg[1], dec[1])
        self.merge_enc_dec_l4 = EfficientPWConv(cfg[0], dec[2])
        self.bu_br_l2 = nn.Sequential(nn.BatchNorm2d(dec[0]), nn.PReLU(dec[0]))
        self.bu_br_l3 = nn.Sequential(nn.BatchNorm2d(dec[1]), nn.PReLU(dec[1]))
        self.bu_br_l4 = nn.Sequential(nn.BatchNorm2d(dec[2]), nn.PReLU(dec[2]))

    @staticmethod
    def _up(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        # Reference: scale_factor=2, align_corners=True. Sizing to the skip feature gives the
        # same grid whenever it is exactly 2x and stays defined for odd sizes.
        return F.interpolate(x, size=like.shape[2:], mode='bilinear', align_corners=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        enc = self.base_net
        l1 = enc.level1(x)
        l2 = enc.level2_0(l1, x)
        l3 = enc.level3_0(l2, x)
        for layer in enc.level3:
            l3 = layer(l3)
        l4 = enc.level4_0(l3, x)
        for layer in enc.level4:
            l4 = layer(l4)
        y = self.bu_dec_l1(l4)
        y = self.bu_dec_l2(self.bu_br_l2(self._up(y, l3) + self.merge_enc_dec_l2(l3)))
        y = self.bu_dec_l3(self.bu_br_l3(self._up(y, l2) + self.merge_enc_dec_l3(l2)))
        y = self.bu_dec_l4(self.bu_br_l4(self._up(y, l1) + self.merge_enc_dec_l4(l1)))
        return F.interpolate(y, size=x.shape[2:], mode='bilinear', align_corners=True)


def espnetv2(classes: int = 20, s: float = 2.0) -> ESPNetv2:
    """Build ESPNetv2 (zoo factory); Cityscapes: 19 train ids + background, ``s`` = 2.0."""
    return ESPNetv2(classes, s, dec_base=16)


def load_state_dict(model: ESPNetv2, state: dict) -> None:
    """Load an EdgeNets checkpoint strictly (a ``module.`` prefix from DataParallel is dropped)."""
    model.load_state_dict(checkpoints.strip_module_prefix(state), strict=True)
