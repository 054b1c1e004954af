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
  left in float (TensorRT dequantizes only int8/fp8/int4, not an int32 bias). Calibration runs
  chunk by chunk (ONNX Runtime's histogram calibrators keep every activation of a chunk in
  memory), so hundreds of frames fit. An optional *sensitivity pass* quantizes one layer at a
  time and measures how far the network's logits move from float32 on a few calibration frames;
  the layers that move them most can be kept in float32 (``keep_float``): TensorRT runs a layer
  without Q/DQ in the float type its tensors have.
- INT8-CPU (``int8-cpu``): ONNX Runtime's own quantized form for its x86/ARM CPU kernels, which
  the TensorRT form above does not suit (signed activations, Q/DQ only around convolutions:
  ONNX Runtime converts back to float around every other operator and ends up slower than
  float32). Unsigned 8-bit activations with a zero point, signed 8-bit per-channel weights
  (U8S8, what its integer GEMMs want), the convolutions and matrix products as
  ``QLinearConv``/``QLinearMatMul`` (the QOperator form, integer in and out), and
  ``reduce_range`` (7-bit weights) on an x86 CPU without VNNI, where the AVX2/AVX-512 U8S8
  kernels can saturate. The element-wise operators stay float: quantizing them too
  (``QLinearAdd``/``Mul``/``Concat``, ESPNet's PReLU and residual adds) cost ESPNet 4.4 mIoU
  on CamVid val for no measurable speed (BENCHMARKS.md). A *speed pass* then times both
  graphs node by node on the exporting CPU and keeps in float32 the convolutions whose
  ``QLinearConv`` was no faster than ONNX Runtime's float kernel (small channel counts, where
  its blocked NCHWc float convolution wins). TensorRT cannot build this form
  (uint8 zero points, com.microsoft operators): the metadata says ``int8-cpu`` and the
  TensorRT path refuses it with that reason.
"""
from __future__ import annotations

import copy
import dataclasses
import os
from pathlib import Path
import platform
import re
import tempfile
from typing import Any, Callable, Iterable, Iterator, Optional, Sequence
import warnings

import numpy as np

from seg_ros.inference import contract

PRECISIONS = ('fp32', 'fp16', 'int8', 'int8-cpu')
INT8_PRECISIONS = ('int8', 'int8-cpu')   # the ones that need calibration frames
IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.bmp', '.ppm')
QUANTIZED_OPS = ('Conv', 'ConvTranspose', 'MatMul', 'Gemm')
CALIBRATION_METHODS = ('minmax', 'percentile', 'entropy')
CALIBRATION_CHUNK = 16      # frames per collect pass: bounds the calibrator's memory
SENSITIVITY_FRAMES = 4      # default frames for the per-layer sensitivity pass
SPEED_RUNS = 8              # profiled runs per graph in int8-cpu's speed pass
KEY_FLOAT_LAYERS = contract.KEY_FLOAT_LAYERS
KEY_CPU_QUANT = contract.KEY_CPU_QUANT


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


def _quant_api() -> Any:
    try:
        from onnxruntime import quantization
    except ImportError as exc:
        raise PrecisionError(f'INT8 export needs onnxruntime ({exc}); pip install '
                             'onnxruntime') from exc
    return quantization


def _check_int8_args(calib_files: Sequence[str], method: str) -> None:
    if method not in CALIBRATION_METHODS:
        raise PrecisionError(f'calibration method "{method}" is not one of '
                             f'{", ".join(CALIBRATION_METHODS)}')
    if not calib_files:
        raise PrecisionError('INT8 needs calibration frames: pass --calib DIR')


def _method(method: str) -> Any:
    q = _quant_api()
    return {'minmax': q.CalibrationMethod.MinMax, 'percentile': q.CalibrationMethod.Percentile,
            'entropy': q.CalibrationMethod.Entropy}[method]


def calibrate(model_path: str, calib_files: Sequence[str], method: str, symmetric: bool,
              op_types: Optional[Sequence[str]], cache_path: str,
              chunk: int = CALIBRATION_CHUNK) -> None:
    """
    Collect activation ranges on ``calib_files`` and save them where quantize_static reads them.

    ONNX Runtime's histogram calibrators (percentile, entropy) hold every calibrated activation
    of a ``collect_data`` pass in memory before they fold it into their histograms: a few GB for
    a hundred frames of a segmentation network. Feeding ``chunk`` frames per pass keeps that
    bounded while the histograms (and min/max) still accumulate over all frames. One
    calibration then serves every variant quantized from it (the sensitivity pass, the kept
    float layers), as ``quantize_static``'s ``calibration_cache_path``.
    """
    q = _quant_api()

    class Reader(q.CalibrationDataReader):  # type: ignore[name-defined]
        """Hands ONNX Runtime's calibrator one raw frame per run."""

        def __init__(self, frames: Iterable[np.ndarray]) -> None:
            self.frames = iter(frames)

        def get_next(self) -> Optional[dict[str, np.ndarray]]:
            frame = next(self.frames, None)
            return None if frame is None else {contract.INPUT: frame}

    with tempfile.TemporaryDirectory(prefix='seg_ros_calib_') as tmp:
        calibrator = q.create_calibrator(
            Path(model_path), list(op_types) if op_types else None,
            augmented_model_path=os.path.join(tmp, 'augmented.onnx'),
            calibrate_method=_method(method),
            extra_options={'symmetric': symmetric, 'moving_average': False,
                           'percentile': 99.999})
        for start in range(0, len(calib_files), chunk):
            calibrator.collect_data(Reader(calibration_frames(calib_files[start:start + chunk])))
        ranges = calibrator.compute_data()
        del calibrator
    q.save_tensors_data(ranges, cache_path)


