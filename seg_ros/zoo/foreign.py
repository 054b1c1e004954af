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
Graph surgery that puts a foreign segmentation ONNX graph inside the seg_ros contract.

Most segmentation models reach a robot as ONNX already: a Hugging Face SegFormer exported with
optimum (``pixel_values`` -> ``logits`` at a quarter of the input size), a torchvision DeepLabV3
(``input`` -> ``out``), an mmsegmentation or PaddleSeg export. They take normalised float NCHW
at one size and return logits (or, exported with an argmax, class ids); resizing,
normalisation and the argmax are left to the caller. This module adds what the contract keeps
inside the graph, as two small graphs joined to the foreign one with
:func:`onnx.compose.merge_models` under the foreign input's and output's own names, so the
foreign nodes, weights and names stay exactly as they were:

- before: ``image`` uint8 [1, H, W, 3] -> Cast to float (the only reader of the uint8 input, the
  TensorRT rule) -> NCHW -> bilinear Resize to the network size -> one 1x1 Conv doing channel
  order and normalisation (the form :mod:`seg_ros.zoo.precision` recognises as the
  preprocessing, so fp16/int8 conversions keep it in float32) -> Cast to float16 if the network
  wants it;
- after, for logits ``[1, C, h, w]`` at any stride: Resize to H x W -> ArgMax -> Cast float ->
  Cast uint8 -> ``labels`` (and ``confidence`` = max softmax, as the zoo's wrapper computes it);
- after, for class ids (``[1, h, w]`` or ``[1, 1, h, w]``, int32/int64): Cast float -> nearest
  Resize to H x W -> Cast uint8 (float first: TensorRT casts to uint8 from float only).

The nodes are built for the foreign graph's own opset (11 and later: ``merge_models`` needs one
version per domain, and changing the foreign graph's opset could change what its nodes mean).

:func:`reference_input` and :func:`reference_labels` do the same pre- and post-processing in
NumPy, for the agreement check (the foreign model run through ONNX Runtime between them must
give the wrapped model's labels).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Optional, Sequence

import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto

from seg_ros.inference import contract
from seg_ros.zoo.networks import Normalization

MIN_OPSET = 11
PREFIX = 'seg_ros_wrap/'          # every name this module adds starts with it
LOGITS = 'logits'
LABELS = 'labels'
_FLOATS = (TensorProto.FLOAT, TensorProto.FLOAT16)
_INTS = (TensorProto.INT64, TensorProto.INT32)
_FRAME_HW = PREFIX + 'frame_hw'
RESERVED = (contract.INPUT, contract.LABELS, contract.CONFIDENCE)


class WrapError(ValueError):
    """A foreign model that cannot be wrapped; the message names what was found and the fix."""


@dataclass(frozen=True)
class ForeignIO:
    """The foreign graph's image input and segmentation output, as found by :func:`inspect`."""

    input_name: str
    input_type: int                  # TensorProto element type (FLOAT or FLOAT16)
    input_shape: tuple[Any, ...]     # ints for fixed dims, names (or None) for dynamic ones
    output_name: str
    output_type: int
    output_shape: tuple[Any, ...]
    kind: str                        # LOGITS or LABELS
    opset: int
    ignored_outputs: tuple[str, ...] = ()

    @property
    def static_size(self) -> Optional[tuple[int, int]]:
        """Return the (height, width) the input is fixed to, or None if either is dynamic."""
        h, w = self.input_shape[2], self.input_shape[3]
        return (h, w) if isinstance(h, int) and isinstance(w, int) else None

    @property
    def num_classes(self) -> Optional[int]:
        """Channel count of a logits output when the graph fixes it."""
        c = self.output_shape[1] if self.kind == LOGITS else None
        return c if isinstance(c, int) else None


@dataclass(frozen=True)
class WrapSpec:
    """How the contract's edges are built: network size, normalisation, resize convention."""

    input_size: tuple[int, int]      # (height, width) the foreign network runs at
    normalization: Normalization
    align_corners: bool = False
    confidence: bool = False


def _dims(value: onnx.ValueInfoProto) -> tuple[Any, ...]:
    return tuple(d.dim_value if d.HasField('dim_value') else (d.dim_param or None)
                 for d in value.type.tensor_type.shape.dim)


def _type_name(elem_type: int) -> str:
    return TensorProto.DataType.Name(elem_type).lower() if elem_type else 'unknown'


def _describe(value: onnx.ValueInfoProto) -> str:
    dims = [d if d is not None else '?' for d in _dims(value)]
    return f'"{value.name}" {_type_name(value.type.tensor_type.elem_type)} {dims}'


def default_opset(model: onnx.ModelProto) -> int:
    """Return the model's default-domain (ai.onnx) opset version."""
    return next((o.version for o in model.opset_import if o.domain in ('', 'ai.onnx')), 0)


def _output_kind(value: onnx.ValueInfoProto) -> Optional[str]:
    """LOGITS, LABELS or None (not a segmentation output) for a graph output."""
    elem, dims = value.type.tensor_type.elem_type, _dims(value)
    if elem in _FLOATS and len(dims) == 4 and dims[1] != 1:
        return LOGITS
    one_channel = len(dims) == 4 and (dims[1] in (1, None) or isinstance(dims[1], str))
    if elem in _INTS and (len(dims) == 3 or one_channel):
        return LABELS
    return None


def inspect(model: onnx.ModelProto, input_name: Optional[str] = None,
            output_name: Optional[str] = None) -> ForeignIO:
    """
    Find the image input and the segmentation output of a foreign model, or refuse.

    The input must be float NCHW with 3 (or a dynamic number of) channels, and it must be the
    only input the model needs: seg_ros feeds one image. The output is the one named, else the
    first that looks like logits ``[N, C, h, w]`` (float) or class ids ``[N, h, w]`` /
    ``[N, 1, h, w]`` (int32/int64); the others are left out of the wrapped graph.
    """
    graph = model.graph
    opset = default_opset(model)
    if opset < MIN_OPSET:
        raise WrapError(f'the model imports ai.onnx opset {opset or "none"}; wrapping needs '
                        f'opset {MIN_OPSET} or later (re-export it, e.g. with opset 17)')
    inits = {i.name for i in graph.initializer}
    inputs = [v for v in graph.input if v.name not in inits]
    if not inputs:
        raise WrapError('the model has no inputs to feed an image into')
    if input_name is not None:
        chosen = next((v for v in inputs if v.name == input_name), None)
        if chosen is None:
            raise WrapError(f'no input named "{input_name}"; the model has '
                            f'{", ".join(_describe(v) for v in inputs)}')
    else:
        chosen = inputs[0]
    others = [v for v in inputs if v is not chosen]
    if others:
        found = ', '.join(_describe(v) for v in inputs)
        raise WrapError(f'the model needs {len(inputs)} inputs ({found}); '
                        'seg_ros feeds exactly one image: re-export the model with the image '
                        'as its only input')
    elem, dims = chosen.type.tensor_type.elem_type, _dims(chosen)
    if (elem == TensorProto.UINT8 and chosen.name == contract.INPUT
            and any(o.name == contract.LABELS for o in graph.output)):
        raise WrapError(f'input {_describe(chosen)} and a "{contract.LABELS}" output: this is '
                        'already a seg_ros model; check it with "seg-ros info"')
    if elem not in _FLOATS:
        raise WrapError(f'input {_describe(chosen)} is not float: wrap takes networks with a '
                        'float32/float16 NCHW image input (normalisation left to the caller)')
    if len(dims) != 4:
        raise WrapError(f'input {_describe(chosen)} is not an image-like NCHW tensor '
                        '[N, 3, H, W]')
    if dims[1] not in (3, None) and not isinstance(dims[1], str):
        hint = (' (it looks NHWC: re-export it channels-first)' if dims[3] == 3
                else ' (seg_ros feeds RGB frames)')
        raise WrapError(f'input {_describe(chosen)} does not have 3 channels in dimension 1'
                        + hint)
    if isinstance(dims[0], int) and dims[0] != 1:
        raise WrapError(f'input {_describe(chosen)} has batch {dims[0]}; seg_ros runs one '
                        'frame at a time: re-export with batch 1 or a dynamic batch')
    outputs = list(graph.output)
    if output_name is not None:
        out = next((v for v in outputs if v.name == output_name), None)
        if out is None:
            raise WrapError(f'no output named "{output_name}"; the model has '
                            f'{", ".join(_describe(v) for v in outputs)}')
        kind = _output_kind(out)
        if kind is None:
            raise WrapError(f'output {_describe(out)} is neither NCHW logits (float '
                            '[1, C, h, w], C >= 2) nor class ids (int32/int64 [1, h, w] or '
                            '[1, 1, h, w])')
    else:
        usable = [(v, k) for v, k in ((v, _output_kind(v)) for v in outputs) if k is not None]
        if not usable:
            raise WrapError('no output is NCHW logits (float [1, C, h, w], C >= 2) or class ids '
                            '(int32/int64 [1, h, w] or [1, 1, h, w]); the model has '
                            f'{", ".join(_describe(v) for v in outputs)}')
        out, kind = usable[0]
    assert kind is not None
    return ForeignIO(
        input_name=chosen.name, input_type=elem, input_shape=dims, output_name=out.name,
        output_type=out.type.tensor_type.elem_type, output_shape=_dims(out), kind=kind,
        opset=opset, ignored_outputs=tuple(v.name for v in outputs if v is not out))


def _subgraph_inputs(node: onnx.NodeProto) -> set[str]:
    """Names a node's subgraphs (If/Loop/Scan bodies) read from the enclosing graph."""
    names: set[str] = set()
    for attr in node.attribute:
        graphs = ([attr.g] if attr.type == onnx.AttributeProto.GRAPH
                  else list(attr.graphs) if attr.type == onnx.AttributeProto.GRAPHS else [])
        for g in graphs:
            for inner in g.node:
                names.update(inner.input)
                names |= _subgraph_inputs(inner)
    return names


def keep_only_output(model: onnx.ModelProto, name: str) -> onnx.ModelProto:
    """
    Return a copy of ``model`` with one graph output and only the nodes that compute it.

    Auxiliary heads (torchvision's ``aux``) would otherwise still run on every frame. Nodes and
    weights that remain are untouched; only what nothing reads any more is dropped.
    """
    out = onnx.ModelProto()
    out.CopyFrom(model)
    graph = out.graph
    kept = [o for o in graph.output if o.name == name]
    del graph.output[:]
    graph.output.extend(kept)
    needed = {name}
    keep: list[onnx.NodeProto] = []
    for node in reversed(list(graph.node)):
        if any(o in needed for o in node.output):
            keep.append(node)
            needed.update(node.input)
            needed |= _subgraph_inputs(node)
    del graph.node[:]
    graph.node.extend(reversed(keep))
    inits = [i for i in graph.initializer if i.name in needed]
    del graph.initializer[:]
    graph.initializer.extend(inits)
    infos = [v for v in graph.value_info if v.name in needed]
    del graph.value_info[:]
    graph.value_info.extend(infos)
    return out


class _Builder:
    """Collects nodes and constants for one of the small edge graphs, at a given opset."""

    def __init__(self, opset: int, tag: str) -> None:
        self.opset = opset
        self.prefix = f'{PREFIX}{tag}/'   # pre and post graphs must not share a name
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self._n = 0

    def const(self, name: str, value: np.ndarray) -> str:
        full = self.prefix + name
        self.inits.append(numpy_helper.from_array(np.asarray(value), full))
        return full

    def op(self, op_type: str, inputs: Sequence[str], output: Optional[str] = None,
           **attrs: Any) -> str:
        self._n += 1
        out = output or f'{self.prefix}{op_type.lower()}_{self._n}'
        self.nodes.append(helper.make_node(op_type, list(inputs), [out],
                                           name=f'{self.prefix}{op_type}_{self._n}', **attrs))
        return out

    def reduce(self, op_type: str, x: str, keepdims: int) -> str:
        """Reduce over the class axis, spelling ``axes`` as this opset wants it."""
        as_input = self.opset >= (18 if op_type == 'ReduceMax' else 13)
        if as_input:
            return self.op(op_type, [x, self.const(f'axes_{self._n}', np.array([1], np.int64))],
                           keepdims=keepdims)
        return self.op(op_type, [x], axes=[1], keepdims=keepdims)

    def resize(self, x: str, sizes: str, **attrs: Any) -> str:
        """Resize to ``sizes``; opset 11-12 want (empty) roi and scales tensors, later ones ''."""
        if self.opset >= 13:
            return self.op('Resize', [x, '', '', sizes], **attrs)
        empty = self.const(f'empty_{self._n}', np.zeros(0, np.float32))
        return self.op('Resize', [x, empty, empty, sizes], **attrs)

    def model(self, inputs: list[onnx.ValueInfoProto], outputs: list[onnx.ValueInfoProto],
              name: str, ir_version: int) -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, name, inputs, outputs, initializer=self.inits)
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid('', self.opset)])
        m.ir_version = ir_version
        return m


