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
Foreign segmentation models as their users export them, for the ``seg-ros wrap`` tests.

Real architectures from their own libraries (torchvision's DeepLabV3 and LR-ASPP, Hugging Face's
SegFormer-B0 built from a config), untrained, exported with PyTorch's ONNX exporter the way
their documentation does it, at small sizes so the suite stays fast. Untrained networks answer
nearly the same class everywhere, which would make a label-agreement check pass for the wrong
reason, so the batch-norm statistics are set from one forward pass (momentum 1): every layer
then sees normalised, spatially varying activations and the labels vary across the frame.

Also: the zoo's ESPNet without the contract wrapper (float BGR-normalised NCHW in, logits out),
and tiny graphs written with ``onnx.helper`` for the cases the libraries do not produce.
"""
from __future__ import annotations

import sys
from typing import Any, Callable, Optional
import warnings

import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto

NET_H, NET_W = 64, 96          # network input of the torchvision exports
SEGFORMER_SIZE = 64            # SegFormer runs at 64x64 (logits 16x16)
_TORCHVISION_OPS: Optional[Any] = None


def import_torchvision() -> Any:
    """
    Import torchvision next to the CPU build of torch.

    PyPI's torchvision wheel is built against the CUDA build of torch, so with the CPU build its
    C++ operators (nms, roi_align, ...) do not load and ``import torchvision`` fails while
    registering a fake kernel for ``torchvision::nms``. The segmentation models use none of
    those operators: declaring the two schemas it registers fakes for lets the pure-Python
    models import, and anything that really needs the C++ operators still fails loudly.
    """
    global _TORCHVISION_OPS
    try:
        import torchvision
        return torchvision
    except RuntimeError as exc:
        if 'torchvision::nms' not in str(exc):
            raise
    import torch

    for name in [m for m in sys.modules if m == 'torchvision' or m.startswith('torchvision.')]:
        del sys.modules[name]
    _TORCHVISION_OPS = torch.library.Library('torchvision', 'DEF')
    for op in ('nms', 'qnms'):
        _TORCHVISION_OPS.define(f'{op}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor')
    import torchvision
    return torchvision


def _vary(net: Any, size: tuple[int, int], seed: int = 0) -> Any:
    """Set batch-norm statistics from random inputs (see the module doc); eval mode."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    x = torch.rand(2, 3, *size, generator=gen) * 4 - 2
    for m in net.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.momentum = 1.0
    net.train()
    with torch.no_grad():
        net(x)
    return net.eval()


def _export(module: Any, path: str, size: tuple[int, int], inputs: list[str],
            outputs: list[str], opset: int = 17,
            dynamic_axes: Optional[dict[str, dict[int, str]]] = None) -> str:
    import torch

    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter('ignore')   # the TorchScript exporter's deprecation notice
        # Constant folding is off only to keep the suite fast; it changes no outputs.
        torch.onnx.export(module, (torch.zeros(1, 3, *size),), path, input_names=inputs,
                          output_names=outputs, opset_version=opset, dynamo=False,
                          do_constant_folding=False, dynamic_axes=dynamic_axes)
    return path


def _picked(net: Any, pick: Callable[[Any], Any]) -> Any:
    """Wrap ``net`` so its dict or dataclass output becomes the tensors its users export."""
    import torch

    class Picked(torch.nn.Module):

        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, x: Any) -> Any:
            return pick(self.net(x))

    return Picked().eval()


def deeplabv3(path: str) -> str:
    """Export torchvision's DeepLabV3-MobileNetV3 with its aux head (``out``, ``aux``)."""
    import torch

    models = import_torchvision().models.segmentation
    torch.manual_seed(0)
    net = _vary(models.deeplabv3_mobilenet_v3_large(weights=None, weights_backbone=None,
                                                    aux_loss=True, num_classes=19),
                (NET_H, NET_W))
    module = _picked(net, lambda o: (o['out'], o['aux']))
    return _export(module, path, (NET_H, NET_W), ['input'], ['out', 'aux'])


def lraspp_dynamic(path: str) -> str:
    """Export torchvision's LR-ASPP-MobileNetV3, 12 classes, dynamic batch, height, width."""
    import torch

    models = import_torchvision().models.segmentation
    torch.manual_seed(1)
    net = _vary(models.lraspp_mobilenet_v3_large(weights=None, weights_backbone=None,
                                                 num_classes=12), (NET_H, NET_W))
    dyn = {0: 'batch', 2: 'height', 3: 'width'}
    return _export(_picked(net, lambda o: o['out']), path, (NET_H, NET_W), ['input'], ['out'],
                   dynamic_axes={'input': dyn, 'out': dyn})


