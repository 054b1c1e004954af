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
Float BiSeNetV2 weights rebuilt from an int8 TorchScript checkpoint (PyTorch eager quantization).

The one trained BiSeNetV2 this project can ship a recipe for is KangneoungLee/bisenet_ros's
``bisenetv2_jit_calimg_1500.pt``: CoinCheung's BiSeNetV2 (25 RUGD classes, no auxiliary heads),
statically quantized with fbgemm and saved as frozen TorchScript. The file has no state_dict:
the weights live in the graph as constants. Reading them:

- every ``quantized::conv2d`` holds packed params; ``unpack()`` gives the int8 weight (with its
  scale and zero point, so ``dequantize()`` is exact) and a float bias (zero except the
  classifier's, which has a real bias);
- every ``quantized::batch_norm2d`` holds float weight, bias, running mean and variance and eps.
  The quantizer kept the BNs as their own ops (it did not fold them into the convs), so they map
  one to one onto our BNs. Were a conv bias non-zero in front of a BN, it is carried through
  the BN as a shift of its running mean (``BN(conv + b) = BN'(conv)`` with ``mean' = mean - b``),
  since our convs before a BN have no bias, as in the reference.

The graph is walked in execution order, which for this network is CoinCheung's module
definition order (detail branch, segment branch, BGA left1/left2/right1/right2/conv, head), so
the n-th conv of the graph is the n-th ``Conv2d`` of :class:`BiSeNetV2` in ``named_modules``
order; every pair is checked (shape, stride, padding, groups) before anything is copied, and the
result loads with ``strict=True`` into the inference-time module (``aux=False``).
"""
from __future__ import annotations

from typing import Any, cast

from seg_ros.zoo.networks.bisenetv2 import BiSeNetV2
import torch
from torch import nn


class ConversionError(ValueError):
    """The TorchScript file does not match our BiSeNetV2; the message says where."""


def _constant(value: Any) -> Any:
    ivalue = value.toIValue()
    if ivalue is None:
        raise ConversionError(f'expected a constant for {value.debugName()}, got a computed '
                              'value; is this a frozen quantized TorchScript file?')
    return ivalue


def read_quantized(path: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Return the float conv and BN parameters of a quantized TorchScript file, in graph order."""
    module = torch.jit.load(str(path), map_location='cpu')
    convs: list[dict[str, Any]] = []
    bns: list[dict[str, Any]] = []
    for node in module.graph.nodes():
        if node.kind() == 'quantized::conv2d':
            packed = _constant(node.inputsAt(1))
            weight, bias = packed.unpack()
            convs.append({'weight': weight.dequantize().float(),
                          'bias': None if bias is None else bias.detach().float(),
                          'stride': tuple(packed.stride()), 'padding': tuple(packed.padding()),
                          'dilation': tuple(packed.dilation()), 'groups': int(packed.groups()),
                          'output': node.outputsAt(0)})
        elif node.kind() == 'quantized::batch_norm2d':
            inputs = list(node.inputs())
            weight, bias, mean, var = (_constant(v).detach().float() for v in inputs[1:5])
            bns.append({'weight': weight, 'bias': bias, 'mean': mean, 'var': var,
                        'eps': float(_constant(inputs[5])), 'input': inputs[0]})
    if not convs:
        raise ConversionError(f'{path}: no quantized::conv2d in the graph; not an eager-mode '
                              'quantized TorchScript model')
    return convs, bns


def _layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(n, m) for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.BatchNorm2d))]


def float_state_dict(path: str, n_classes: int = 25) -> dict[str, torch.Tensor]:
    """
    Return a state_dict for ``BiSeNetV2(n_classes, aux=False)`` rebuilt from ``path``.

    Raises ConversionError naming the first layer whose shape, stride or groups differ.
    """
    convs, bns = read_quantized(path)
    model = BiSeNetV2(n_classes, aux=False)
    layers = _layers(model)
    our_convs = [(n, m) for n, m in layers if isinstance(m, nn.Conv2d)]
    our_bns = [(n, m) for n, m in layers if isinstance(m, nn.BatchNorm2d)]
    if len(our_convs) != len(convs) or len(our_bns) != len(bns):
        raise ConversionError(
            f'{path}: {len(convs)} convs and {len(bns)} BNs, our BiSeNetV2 has '
            f'{len(our_convs)} and {len(our_bns)}: a different architecture')
    state = {k: v.clone() for k, v in model.state_dict().items()}
    # Which BN reads which conv's output: the conv bias is carried through that BN.
    bn_of_conv = {id(c['output']): b for c in convs for b in bns if b['input'] is c['output']}
    shifts: dict[int, torch.Tensor] = {}
    for (name, conv), src in zip(our_convs, convs):
        want = (tuple(conv.weight.shape), tuple(conv.stride), tuple(conv.padding),
                tuple(conv.dilation), conv.groups)
        got = (tuple(src['weight'].shape), src['stride'], src['padding'], src['dilation'],
               src['groups'])
        if want != got:
            raise ConversionError(f'{path}: conv {name} is (shape, stride, padding, dilation, '
                                  f'groups) {want} here but {got} in the checkpoint')
        state[f'{name}.weight'] = src['weight']
        bias = src['bias']
        if conv.bias is not None:
            state[f'{name}.bias'] = bias if bias is not None else torch.zeros(conv.out_channels)
        elif bias is not None and bool(bias.abs().max() > 0):
            bn = bn_of_conv.get(id(src['output']))
            if bn is None:
                raise ConversionError(f'{path}: conv {name} has a bias in the checkpoint but '
                                      'neither a bias nor a following BN here')
            shifts[id(bn['input'])] = bias
    for (name, ours), src in zip(our_bns, bns):
        if ours.num_features != src['weight'].numel() or abs(ours.eps - src['eps']) > 1e-9:
            raise ConversionError(f'{path}: BN {name} has {ours.num_features} features (eps '
                                  f'{ours.eps}) here, {src["weight"].numel()} (eps {src["eps"]}) '
                                  'in the checkpoint')
        mean = src['mean'] - shifts.get(id(src['input']), 0.0)
        state[f'{name}.weight'], state[f'{name}.bias'] = src['weight'], src['bias']
        state[f'{name}.running_mean'], state[f'{name}.running_var'] = mean, src['var']
    return state


def bisenetv2_rugd(n_classes: int = 25) -> BiSeNetV2:
    """Build the inference-time BiSeNetV2 (no auxiliary heads) the RUGD weights fill (zoo)."""
    return BiSeNetV2(n_classes, aux=False)


def load_checkpoint(model: BiSeNetV2, path: str) -> BiSeNetV2:
    """Fill ``model`` strictly with the float weights rebuilt from the int8 TorchScript file."""
    try:
        classifier = cast(nn.Conv2d, model.head.conv_out[1])
        state = float_state_dict(path, classifier.out_channels)
        model.load_state_dict(state, strict=True)
    except (ConversionError, RuntimeError, OSError) as exc:
        raise ValueError(f'{path}: cannot rebuild BiSeNetV2 weights ({exc})') from exc
    return model.eval()