def _coordinate_mode(align_corners: bool) -> str:
    return 'align_corners' if align_corners else 'half_pixel'


def _pre_model(io: ForeignIO, spec: WrapSpec, ir_version: int) -> onnx.ModelProto:
    b = _Builder(io.opset, 'pre')
    frame = b.op('Cast', [contract.INPUT], PREFIX + 'frame', to=TensorProto.FLOAT)
    b.op('Gather', [b.op('Shape', [frame]), b.const('hw_index', np.array([1, 2], np.int64))],
         _FRAME_HW, axis=0)
    x = b.op('Transpose', [frame], perm=[0, 3, 1, 2])
    h, w = spec.input_size
    x = b.resize(x, b.const('network_size', np.array([1, 3, h, w], np.int64)), mode='linear',
                 coordinate_transformation_mode=_coordinate_mode(spec.align_corners))
    gain, offset = spec.normalization.affine()
    weight = np.zeros((3, 3, 1, 1), np.float32)
    for c in range(3):   # network channel c reads RGB channel 2 - c when the network wants BGR
        weight[c, 2 - c if spec.normalization.bgr else c, 0, 0] = gain[c]
    bias = np.asarray(offset, np.float32)
    # The edge into the network keeps the foreign input's name, so no foreign node changes.
    out = io.input_name if io.input_type == TensorProto.FLOAT else None
    x = b.op('Conv', [x, b.const('norm_weight', weight), b.const('norm_bias', bias)], out)
    if io.input_type != TensorProto.FLOAT:
        b.op('Cast', [x], io.input_name, to=io.input_type)
    inputs = [helper.make_tensor_value_info(contract.INPUT, TensorProto.UINT8,
                                            [1, 'height', 'width', 3])]
    outputs = [helper.make_tensor_value_info(io.input_name, io.input_type, [1, 3, h, w]),
               helper.make_tensor_value_info(_FRAME_HW, TensorProto.INT64, [2])]
    return b.model(inputs, outputs, PREFIX + 'pre', ir_version)


