"""
Wrap any segmentation network into the seg_ros contract (uint8 RGB frame in, class ids out).

The wrapped network only has to take normalised float NCHW at its own input size and return
class logits NCHW at any resolution. Everything else runs inside the exported graph, so ONNX
Runtime and a TensorRT engine built from it do the same arithmetic on the same device:

``image`` uint8 [1, H, W, 3] -> Cast to float (first: TensorRT allows uint8 only at the graph's
edges) -> NCHW -> bilinear resize to the network size -> one 1x1 conv that does channel order
and normalisation together -> network -> bilinear resize of the logits to H x W -> ArgMax ->
``labels`` uint8 [1, H, W] (Cast last), and optionally ``confidence`` = max softmax.

Why normalisation comes after the resize: both are linear per channel, so the order does not
change the result, but a camera frame is usually larger than the network input, and normalising
the smaller tensor is cheaper. Folding channel order, mean, std and scale into a single 1x1 conv
keeps it to one fused kernel on every runtime (no Gather/Slice for the channel flip).

Reading H and W from the float tensor rather than from the uint8 input keeps the uint8 tensor's
only consumer the Cast.
"""
from __future__ import annotations

from typing import Optional, Sequence

from seg_ros.models import Normalization
import torch
from torch import nn
import torch.nn.functional as F

__all__ = ['ContractWrapper', 'Normalization']


class ContractWrapper(nn.Module):
    """
    ``forward(image uint8 [1, H, W, 3] RGB)`` -> ``labels`` uint8 [1, H, W] (+ ``confidence``).

    ``net`` maps normalised float ``(1, 3, h, w)`` at ``input_size = (h, w)`` to logits
    ``(1, C, h', w')``; ``h'``, ``w'`` may differ from ``h``, ``w`` (stride-8 heads, for
    example), since the logits are resized to the frame size anyway.
    """

    def __init__(self, net: nn.Module, input_size: Sequence[int],
                 normalization: Normalization, confidence: bool = True,
                 align_corners: bool = False) -> None:
        super().__init__()
        if len(input_size) != 2 or min(input_size) < 1:
            raise ValueError(f'input_size must be (height, width), got {input_size}')
        self.net = net
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

    def forward(self, image: torch.Tensor):  # noqa: ANN201 (one or two tensors)
        scores = self.logits(image)
        labels = scores.argmax(dim=1).to(torch.uint8)
        if not self.confidence:
            return labels
        return labels, torch.softmax(scores, dim=1).amax(dim=1)

    def output_names(self) -> list[str]:
        """Return the ONNX output names in forward's order."""
        return ['labels', 'confidence'] if self.confidence else ['labels']


def wrap(net: nn.Module, input_size: Sequence[int], normalization: Normalization,
         confidence: bool = True, align_corners: Optional[bool] = None) -> ContractWrapper:
    """Build a :class:`ContractWrapper` in eval mode (batch norm statistics frozen)."""
    return ContractWrapper(net, input_size, normalization, confidence,
                           bool(align_corners)).eval()