def quantize_qdq(src: str, cache: str, method: str, exclude: Sequence[str],
                 per_channel: bool) -> Any:
    """Quantize in TensorRT's form: symmetric int8 Q/DQ before QUANTIZED_OPS, float biases."""
    import onnx

    q = _quant_api()
    with tempfile.TemporaryDirectory(prefix='seg_ros_int8_') as tmp:
        dst = os.path.join(tmp, 'int8.onnx')
        q.quantize_static(
            src, dst, None, calibration_cache_path=cache,
            quant_format=q.QuantFormat.QDQ, op_types_to_quantize=list(QUANTIZED_OPS),
            per_channel=per_channel, activation_type=q.QuantType.QInt8,
            weight_type=q.QuantType.QInt8, nodes_to_exclude=list(exclude),
            calibrate_method=_method(method),
            extra_options={'ActivationSymmetric': True, 'WeightSymmetric': True,
                           'QuantizeBias': False,
                           # Q/DQ on the layers' inputs only: ONNX Runtime would also
                           # quantize their outputs (the logits too, before the float
                           # postprocessing), which TensorRT does not need to fuse them.
                           'OpTypesToExcludeOutputQuantization': list(QUANTIZED_OPS)})
        return onnx.load(dst)


def _restore_props(model: Any, props: dict[str, str]) -> Any:
    del model.metadata_props[:]
    for key, value in props.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    return model


