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
Check an ONNX graph against TensorRT 10's ONNX parser support table, without TensorRT.

TensorRT is not installable on most development machines and CI, so an exported model could
look fine in ONNX Runtime and then be refused on the robot. This walks the graph against the
parser's published operator/type table (``tensorrt10_onnx_ops.json`` in the shared assets,
taken from onnx/onnx-tensorrt ``docs/operators.md``) and the rule that matters most for the
seg_ros contract: UINT8 exists in TensorRT only as a network input or output, so the uint8
``image`` must go through a ``Cast`` before anything else touches it and uint8 ``labels`` must
come straight out of a ``Cast``.

The table describes TensorRT 10.0; newer 10.x releases accept more, never less, so an empty
problem list means "the 10.0 parser accepts this graph as far as the table can tell".
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator, Mapping, Optional, Union

import numpy as np
import onnx
from onnx import TensorProto
import onnx.numpy_helper

from seg_ros.common.share import assets_dir

TABLE_NAME = 'tensorrt10_onnx_ops.json'

# ONNX element types as the table spells them (the table has one "INF64" typo for INT64).
_TYPE_NAMES: dict[int, str] = {
    TensorProto.FLOAT: 'FP32', TensorProto.FLOAT16: 'FP16', TensorProto.BFLOAT16: 'BF16',
    TensorProto.INT32: 'INT32', TensorProto.INT64: 'INT64', TensorProto.UINT8: 'UINT8',
    TensorProto.INT8: 'INT8', TensorProto.BOOL: 'BOOL', TensorProto.INT4: 'INT4',
    TensorProto.FLOAT8E4M3FN: 'FP8',
}
_TABLE_TYPO = {'INF64': 'INT64'}
_INT_TYPES = (TensorProto.INT32, TensorProto.INT64, TensorProto.INT8, TensorProto.INT16)
_RESIZE_MODES = ('nearest', 'linear')
_RESIZE_COORDS = ('half_pixel', 'pytorch_half_pixel', 'tf_half_pixel_for_nn', 'asymmetric',
                  'align_corners')
_RESIZE_NEAREST = ('floor', 'ceil', 'round_prefer_floor', 'round_prefer_ceil')


def default_table_path() -> Path:
    """Return the table in the shared assets (``$SEG_ROS_ASSETS``, by default ``../shared``)."""
    return (assets_dir() or Path('..') / 'shared') / TABLE_NAME


def load_table(path: Union[str, Path, None] = None) -> dict[str, Any]:
    """Read the support table; the error says where it was looked for and how to point at it."""
    path = Path(path) if path else default_table_path()
    try:
        with open(path, encoding='utf-8') as f:
            table: dict[str, Any] = json.load(f)
    except FileNotFoundError:
        raise FileNotFoundError(
            f'TensorRT operator table not found at {path}; set SEG_ROS_ASSETS to the folder '
            f'holding {TABLE_NAME}') from None
    if 'ops' not in table or 'opset_range' not in table:
        raise ValueError(f'{path}: not a TensorRT operator table (no "ops"/"opset_range")')
    return table


def type_name(elem_type: int) -> str:
    """Spell an ONNX element type the way the table does (unknown ones by their ONNX name)."""
    return _TYPE_NAMES.get(elem_type, TensorProto.DataType.Name(elem_type))


def _walk(graph: onnx.GraphProto, prefix: str = '') -> Iterator[tuple[str, onnx.NodeProto]]:
    """Yield every node with a readable location, descending into If/Loop/Scan bodies."""
    for i, node in enumerate(graph.node):
        label = node.name or (node.output[0] if node.output else f'#{i}')
        where = f'{prefix}{node.op_type} "{label}"'
        yield where, node
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                yield from _walk(attr.g, f'{where} / {attr.name}: ')
            elif attr.type == onnx.AttributeProto.GRAPHS:
                for g in attr.graphs:
                    yield from _walk(g, f'{where} / {attr.name}: ')


def _elem_types(model: onnx.ModelProto) -> dict[str, int]:
    """Element type of every tensor ONNX's shape inference can name (best effort)."""
    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:  # inference can fail on odd graphs; check what the file itself declares
        inferred = model
    types: dict[str, int] = {}

    def collect(graph: onnx.GraphProto) -> None:
        for v in list(graph.input) + list(graph.output) + list(graph.value_info):
            if v.type.HasField('tensor_type') and v.type.tensor_type.elem_type:
                types[v.name] = v.type.tensor_type.elem_type
        for init in graph.initializer:
            types[init.name] = init.data_type
        for node in graph.node:
            if node.op_type == 'Constant':
                for attr in node.attribute:
                    if attr.name == 'value':
                        types[node.output[0]] = attr.t.data_type
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.GRAPH:
                    collect(attr.g)
                for g in attr.graphs:
                    collect(g)

    collect(inferred.graph)
    return types