def _post_model(io: ForeignIO, spec: WrapSpec, ir_version: int) -> onnx.ModelProto:
    b = _Builder(io.opset, 'post')
    x = io.output_name
    outputs = [helper.make_tensor_value_info(contract.LABELS, TensorProto.UINT8,
                                             [1, 'height', 'width'])]
    if io.kind == LOGITS:
        if io.output_type != TensorProto.FLOAT:
            x = b.op('Cast', [x], to=TensorProto.FLOAT)
        nc = b.op('Slice', [b.op('Shape', [x]), b.const('start', np.array([0], np.int64)),
                            b.const('end', np.array([2], np.int64))])
        sizes = b.op('Concat', [nc, _FRAME_HW], axis=0)
        scores = b.resize(x, sizes, mode='linear',
                          coordinate_transformation_mode=_coordinate_mode(spec.align_corners))
        ids = b.op('ArgMax', [scores], axis=1, keepdims=0)
        ids = b.op('Cast', [ids], to=TensorProto.FLOAT)
        b.op('Cast', [ids], contract.LABELS, to=TensorProto.UINT8)
        if spec.confidence:   # 1 / sum(exp(l - max l)): the zoo wrapper's max softmax
            top = b.reduce('ReduceMax', scores, keepdims=1)
            total = b.reduce('ReduceSum', b.op('Exp', [b.op('Sub', [scores, top])]), keepdims=0)
            b.op('Div', [b.const('one', np.array(1.0, np.float32)), total], contract.CONFIDENCE)
            outputs.append(helper.make_tensor_value_info(contract.CONFIDENCE, TensorProto.FLOAT,
                                                         [1, 'height', 'width']))
    else:
        if spec.confidence:
            raise WrapError(f'output "{io.output_name}" holds class ids, not logits: there '
                            'are no scores to compute a confidence from; drop --confidence')
        x = b.op('Cast', [x], to=TensorProto.FLOAT)
        if len(io.output_shape) == 3:   # [1, h, w] -> [1, 1, h, w]
            x = b.op('Reshape', [x, b.op('Concat', [b.const('one_dim', np.array([1], np.int64)),
                                                    b.op('Shape', [x])], axis=0)])
        sizes = b.op('Concat', [b.const('one_one', np.array([1, 1], np.int64)), _FRAME_HW],
                     axis=0)
        x = b.resize(x, sizes, mode='nearest', coordinate_transformation_mode='asymmetric',
                     nearest_mode='floor')
        x = b.op('Reshape', [x, b.op('Concat', [b.const('batch', np.array([1], np.int64)),
                                                _FRAME_HW], axis=0)])
        b.op('Cast', [x], contract.LABELS, to=TensorProto.UINT8)
    inputs = [helper.make_tensor_value_info(io.output_name, io.output_type,
                                            list(io.output_shape)),
              helper.make_tensor_value_info(_FRAME_HW, TensorProto.INT64, [2])]
    return b.model(inputs, outputs, PREFIX + 'post', ir_version)