def to_int8(model: Any, calib_files: Sequence[str], method: str = 'percentile',
            keep_float: int = 0, sensitivity_frames: int = SENSITIVITY_FRAMES,
            per_channel: bool = True, shared_qdq: bool = False,
            log: Optional[Callable[[str], None]] = None) -> Any:
    """
    Return ``model`` quantized to int8 Q/DQ, calibrated on ``calib_files`` (see module doc).

    ``keep_float`` > 0 runs the sensitivity pass on ``sensitivity_frames`` calibration frames
    (spread over the set), hands its table to ``log`` and keeps that many of the most sensitive
    layers in float32; their names go into the ``seg_ros.int8_float_layers`` metadata.
    ``per_channel`` False gives one weight scale per tensor (for comparison; TensorRT takes
    both). ``shared_qdq`` True keeps ONNX Runtime's placement, in which the residual ``Add``
    and ``Concat`` nodes read a layer's int8 input too (TensorRT can then fuse more, at a cost
    in accuracy); by default only the quantized layers read Q/DQ tensors.
    """
    import onnx

    _check_int8_args(calib_files, method)
    if keep_float < 0:
        raise PrecisionError(f'keep_float must be >= 0, got {keep_float}')
    pre, post = edge_nodes(model)
    props = {p.key: p.value for p in model.metadata_props}

    def placed(qdq: Any) -> Any:
        if shared_qdq:
            return qdq
        return only_quantized(qdq, model, [n.name for n in quantized_layers(qdq)])

    with tempfile.TemporaryDirectory(prefix='seg_ros_int8_') as tmp:
        src, cache = os.path.join(tmp, 'fp32.onnx'), os.path.join(tmp, 'ranges.json')
        onnx.save(model, src)
        calibrate(src, calib_files, method, True, QUANTIZED_OPS, cache)
        quantized = quantize_qdq(src, cache, method, pre + post, per_channel)
        if keep_float:
            rows = layer_sensitivity(model, quantized,
                                     _spread(calib_files, sensitivity_frames))
            kept = [r.name for r in rows[:keep_float]]
            if log is not None:
                log(format_sensitivity(rows, kept))
            quantized = quantize_qdq(src, cache, method, pre + post + kept, per_channel)
            props[KEY_FLOAT_LAYERS] = ','.join(kept)
    return _restore_props(placed(quantized), props)


def _spread(files: Sequence[str], count: int) -> list[str]:
    """Return ``count`` files spread over ``files`` (sequences differ along a sorted set)."""
    if count <= 0:
        raise PrecisionError(f'the sensitivity pass needs at least one frame, got {count}')
    if count >= len(files):
        return list(files)
    return [files[round(i * (len(files) - 1) / max(count - 1, 1))] for i in range(count)]


@dataclasses.dataclass(frozen=True)
class LayerSensitivity:
    """What quantizing one layer alone does to the network's logits, against float32."""

    name: str
    op_type: str
    sqnr_db: float        # logits signal-to-quantization-noise ratio; lower = more sensitive
    label_change: float   # fraction of pixels whose arg-max class changes


def quantized_layers(qdq_model: Any) -> list[Any]:
    """Return the nodes of a Q/DQ graph whose weight input is dequantized (the int8 layers)."""
    producer = {out: n for n in qdq_model.graph.node for out in n.output}
    return [n for n in qdq_model.graph.node
            if n.op_type in QUANTIZED_OPS and len(n.input) > 1 and n.input[1] in producer
            and producer[n.input[1]].op_type == 'DequantizeLinear']


def only_quantized(qdq_model: Any, float_model: Any, names: Iterable[str]) -> Any:
    """
    Return a copy of ``qdq_model`` in which only the layers ``names`` read int8 Q/DQ inputs.

    Every other node reads float tensors again: a layer gets its float32 weight back (from
    ``float_model``'s node of the same name) and its activation from before the
    Quantize/Dequantize pair, and so do the nodes ONNX Runtime lets share a quantized layer's
    Dequantize output (a residual ``Add``, a ``Concat``, a pool, or a layer excluded from
    quantization: ``nodes_to_exclude`` alone does not keep its input float). Q/DQ nodes nobody
    reads any more are dropped; the calibrated ranges of the kept layers stay as they are,
    which is what makes this cheap enough to do once per layer.
    """
    from onnx import numpy_helper

    names = set(names)
    model = copy.deepcopy(qdq_model)
    graph = model.graph
    float_nodes = {n.name: n for n in float_model.graph.node}
    float_inits = {i.name: i for i in float_model.graph.initializer}
    inits = {i.name for i in graph.initializer}
    producer = {out: n for n in graph.node for out in n.output}
    for node in graph.node:
        if node.name in names or node.op_type in ('QuantizeLinear', 'DequantizeLinear'):
            continue
        for i, tensor in enumerate(node.input):
            dq = producer.get(tensor)
            if dq is None or dq.op_type != 'DequantizeLinear':
                continue
            q = producer.get(dq.input[0])
            if q is not None and q.op_type == 'QuantizeLinear':
                node.input[i] = q.input[0]           # an activation: read it before Q/DQ
                continue
            source = float_nodes.get(node.name)      # a weight: take the float32 one back
            if source is None or len(source.input) <= i or source.input[i] not in float_inits:
                raise PrecisionError(f'layer "{node.name}" has no float32 weight in the '
                                     'float32 graph')
            weight = source.input[i]
            if weight not in inits:
                graph.initializer.append(numpy_helper.from_array(
                    numpy_helper.to_array(float_inits[weight]), weight))
                inits.add(weight)
            node.input[i] = weight
    _drop_dead(model)
    return model