def lraspp_argmax(path: str) -> str:
    """Export LR-ASPP with its argmax (as PaddleSeg and mmdeploy can): int64 [1, 1, h, w]."""
    import torch

    models = import_torchvision().models.segmentation
    torch.manual_seed(2)
    net = _vary(models.lraspp_mobilenet_v3_large(weights=None, weights_backbone=None,
                                                 num_classes=12), (NET_H, NET_W))
    return _export(_picked(net, lambda o: o['out'].argmax(1, keepdim=True)), path,
                   (NET_H, NET_W), ['x'], ['label_map'])


def _segformer_config() -> Any:
    from transformers import SegformerConfig

    from seg_ros.zoo.datasets.ade20k import ADE20K_CLASSES

    # B0 is the config's default; 150 ADE20K labels as nvidia/segformer-b0-finetuned-ade-512-512
    return SegformerConfig(num_labels=150, id2label=dict(enumerate(ADE20K_CLASSES)),
                           label2id={n: i for i, n in enumerate(ADE20K_CLASSES)})


def segformer_config(path: str) -> str:
    """Write the model's config.json as ``save_pretrained`` does (``id2label``: ADE20K names)."""
    _segformer_config().to_json_file(path)
    return path


def segformer_b0(path: str) -> str:
    """
    Export Hugging Face's SegFormer-B0 (150 ADE20K classes) as optimum does it.

    ``pixel_values`` -> ``logits`` at a quarter of the input size, opset 14, every axis
    dynamic but the channels'.
    """
    import torch
    from transformers import SegformerForSemanticSegmentation

    torch.manual_seed(3)
    net = SegformerForSemanticSegmentation(_segformer_config()).eval()
    size = (SEGFORMER_SIZE, SEGFORMER_SIZE)
    return _export(_picked(net, lambda o: o.logits), path, size, ['pixel_values'], ['logits'],
                   opset=14, dynamic_axes={
                       'pixel_values': {0: 'batch_size', 1: 'num_channels', 2: 'height',
                                        3: 'width'},
                       'logits': {0: 'batch_size', 1: 'num_labels', 2: 'height', 3: 'width'}})


def espnet_bare(path: str, weights: str) -> str:
    """Export the zoo's ESPNet (CamVid weights) without the contract wrapper, at 480x360."""
    from seg_ros.zoo.export import build_network

    net = build_network('espnet_camvid', weights)
    return _export(net, path, (360, 480), ['input'], ['output'])


# ---------------------------------------------------------------------------------------------
# Small graphs written by hand, for the cases no library export gives.

def conv_net(inputs: Optional[list[onnx.ValueInfoProto]] = None,
             output: Optional[onnx.ValueInfoProto] = None, opset: int = 17, classes: int = 5,
             size: tuple[int, int] = (32, 48), dtype: int = TensorProto.FLOAT,
             tail: str = 'logits') -> onnx.ModelProto:
    """
    Return a two-conv stride-4 network ``x`` [1, 3, h, w] -> ``y`` logits [1, C, h/4, w/4].

    ``tail='argmax'`` ends it with ArgMax (int64 [1, h/4, w/4]), ``'argmax_int32'`` also casts
    to int32 with a dynamic batch (PaddleSeg's form); ``inputs``/``output`` replace
    the declared I/O to make the shapes the refusal tests need.
    """
    rng = np.random.default_rng(7)
    npt = np.float16 if dtype == TensorProto.FLOAT16 else np.float32
    w1 = numpy_helper.from_array(rng.normal(0, 0.5, (8, 3, 3, 3)).astype(npt), 'w1')
    w2 = numpy_helper.from_array(rng.normal(0, 0.5, (classes, 8, 3, 3)).astype(npt), 'w2')
    nodes = [helper.make_node('Conv', ['x', 'w1'], ['a'], strides=[2, 2], pads=[1, 1, 1, 1]),
             helper.make_node('Relu', ['a'], ['b']),
             helper.make_node('Conv', ['b', 'w2'], ['y' if tail == 'logits' else 'z'],
                              strides=[2, 2], pads=[1, 1, 1, 1])]
    h, w = size
    oh, ow = (h + 3) // 4, (w + 3) // 4
    if tail == 'argmax':
        nodes.append(helper.make_node('ArgMax', ['z'], ['y'], axis=1, keepdims=0))
        default_out = helper.make_tensor_value_info('y', TensorProto.INT64, [1, oh, ow])
    elif tail == 'argmax_int32':   # PaddleSeg's export: int32 [N, H, W]
        nodes += [helper.make_node('ArgMax', ['z'], ['i'], axis=1, keepdims=0),
                  helper.make_node('Cast', ['i'], ['y'], to=TensorProto.INT32)]
        default_out = helper.make_tensor_value_info('y', TensorProto.INT32, ['n', oh, ow])
    else:
        default_out = helper.make_tensor_value_info('y', dtype, [1, classes, oh, ow])
    graph = helper.make_graph(
        nodes, 'conv_net',
        inputs or [helper.make_tensor_value_info('x', dtype, [1, 3, h, w])],
        [output or default_out], initializer=[w1, w2])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', opset)],
                              producer_name='handwritten')
    model.ir_version = 8
    return model