def reserved_clashes(model: onnx.ModelProto) -> list[str]:
    """Names the foreign graph uses that the contract needs for itself (image, labels, ...)."""
    graph = model.graph
    used = {t for n in graph.node for t in list(n.input) + list(n.output)}
    used |= {v.name for v in list(graph.input) + list(graph.output)}
    return sorted(used & set(RESERVED))


def _rename_edges(model: onnx.ModelProto, mapping: dict[str, str]) -> onnx.ModelProto:
    """Return a copy with the tensors in ``mapping`` renamed everywhere, subgraphs included."""
    out = onnx.ModelProto()
    out.CopyFrom(model)

    def rename(graph: onnx.GraphProto) -> None:
        for node in graph.node:
            for seq in (node.input, node.output):
                for i, name in enumerate(seq):
                    seq[i] = mapping.get(name, name)
            for attr in node.attribute:
                for sub in ([attr.g] if attr.type == onnx.AttributeProto.GRAPH else
                            attr.graphs if attr.type == onnx.AttributeProto.GRAPHS else []):
                    rename(sub)
        for value in list(graph.input) + list(graph.output) + list(graph.value_info):
            value.name = mapping.get(value.name, value.name)
        for init in graph.initializer:
            init.name = mapping.get(init.name, init.name)

    rename(out.graph)
    return out


