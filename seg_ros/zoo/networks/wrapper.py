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
Wrap any segmentation network into the seg_ros contract (uint8 RGB frame in, class ids out).

The wrapped network only has to take normalised float NCHW at its own input size and return
class logits NCHW at any resolution. Everything else runs inside the exported graph, so ONNX
Runtime and a TensorRT engine built from it do the same arithmetic on the same device:

``image`` uint8 [1, H, W, 3] -> Cast to float (first: TensorRT allows uint8 only at the graph's
edges) -> NCHW -> bilinear resize to the network size -> one 1x1 conv that does channel order
and normalisation together -> network -> bilinear resize of the logits to H x W -> ArgMax ->
Cast to float -> ``labels`` uint8 [1, H, W] (Cast last), and optionally ``confidence`` = max
softmax (see :func:`max_softmax` for why it is not a Softmax node).

Why normalisation comes after the resize: both are linear per channel, so the order does not
change the result, but a camera frame is usually larger than the network input, and normalising
the smaller tensor is cheaper. Folding channel order, mean, std and scale into a single 1x1 conv
keeps it to one fused kernel on every runtime (no Gather/Slice for the channel flip).

Reading H and W from the float tensor rather than from the uint8 input keeps the uint8 tensor's
only consumer the Cast. Because the network always runs at one fixed size, every shape inside
it is static when traced (adaptive pooling with non-divisible sizes, for instance, exports as
plain pooling); only the first and last resize depend on the frame.

Wrapping another network (load its weights first; adapt outputs that are not a plain tensor)::

    net = MyNet(num_classes=19)
    net.load_state_dict(torch.load(path, map_location='cpu'), strict=True)
    model = wrap(net, input_size=(512, 1024), normalization=Normalization.imagenet())
    labels, confidence = model(torch.from_numpy(rgb)[None])   # rgb: (H, W, 3) uint8

then register a :class:`seg_ros.zoo.ZooEntry` so ``seg-ros export`` knows it.
"""
from __future__ import annotations

from typing import Optional, Sequence, Union

from seg_ros.zoo.networks import Normalization
import torch
from torch import nn
import torch.nn.functional as F

__all__ = ['ContractWrapper', 'Normalization']


class ContractWrapper(nn.Module):
    """
    ``forward(image uint8 [1, H, W, 3] RGB)`` -> ``labels`` uint8 [1, H, W] (+ ``confidence``).

    ``net`` maps normalised float ``(1, 3, h, w)`` at ``input_size = (h, w)`` to logits
    ``(1, C, h', w')``; ``h'``, ``w'`` may differ from ``h``, ``w`` (stride-8 heads, for
    example), since the logits are resized to the frame size anyway. Load the weights before
    wrapping: with ``fast_prelu`` the net's PReLUs are swapped for :class:`SplitPReLU`.
    """

    norm_weight: torch.Tensor
    norm_bias: torch.Tensor

    def __init__(self, net: nn.Module, input_size: Sequence[int],
                 normalization: Normalization, confidence: bool = True,
                 align_corners: bool = False, fast_prelu: bool = True) -> None:
        super().__init__()
        if len(input_size) != 2 or min(input_size) < 1:
            raise ValueError(f'input_size must be (height, width), got {input_size}')
        self.net = split_prelus(net) if fast_prelu else net
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.normalization = normalization
        self.confidence = confidence
        self.align_corners = align_corners
        gain, offset = normalization.affine()
        weight = torch.zeros(3, 3, 1, 1)
        for c in range(3):  # network channel c reads RGB channel 2 - c when the net wants BGR
            weight[c, 2 - c if normalization.bgr else c, 0, 0] = gain[c]
        self.register_buffer('norm_weight', weight)
        self.register_buffer('norm_bias', torch.tensor(offset, dtype=torch.float32))

    def preprocess(self, image: torch.Tensor) -> torch.Tensor:
        """Return the network input for a uint8 NHWC RGB frame (float NCHW at input_size)."""
        x = image.to(torch.float32).permute(0, 3, 1, 2)
        x = F.interpolate(x, size=self.input_size, mode='bilinear',
                          align_corners=self.align_corners)
        return F.conv2d(x, self.norm_weight, self.norm_bias)

    def logits(self, image: torch.Tensor) -> torch.Tensor:
        """Return float logits ``(1, C, H, W)`` at the frame's own size."""
        x = image.to(torch.float32)
        size = (x.shape[1], x.shape[2])
        out = self.net(self.preprocess(x))
        return F.interpolate(out, size=size, mode='bilinear', align_corners=self.align_corners)

    def forward(self, image: torch.Tensor
                ) -> Union[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        scores = self.logits(image)
        # ArgMax -> Cast(FLOAT) -> Cast(UINT8): TensorRT documents uint8 casts from float, not
        # from int32/int64 (its headers and its operator table disagree on the latter).
        labels = scores.argmax(dim=1).to(torch.float32).to(torch.uint8)
        if not self.confidence:
            return labels
        return labels, max_softmax(scores)

    def output_names(self) -> list[str]:
        """Return the ONNX output names in forward's order."""
        return ['labels', 'confidence'] if self.confidence else ['labels']


class SplitPReLU(nn.Module):
    """
    PReLU as ``relu(x) + slope * min(x, 0)``: the same function, in ops every runtime fuses.

    ONNX Runtime's CPU PRelu kernel broadcasts the per-channel slope through a generic path:
    measured at 64 x 180 x 240 on one thread, 25.6 ms for PRelu against 3.0 ms for this form
    (TensorRT fuses either into one pointwise kernel). The slope tensor is shared with the
    original module, so no weights are copied or changed.
    """

    def __init__(self, prelu: nn.PReLU) -> None:
        super().__init__()
        self.weight = prelu.weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        slope = self.weight.reshape(1, -1, *([1] * (x.dim() - 2)))
        return torch.relu(x) + slope * torch.clamp(x, max=0.0)


def split_prelus(net: nn.Module) -> nn.Module:
    """Replace every ``nn.PReLU`` in ``net`` by :class:`SplitPReLU` (in place; after loading)."""
    for name, child in net.named_children():
        if isinstance(child, nn.PReLU):
            setattr(net, name, SplitPReLU(child))
        else:
            split_prelus(child)
    return net


def max_softmax(logits: torch.Tensor) -> torch.Tensor:
    """
    Return the largest softmax probability over dim 1, as ``1 / sum(exp(l - max l))``.

    Same value as ``softmax(l, 1).amax(1)``, but ONNX Runtime runs a Softmax over a non-last
    axis through two transposes: measured at 12 x 360 x 480 on one CPU thread, 63 ms for
    Softmax + ReduceMax against 5.5 ms for these five element-wise/reduce ops.
    """
    top = logits.amax(dim=1, keepdim=True)
    return 1.0 / torch.exp(logits - top).sum(dim=1)


def wrap(net: nn.Module, input_size: Sequence[int], normalization: Normalization,
         confidence: bool = True, align_corners: Optional[bool] = None,
         fast_prelu: bool = True) -> ContractWrapper:
    """Build a :class:`ContractWrapper` in eval mode (batch norm statistics frozen)."""
    return ContractWrapper(net, input_size, normalization, confidence,
                           bool(align_corners), fast_prelu).eval()