def _constants(graph: onnx.GraphProto) -> set[str]:
    """Tensors TensorRT sees as build-time constants: initializers and Constant outputs."""
    names = {i.name for i in graph.initializer}
    names.update(n.output[0] for n in graph.node if n.op_type == 'Constant')
    return names


def _axes_index(op_type: str, opset: int) -> Optional[int]:
    """Position of the ``axes`` input in this opset's schema, if the op takes axes as input."""
    try:
        schema = onnx.defs.get_schema(op_type, opset)
    except onnx.defs.SchemaError:
        return None
    names = [i.name for i in schema.inputs]
    return names.index('axes') if 'axes' in names else None


def _resize_problems(node: onnx.NodeProto) -> list[str]:
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}

    def text(key: str, default: str) -> str:
        value = attrs.get(key, default)
        return value.decode() if isinstance(value, bytes) else str(value)

    problems = []
    if text('mode', 'nearest') not in _RESIZE_MODES:
        problems.append(f'mode "{text("mode", "")}" (TensorRT: {", ".join(_RESIZE_MODES)})')
    coords = text('coordinate_transformation_mode', 'half_pixel')
    if coords not in _RESIZE_COORDS:
        problems.append(f'coordinate_transformation_mode "{coords}"')
    if text('mode', 'nearest') == 'nearest':
        nearest = text('nearest_mode', 'round_prefer_floor')
        if nearest not in _RESIZE_NEAREST:
            problems.append(f'nearest_mode "{nearest}"')
    if int(attrs.get('antialias', 0)):
        problems.append('antialias=1 (antialiasing is not supported)')
    if text('keep_aspect_ratio_policy', 'stretch') != 'stretch':
        problems.append('keep_aspect_ratio_policy other than "stretch"')
    return problems


def _uint8_problems(model: onnx.ModelProto, types: Mapping[str, int]) -> list[str]:
    """Apply "UINT8 only as network input or output": Cast first, Cast last, nothing between."""
    graph = model.graph
    u8 = TensorProto.UINT8
    inputs = {v.name for v in graph.input}
    outputs = {v.name for v in graph.output}
    problems = []
    for init in graph.initializer:
        if init.data_type == u8:
            problems.append(f'initializer "{init.name}" is uint8; TensorRT has UINT8 only for '
                            'network inputs and outputs: store it as int32 or float')
    producers = {out: node for node in graph.node for out in node.output}
    for where, node in _walk(graph):
        if node.op_type != 'Cast':
            bad_in = [t for t in node.input if t and types.get(t) == u8]
            if bad_in:
                problems.append(
                    f'{where} reads uint8 tensor(s) {bad_in}; TensorRT has UINT8 only as '
                    'network input/output: Cast it to float (or int32) before any other node')
        for out in node.output:
            if types.get(out) == u8 and out not in outputs:
                problems.append(
                    f'{where} makes the intermediate uint8 tensor "{out}"; TensorRT has UINT8 '
                    'only as network input/output: keep int32/float inside the graph and Cast '
                    'to uint8 only for a graph output')
    for name in sorted(outputs):
        if types.get(name) != u8:
            continue
        producer = producers.get(name)
        if producer is None and name in inputs:
            problems.append(f'output "{name}" is the uint8 input itself; TensorRT needs a Cast '
                            'between a uint8 input and a uint8 output')
        elif producer is not None and producer.op_type != 'Cast':
            problems.append(f'uint8 output "{name}" comes from {producer.op_type}, not Cast; '
                            'make the last node before it Cast(to=UINT8)')
        elif producer is not None and types.get(producer.input[0]) in _INT_TYPES:
            problems.append(
                f'uint8 output "{name}" is cast from {type_name(types[producer.input[0]])}; '
                "TensorRT's headers do not support UINT8 conversions from integer types (its "
                'operator table says otherwise): Cast to FLOAT first (ArgMax -> Cast(FLOAT) -> '
                'Cast(UINT8)), or make the output INT32, which the contract allows')
    return problems