def build_contract_graph(model: onnx.ModelProto, io: ForeignIO, spec: WrapSpec
                         ) -> onnx.ModelProto:
    """
    Return the foreign model inside the contract's pre- and post-processing (no metadata yet).

    The foreign graph keeps its nodes, weights and names: the new edges meet it under its own
    input and output names. Two exceptions: outputs other than the chosen one (and what
    computes nothing else) are left out, and a foreign tensor called ``image``, ``labels`` or
    ``confidence`` (:func:`reserved_clashes`) is renamed with the :data:`PREFIX`, since the
    contract needs those names.
    """
    graph = model.graph
    used = {n.name for n in graph.node} | {i.name for i in graph.initializer} | {
        t for n in graph.node for t in list(n.input) + list(n.output)}
    ours = sorted(n for n in used if n.startswith(PREFIX))
    if ours:
        raise WrapError(f'the model already uses names starting with "{PREFIX}" ({ours[:3]}), '
                        'which the wrapped graph needs for its own nodes; rename them first')
    foreign = keep_only_output(model, io.output_name) if io.ignored_outputs else model
    mapping = {name: f'{PREFIX}foreign/{name}' for name in reserved_clashes(foreign)}
    if mapping:
        foreign = _rename_edges(foreign, mapping)
        io = replace(io, input_name=mapping.get(io.input_name, io.input_name),
                     output_name=mapping.get(io.output_name, io.output_name))
    pre = _pre_model(io, spec, foreign.ir_version)
    post = _post_model(io, spec, foreign.ir_version)
    try:
        joined = onnx.compose.merge_models(pre, foreign,
                                           io_map=[(io.input_name, io.input_name)])
        joined = onnx.compose.merge_models(joined, post,
                                           io_map=[(io.output_name, io.output_name),
                                                   (_FRAME_HW, _FRAME_HW)])
    except ValueError as exc:   # name clashes, IR or opset mismatches
        raise WrapError(f'could not join the model with the contract edges: {exc}') from exc
    # merge_models lists each domain once per joined model; quantizers want it once.
    imports = {o.domain or '': o.version for o in joined.opset_import}
    del joined.opset_import[:]
    joined.opset_import.extend(helper.make_opsetid(d, v) for d, v in imports.items())
    joined.graph.name = graph.name or 'wrapped'
    return joined


