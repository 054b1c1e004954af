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
Typed FP16 and explicitly quantized INT8 versions of a float32 contract graph.

TensorRT 11 builds every network strongly typed: there is no FP16/INT8 builder flag any more, the
precision of each layer is the type the ONNX graph gives it. TensorRT 10 accepts the same graphs
(it honours Q/DQ nodes and float16 tensors), and so does ONNX Runtime, so one typed file serves
the Jetson (10.3 on JetPack 6) and newer TensorRT alike.

Both conversions leave the contract's edges in float32, where precision matters and the cost is
small: the *preprocessing* (uint8 ``Cast``, layout, the resize to the network size and the 1x1
normalisation conv: its input is 0..255, which int8 cannot hold without visible banding) and the
*postprocessing* (the resize of the logits to the frame size, ``ArgMax``, the label casts and the
confidence). Only the network between them changes type.

- FP16: onnxconverter-common's float16 converter with those nodes on its block list; it
  inserts the ``Cast`` nodes at the borders.
- INT8: ONNX Runtime's ``quantize_static`` in QDQ format, calibrated by running the user's frames
  through the graph itself (so the model's own resize and normalisation prepare them). The
  settings are the ones TensorRT's explicit quantization expects: signed int8 with zero point 0
  (symmetric) for activations and weights, per-channel weight scales, Q/DQ on the inputs of
  Conv/ConvTranspose/MatMul/Gemm (where TensorRT fuses them into int8 kernels), and the biases
  left in float (TensorRT dequantizes only int8/fp8/int4, not an int32 bias).
"""
from __future__ import annotations

import os
from pathlib import Path
import tempfile
from typing import Any, Iterable, Iterator, Optional, Sequence
import warnings

import numpy as np

from seg_ros.inference import contract

PRECISIONS = ('fp32', 'fp16', 'int8')
IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp', '.ppm')
QUANTIZED_OPS = ('Conv', 'ConvTranspose', 'MatMul', 'Gemm')
CALIBRATION_METHODS = ('minmax', 'percentile', 'entropy')


class PrecisionError(RuntimeError):
    """A conversion that cannot be done; the message says what is wrong and what to do."""


def _name_nodes(model: Any) -> None:
    """Give every node a unique name: the block lists and the quantizer address nodes by name."""
    seen: set[str] = set()
    for i, node in enumerate(model.graph.node):
        if not node.name or node.name in seen:
            node.name = f'{node.op_type}_{i}'
        seen.add(node.name)


def _consumers(model: Any) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for node in model.graph.node:
        for name in node.input:
            out.setdefault(name, []).append(node)
    return out


def edge_nodes(model: Any) -> tuple[list[str], list[str]]:
    """
    Return the names of the preprocessing and the postprocessing nodes of a contract graph.

    Preprocessing: every node needed to compute the input of the first Conv that reads the
    image (that Conv, the normalisation, included). Postprocessing: the node producing the
    tensor ``ArgMax`` reads (the resize of the logits to the frame size) and everything
    downstream of it. Raises PrecisionError when the graph does not have that shape.
    """
    _name_nodes(model)
    nodes = list(model.graph.node)
    producer = {out: n for n in nodes for out in n.output}
    consumers = _consumers(model)
    # Forward from the image: the first Conv reached is the normalisation.
    reach, frontier, norm = set(), [contract.INPUT], None
    while frontier and norm is None:
        tensor = frontier.pop(0)
        for node in consumers.get(tensor, []):
            if node.name in reach:
                continue
            reach.add(node.name)
            if node.op_type == 'Conv':
                norm = node
                break
            frontier.extend(node.output)
    if norm is None:
        raise PrecisionError('no Conv reads the image: not a seg_ros export (the wrapper '
                             'normalises with a 1x1 Conv); export it with "seg-ros export"')
    pre: set[str] = set()
    stack = [norm]
    while stack:
        node = stack.pop()
        if node.name in pre:
            continue
        pre.add(node.name)
        stack.extend(producer[t] for t in node.input if t in producer)
    argmax = next((n for n in nodes if n.op_type == 'ArgMax'), None)
    if argmax is None or argmax.input[0] not in producer:
        raise PrecisionError('the graph has no ArgMax over computed logits: not a seg_ros '
                             'export; export it with "seg-ros export"')
    post: set[str] = set()
    stack = [producer[argmax.input[0]]]
    while stack:
        node = stack.pop()
        if node.name in post:
            continue
        post.add(node.name)
        for out in node.output:
            stack.extend(consumers.get(out, []))
    order = [n.name for n in nodes]
    return ([n for n in order if n in pre], [n for n in order if n in post and n not in pre])


def to_fp16(model: Any) -> Any:
    """Return a copy of ``model`` with float16 weights and activations between float32 edges."""
    try:
        from onnxconverter_common.float16 import convert_float_to_float16
    except ImportError as exc:
        raise PrecisionError(f'FP16 export needs onnxconverter-common ({exc}); pip install '
                             'onnxconverter-common (part of the export extra)') from exc
    import copy

    model = copy.deepcopy(model)     # the converter edits its argument
    pre, post = edge_nodes(model)
    # Shape nodes reading an edge tensor stay with it: they only read its dimensions, and a
    # Cast to float16 in front of them would be wasted work.
    edge = set(pre + post)
    edge_outputs = {t for n in model.graph.node if n.name in edge for t in n.output}
    shapes = [n.name for n in model.graph.node
              if n.op_type == 'Shape' and n.input[0] in edge_outputs]
    props = {p.key: p.value for p in model.metadata_props}
    # The converter warns for every weight tensor with values float16 cannot hold (for ESPNet
    # 130 warnings, 261 lines); one summary says the same.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        half = convert_float_to_float16(model, keep_io_types=True,
                                        node_block_list=pre + post + shapes)
    clamped = [w for w in caught if 'will be truncated' in str(w.message)]
    for w in caught:
        if w not in clamped:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if clamped:
        warnings.warn(f"fp16: float32 weights outside float16's range were clamped in "
                      f'{len(clamped)} places (magnitudes below 1e-7 become +-1e-7); the fp16 '
                      "model's accuracy is measured in BENCHMARKS.md", stacklevel=2)
    _drop_cast_round_trips(half)
    del half.metadata_props[:]
    for key, value in props.items():
        entry = half.metadata_props.add()
        entry.key, entry.value = key, value
    return half


def _drop_cast_round_trips(model: Any) -> None:
    """
    Remove the ``Cast(to=FLOAT16) -> Cast(to=FLOAT)`` pairs between two float32 nodes.

    The converter casts every blocked node's outputs to float16 first and casts back where a
    blocked node reads them: a lossy round trip and two wasted kernels. Stale value_info is
    dropped too; ONNX Runtime and TensorRT infer the types again.
    """
    from onnx import TensorProto

    graph = model.graph

    def cast_to(node: Any) -> Optional[int]:
        if node.op_type != 'Cast':
            return None
        return next((a.i for a in node.attribute if a.name == 'to'), None)

    outputs = {o.name for o in graph.output}
    changed = True
    while changed:
        changed = False
        producer = {out: n for n in graph.node for out in n.output}
        for node in list(graph.node):
            first = producer.get(node.input[0]) if node.input else None
            if (cast_to(node) != TensorProto.FLOAT or first is None
                    or cast_to(first) != TensorProto.FLOAT16
                    or node.output[0] in outputs):
                continue
            source = first.input[0]
            before = producer.get(source)
            if before is not None and cast_to(before) == TensorProto.FLOAT16:
                continue   # the source is float16 itself: this Cast is a real conversion
            for other in graph.node:
                for i, name in enumerate(other.input):
                    if name == node.output[0]:
                        other.input[i] = source
            graph.node.remove(node)
            changed = True
            break
    # Casts whose output nobody reads any more.
    used = {name for n in graph.node for name in n.input} | outputs
    for node in [n for n in graph.node if n.op_type == 'Cast' and n.output[0] not in used]:
        graph.node.remove(node)
    del graph.value_info[:]


def list_images(folder: str) -> list[str]:
    """Return the image files of a calibration folder, sorted (calibration is repeatable)."""
    if not os.path.isdir(folder):
        raise PrecisionError(f'calibration folder {folder} does not exist; pass --calib DIR '
                             'with frames like the robot sees (never the evaluation frames)')
    files = sorted(str(p) for p in Path(folder).iterdir()
                   if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise PrecisionError(f'calibration folder {folder} holds no images '
                             f'({", ".join(IMAGE_SUFFIXES)})')
    return files


def calibration_frames(files: Sequence[str]) -> Iterator[np.ndarray]:
    """Yield frames as the node feeds them: uint8 RGB ``(1, H, W, 3)`` at their own size."""
    import cv2

    for path in files:
        bgr = cv2.imread(path, cv2.IMREAD_COLOR)
        if bgr is None:
            raise PrecisionError(f'{path}: not a readable image; remove it from the '
                                 'calibration folder')
        yield np.ascontiguousarray(bgr[:, :, ::-1])[None]


def to_int8(model: Any, calib_files: Sequence[str], method: str = 'percentile') -> Any:
    """Return ``model`` quantized to int8 Q/DQ, calibrated on ``calib_files`` (see module doc)."""
    try:
        import onnx
        from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod,
                                              QuantFormat, QuantType, quantize_static)
    except ImportError as exc:
        raise PrecisionError(f'INT8 export needs onnxruntime ({exc}); pip install '
                             'onnxruntime') from exc
    if method not in CALIBRATION_METHODS:
        raise PrecisionError(f'calibration method "{method}" is not one of '
                             f'{", ".join(CALIBRATION_METHODS)}')
    if not calib_files:
        raise PrecisionError('INT8 needs calibration frames: pass --calib DIR')
    pre, post = edge_nodes(model)
    props = {p.key: p.value for p in model.metadata_props}

    class Reader(CalibrationDataReader):
        """Hands ONNX Runtime's calibrator one raw frame per run."""

        def __init__(self, frames: Iterable[np.ndarray]) -> None:
            self.frames = iter(frames)

        def get_next(self) -> Optional[dict[str, np.ndarray]]:
            frame = next(self.frames, None)
            return None if frame is None else {contract.INPUT: frame}

    methods = {'minmax': CalibrationMethod.MinMax, 'percentile': CalibrationMethod.Percentile,
               'entropy': CalibrationMethod.Entropy}
    with tempfile.TemporaryDirectory(prefix='seg_ros_int8_') as tmp:
        src, dst = os.path.join(tmp, 'fp32.onnx'), os.path.join(tmp, 'int8.onnx')
        onnx.save(model, src)
        quantize_static(
            src, dst, Reader(calibration_frames(calib_files)),
            quant_format=QuantFormat.QDQ, op_types_to_quantize=list(QUANTIZED_OPS),
            per_channel=True, activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
            nodes_to_exclude=pre + post, calibrate_method=methods[method],
            extra_options={'ActivationSymmetric': True, 'WeightSymmetric': True,
                           'QuantizeBias': False, 'CalibTensorRangeSymmetric': True,
                           'CalibMovingAverage': False, 'CalibPercentile': 99.999})
        quantized = onnx.load(dst)
    del quantized.metadata_props[:]
    for key, value in props.items():
        entry = quantized.metadata_props.add()
        entry.key, entry.value = key, value
    return quantized