def _zero_point_problems(model: onnx.ModelProto) -> list[str]:
    """Apply TensorRT's Q/DQ rule: zero points must be 0 (symmetric quantization)."""
    inits = {i.name: i for i in model.graph.initializer}
    problems = []
    for where, node in _walk(model.graph):
        if node.op_type not in ('QuantizeLinear', 'DequantizeLinear') or len(node.input) < 3:
            continue
        zp = inits.get(node.input[2])
        if zp is not None and np.any(onnx.numpy_helper.to_array(zp) != 0):
            problems.append(f'{where}: zero point is not 0; TensorRT needs symmetric '
                            'quantization (ActivationSymmetric/WeightSymmetric)')
    return problems


def check_model(model: Union[onnx.ModelProto, str, Path],
                table: Optional[Mapping[str, Any]] = None) -> list[str]:
    """
    Return what TensorRT 10's ONNX parser would refuse in ``model``; empty means none found.

    Each problem names the node (op type and name), what is wrong and, where there is one
    obvious fix, the fix. Types are checked on each node's first (data) input, since the
    table lists the data types an operator accepts, not those of its shape/index inputs.
    """
    if not isinstance(model, onnx.ModelProto):
        model = onnx.load(str(model), load_external_data=False)
    table = table if table is not None else load_table()
    ops: Mapping[str, Any] = table['ops']
    lo, hi = table['opset_range']
    problems: list[str] = []
    opset = next((o.version for o in model.opset_import if o.domain in ('', 'ai.onnx')), None)
    if opset is None:
        problems.append('the model imports no default-domain opset')
        opset = hi
    elif not lo <= opset <= hi:
        problems.append(f"opset {opset} is outside the parser's range {lo}..{hi}; re-export "
                        f'with an opset in that range (e.g. 17)')
    types = _elem_types(model)
    constants = _constants(model.graph)
    for where, node in _walk(model.graph):
        if node.domain not in ('', 'ai.onnx'):
            problems.append(f'{where}: custom domain "{node.domain}" needs a TensorRT plugin')
            continue
        entry = ops.get(node.op_type)
        if entry is None:
            problems.append(f'{where}: operator not in the TensorRT 10 ONNX parser table')
            continue
        if not entry['supported']:
            problems.append(f'{where}: operator not supported by the TensorRT 10 ONNX parser')
            continue
        allowed = {_TABLE_TYPO.get(t, t) for t in entry['types']}
        first = node.input[0] if node.input else ''
        if first in types and allowed:
            name = type_name(types[first])
            if name not in allowed and name != 'UINT8':   # uint8 has its own rule below
                problems.append(f'{where}: input type {name} not supported (TensorRT: '
                                f'{", ".join(sorted(allowed))})')
        restrictions = entry.get('restrictions', '')
        if '`axes` must be' in restrictions:
            idx = _axes_index(node.op_type, opset)
            if idx is not None and len(node.input) > idx and node.input[idx] \
                    and node.input[idx] not in constants:
                problems.append(f'{where}: "axes" must be a constant/initializer for '
                                f'TensorRT, got the computed tensor "{node.input[idx]}"')
        if node.op_type == 'Resize':
            problems += [f'{where}: {p}' for p in _resize_problems(node)]
    problems += _uint8_problems(model, types)
    problems += _zero_point_problems(model)
    return problems


def model_precision(model: Union[onnx.ModelProto, str, Path]) -> str:
    """
    Return the precision an ONNX graph carries itself: 'int8' (Q/DQ), 'fp16' or 'fp32'.

    'int8-cpu' is ONNX Runtime's CPU form (``QLinearConv`` and friends, com.microsoft
    operators, uint8 activations), which TensorRT cannot build. ``seg-ros export
    --precision`` records the precision in ``seg_ros.precision``; graphs from elsewhere are
    recognised by their QLinear*/com.microsoft nodes, QuantizeLinear nodes or float16
    initializers.
    """
    if not isinstance(model, onnx.ModelProto):
        model = onnx.load(str(model), load_external_data=False)
    props = {p.key: p.value for p in model.metadata_props}
    recorded = props.get('seg_ros.precision', '')
    if recorded in ('fp32', 'fp16', 'int8', 'int8-cpu'):
        return recorded
    if any(n.op_type.startswith('QLinear') or n.domain == 'com.microsoft'
           for n in model.graph.node):
        return 'int8-cpu'
    if any(n.op_type in ('QuantizeLinear', 'DequantizeLinear') for n in model.graph.node):
        return 'int8'
    if any(i.data_type == TensorProto.FLOAT16 for i in model.graph.initializer):
        return 'fp16'
    return 'fp32'