def _drop_dead(model: Any) -> None:
    """Remove nodes whose outputs nobody reads, then initializers nobody reads."""
    graph = model.graph
    outputs = {o.name for o in graph.output}
    while True:
        used = {name for n in graph.node for name in n.input} | outputs
        dead = [n for n in graph.node if not any(o in used for o in n.output)]
        if not dead:
            break
        for node in dead:
            graph.node.remove(node)
    used = {name for n in graph.node for name in n.input}
    for init in [i for i in graph.initializer if i.name not in used]:
        graph.initializer.remove(init)


def _logits_tensor(model: Any) -> str:
    """Return the tensor the postprocessing starts from: the logits at network resolution."""
    _, post = edge_nodes(model)
    first = next(n for n in model.graph.node if n.name == post[0])
    return str(first.input[0])


def _with_output(model: Any, tensor: str) -> bytes:
    from onnx import helper, TensorProto

    model = copy.deepcopy(model)
    del model.graph.output[:]
    model.graph.output.append(helper.make_tensor_value_info(tensor, TensorProto.FLOAT, None))
    _drop_dead(model)
    return bytes(model.SerializeToString())


def layer_sensitivity(float_model: Any, qdq_model: Any,
                      calib_files: Sequence[str]) -> list[LayerSensitivity]:
    """
    Quantize one layer at a time and measure the logits against float32; most sensitive first.

    For every int8 layer of ``qdq_model`` a graph is made in which only that layer is
    quantized (:func:`only_quantized`) and run on ``calib_files``; its logits
    (the network's output before the resize to the frame) are compared with float32's as a
    signal-to-quantization-noise ratio and as the share of pixels whose class changes. Ranked
    by class changes, then by SQNR (what the labels lose first, then how close they came).
    """
    import onnxruntime as ort

    frames = list(calibration_frames(calib_files))
    tensor = _logits_tensor(float_model)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1

    def logits(model: Any) -> list[np.ndarray]:
        sess = ort.InferenceSession(_with_output(model, tensor), so,
                                    providers=['CPUExecutionProvider'])
        return [sess.run([tensor], {contract.INPUT: f})[0] for f in frames]

    reference = logits(float_model)
    ref_labels = [r.argmax(1) for r in reference]
    power = sum(float(np.square(r, dtype=np.float64).sum()) for r in reference)
    layers = quantized_layers(qdq_model)
    rows = []
    for node in layers:
        out = logits(only_quantized(qdq_model, float_model, [node.name]))
        noise = sum(float(np.square(o - r, dtype=np.float64).sum())
                    for o, r in zip(out, reference))
        changed = np.mean([np.mean(o.argmax(1) != lab) for o, lab in zip(out, ref_labels)])
        sqnr = 10 * np.log10(power / noise) if noise > 0 else float('inf')
        rows.append(LayerSensitivity(node.name, node.op_type, float(sqnr), float(changed)))
    return sorted(rows, key=lambda r: (-r.label_change, r.sqnr_db))