# ---------------------------------------------------------------------------------------------
# The same pre- and post-processing in NumPy, for the agreement check.

def resize_matrix(n_in: int, n_out: int, align_corners: bool) -> np.ndarray:
    """
    Return the ``(n_out, n_in)`` matrix of a 1-D linear resize as ONNX Resize defines it.

    ``half_pixel``: source x = (x' + 0.5) / scale - 0.5; ``align_corners``: x = x' (n_in - 1) /
    (n_out - 1). Source coordinates are clamped to the edge pixels, as ONNX Runtime does.
    """
    x = np.arange(n_out, dtype=np.float64)
    if align_corners:
        src = x * (n_in - 1) / (n_out - 1) if n_out > 1 else np.zeros_like(x)
    else:
        src = (x + 0.5) * (n_in / n_out) - 0.5
    src = np.clip(src, 0, n_in - 1)
    lo = np.floor(src).astype(np.int64)
    hi = np.minimum(lo + 1, n_in - 1)
    frac = src - lo
    m = np.zeros((n_out, n_in))
    m[np.arange(n_out), lo] += 1 - frac
    m[np.arange(n_out), hi] += frac
    return m


def _resize_hcw(x: np.ndarray, size: tuple[int, int], align_corners: bool) -> np.ndarray:
    """Bilinear resize of ``(C, h, w)`` to ``(H, C, W)``, as two plain matrix products."""
    c, h, w = x.shape
    rows = resize_matrix(h, size[0], align_corners)
    cols = resize_matrix(w, size[1], align_corners)
    t = x.astype(np.float64).reshape(c * h, w) @ cols.T                     # (C*h, W)
    t = t.reshape(c, h, size[1]).transpose(1, 0, 2).reshape(h, c * size[1])
    return (rows @ t).reshape(size[0], c, size[1])


def resize_linear(x: np.ndarray, size: tuple[int, int], align_corners: bool) -> np.ndarray:
    """Bilinear resize of ``(C, h, w)`` to ``(C, H, W)`` (separable, in float64)."""
    return _resize_hcw(x, size, align_corners).transpose(1, 0, 2)


def resize_nearest(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest resize of the last two axes (ONNX ``asymmetric`` + ``floor``, as torch does)."""
    def index(n_in: int, n_out: int) -> np.ndarray:
        scale = np.float32(n_out) / np.float32(n_in)
        src = np.floor(np.arange(n_out, dtype=np.float32) / scale).astype(np.int64)
        return np.minimum(src, n_in - 1)

    return x[..., index(x.shape[-2], size[0])[:, None], index(x.shape[-1], size[1])[None, :]]


def reference_input(frame: np.ndarray, io: ForeignIO, spec: WrapSpec) -> np.ndarray:
    """Return the foreign network's input ``(1, 3, h, w)`` for a uint8 RGB frame ``(H, W, 3)``."""
    x = resize_linear(frame.transpose(2, 0, 1), spec.input_size, spec.align_corners)
    norm = spec.normalization
    gain, offset = norm.affine()
    order = [2, 1, 0] if norm.bgr else [0, 1, 2]
    x = x[order] * np.asarray(gain)[:, None, None] + np.asarray(offset)[:, None, None]
    dtype = np.float16 if io.input_type == TensorProto.FLOAT16 else np.float32
    return x[None].astype(dtype)


def reference_labels(output: np.ndarray, io: ForeignIO, frame_size: tuple[int, int],
                     spec: WrapSpec) -> np.ndarray:
    """Return the labels ``(H, W)`` for the foreign network's output (NumPy post-processing)."""
    if io.kind == LOGITS:
        scores = _resize_hcw(output[0].astype(np.float32), frame_size, spec.align_corners)
        # ties go to the lowest id, as ONNX ArgMax (select_last_index=0) decides them
        return scores.transpose(0, 2, 1).argmax(axis=2).astype(np.uint8)
    ids = output.reshape(output.shape[-2:])
    return resize_nearest(ids, frame_size).astype(np.uint8)