def format_sensitivity(rows: Sequence[LayerSensitivity], kept: Sequence[str] = ()) -> str:
    """Return the sensitivity table as the export prints it, most sensitive first."""
    lines = ['int8 sensitivity (only this layer quantized, against float32 logits):',
             f'{"rank":>4}  {"labels changed":>14}  {"SQNR dB":>8}  layer']
    for i, r in enumerate(rows, 1):
        mark = '  <- kept float32' if r.name in kept else ''
        lines.append(f'{i:4d}  {100 * r.label_change:13.3f}%  {r.sqnr_db:8.1f}  '
                     f'{r.name} ({r.op_type}){mark}')
    return '\n'.join(lines)


def has_vnni() -> Optional[bool]:
    """
    Say whether this x86 CPU has VNNI (AVX-512 VNNI or AVX-VNNI); None when not an x86 CPU.

    ONNX Runtime's U8S8 kernels without VNNI multiply pairs of uint8*int8 into int16 before
    accumulating (vpmaddubsw), which can saturate with full 8-bit weights: ``reduce_range``
    (7-bit weights) avoids it there and only costs accuracy elsewhere.
    """
    if platform.machine().lower() not in ('x86_64', 'amd64', 'i386', 'i686', 'x86'):
        return None
    try:
        with open('/proc/cpuinfo', encoding='utf-8') as f:
            flags = next((line.split(':', 1)[1].split() for line in f
                          if line.startswith('flags')), [])
    except OSError:
        return False     # cannot tell: assume the older kernels, reduce_range is the safe side
    return bool({'avx512_vnni', 'avx_vnni'} & set(flags))


def profile_node_ms(model: Any, frames: Sequence[np.ndarray], runs: int = SPEED_RUNS
                    ) -> dict[str, tuple[str, float]]:
    """
    Time every node ONNX Runtime executes for ``model``: ``{node: (op type, median ms)}``.

    One intra-op thread, every graph optimisation on (what the node's backend runs), the
    kernel times from ONNX Runtime's own profiler over ``runs`` runs of ``frames`` after one
    warm-up run. Node names are the session's, after its fusions and layout changes.
    """
    import json

    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    with tempfile.TemporaryDirectory(prefix='seg_ros_profile_') as tmp:
        so.enable_profiling = True
        so.profile_file_prefix = os.path.join(tmp, 'profile')
        data = model if isinstance(model, (bytes, str)) else model.SerializeToString()
        sess = ort.InferenceSession(data, so, providers=['CPUExecutionProvider'])
        for i in range(runs + 1):
            sess.run(None, {contract.INPUT: frames[i % len(frames)]})
        with open(sess.end_profiling(), encoding='utf-8') as f:
            events = json.load(f)
    times: dict[str, list[float]] = {}
    ops: dict[str, str] = {}
    for event in events:
        if event.get('cat') == 'Node' and event.get('name', '').endswith('_kernel_time'):
            name = event['name'][:-len('_kernel_time')]
            times.setdefault(name, []).append(event['dur'] / 1000.0)
            ops[name] = event.get('args', {}).get('op_name', '')
    # the first run of each node is the warm-up
    return {n: (ops[n], float(np.median(t[1:] if len(t) > 1 else t))) for n, t in times.items()}


def source_node(session_node: str) -> str:
    """
    Return the graph node a session node came from (ONNX Runtime renames what it rewrites).

    Its NCHWc layout pass names a float convolution after its output (``<conv>_output_0_nchwc``),
    the quantizer names a ``QLinearConv`` ``<conv>_quant``, and its NHWC pass appends
    ``_token_<n>`` to that (to the convolution's own name when it fuses a QDQ graph).
    """
    return re.sub(r'(_output_0_nchwc|(_quant)?_token_\d+|_quant)$', '', session_node)


def slower_int8_layers(float_ms: dict[str, tuple[str, float]],
                       int8_ms: dict[str, tuple[str, float]]) -> list[str]:
    """
    Return the convolutions whose ``QLinearConv`` took at least as long as their float ``Conv``.

    The arguments are :func:`profile_node_ms` of the float and the int8-cpu graph. ONNX
    Runtime's float convolutions run in its blocked NCHWc layout, which beats its int8 kernel
    on small-channel (e.g. dilated 3x3 on 12-28 channels) layers: ESPNet's level 2 blocks are
    slower in int8 on an AVX-512 VNNI CPU (BENCHMARKS.md). Keeping those in float32 saves
    their time and the quantize/dequantize around them. Ties go to float32.
    """
    conv = {source_node(n): ms for n, (op, ms) in float_ms.items() if op in ('Conv', 'FusedConv')}
    qconv = {source_node(n): ms for n, (op, ms) in int8_ms.items() if op == 'QLinearConv'}
    return sorted(n for n, ms in qconv.items() if n in conv and ms >= conv[n])


def to_int8_cpu(model: Any, calib_files: Sequence[str], method: str = 'minmax',
                reduce_range: Optional[bool] = None, quant_format: str = 'QOperator',
                speed_pass: bool = True, keep_float: Sequence[str] = (),
                log: Optional[Callable[[str], None]] = None) -> Any:
    """
    Return ``model`` in ONNX Runtime's CPU int8 form (module doc), calibrated on ``calib_files``.

    ``reduce_range`` None decides from this CPU (:func:`has_vnni`): on for x86 without VNNI.
    ``keep_float`` names convolutions left in float32. The *speed pass* (``speed_pass``)
    times the float and the int8 graph node by node on this CPU (:func:`profile_node_ms`, one
    thread, a calibration frame) and quantizes again with the convolutions that int8 made no
    faster kept in float32 (:func:`slower_int8_layers`), like ``reduce_range`` a choice for
    the CPU it is exported on. The choices, the format and the types are recorded in the
    ``seg_ros.int8_cpu`` metadata.
    """
    import onnx

    _check_int8_args(calib_files, method)
    if quant_format not in ('QOperator', 'QDQ'):
        raise PrecisionError(f'quant_format must be QOperator or QDQ, got {quant_format}')
    q = _quant_api()
    vnni = has_vnni()
    if reduce_range is None:
        reduce_range = vnni is False
    pre, post = edge_nodes(model)
    props = {p.key: p.value for p in model.metadata_props}
    with tempfile.TemporaryDirectory(prefix='seg_ros_int8cpu_') as tmp:
        src, dst = os.path.join(tmp, 'fp32.onnx'), os.path.join(tmp, 'int8.onnx')
        cache = os.path.join(tmp, 'ranges.json')
        onnx.save(model, src)
        calibrate(src, calib_files, method, False, QUANTIZED_OPS, cache)

        def quantize(kept: Sequence[str]) -> Any:
            q.quantize_static(
                src, dst, None, calibration_cache_path=cache,
                quant_format=getattr(q.QuantFormat, quant_format), per_channel=True,
                op_types_to_quantize=list(QUANTIZED_OPS),
                reduce_range=reduce_range, activation_type=q.QuantType.QUInt8,
                weight_type=q.QuantType.QInt8, nodes_to_exclude=pre + post + list(kept),
                calibrate_method=_method(method),
                extra_options={'ActivationSymmetric': False, 'WeightSymmetric': True})
            return onnx.load(dst)

        kept = sorted(set(keep_float))
        quantized = quantize(kept)
        if speed_pass:
            frames = list(calibration_frames(calib_files[:1]))
            slower = slower_int8_layers(profile_node_ms(src, frames),
                                        profile_node_ms(quantized, frames))
            if slower:
                kept = sorted(set(kept) | set(slower))
                quantized = quantize(kept)
    cpu = {None: 'not x86', True: 'x86 with VNNI', False: 'x86 without VNNI'}[vnni]
    props[KEY_CPU_QUANT] = (f'onnxruntime {quant_format} U8S8 per-channel, reduce_range '
                            f'{"on" if reduce_range else "off"} (exported on {cpu}); '
                            f'{len(kept)} convolutions kept float32'
                            f'{" by the speed pass" if speed_pass else ""}'
                            f'{": " + ", ".join(kept) if kept else ""}')
    if log is not None:
        log(f'int8-cpu: {props[KEY_CPU_QUANT]}')
    return _restore_props(quantized, props)
