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

"""The TensorRT-compatibility walk on small graphs whose verdict is known."""
from pathlib import Path

import numpy as np
from onnx import helper, numpy_helper, TensorProto
import pytest

from seg_ros.inference.tensorrt import trt_compat
from seg_ros.testing import synthetic


@pytest.fixture(scope='module')
def table(trt_ops_table: Path) -> dict:
    """Return the TensorRT 10 ONNX parser table from the shared assets."""
    return trt_compat.load_table(trt_ops_table)


def _model(nodes, inits=(), out_type=TensorProto.UINT8, opset=17, in_type=TensorProto.UINT8):
    graph = helper.make_graph(
        nodes, 'g', [helper.make_tensor_value_info('image', in_type, [1, 'H', 'W', 3])],
        [helper.make_tensor_value_info('labels', out_type, [1, 'H', 'W'])],
        initializer=list(inits))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid('', opset)])


def _contract_like() -> list:
    """Cast first, float work, ArgMax, Cast(FLOAT), Cast(UINT8) last: what export produces."""
    return [helper.make_node('Cast', ['image'], ['x'], to=TensorProto.FLOAT),
            helper.make_node('ArgMax', ['x'], ['idx'], axis=3, keepdims=0),
            helper.make_node('Cast', ['idx'], ['idx_f'], to=TensorProto.FLOAT),
            helper.make_node('Cast', ['idx_f'], ['labels'], to=TensorProto.UINT8)]


def test_contract_like_graph_passes(table):
    assert trt_compat.check_model(_model(_contract_like()), table) == []


def test_uint8_labels_cast_straight_from_argmax_is_flagged(table):
    """Defect 8: TensorRT's headers refuse UINT8 from INT32/INT64; the fix is named."""
    nodes = _contract_like()[:2] + [helper.make_node('Cast', ['idx'], ['labels'],
                                                     to=TensorProto.UINT8)]
    problems = trt_compat.check_model(_model(nodes), table)
    assert len(problems) == 1 and 'cast from INT64' in problems[0], problems
    assert 'ArgMax -> Cast(FLOAT) -> Cast(UINT8)' in problems[0]


def test_nonzero_quantization_zero_point_is_flagged(table):
    scale = numpy_helper.from_array(np.array(0.1, np.float32), 's')
    zp = numpy_helper.from_array(np.array(3, np.int8), 'zp')
    nodes = [helper.make_node('Cast', ['image'], ['x'], to=TensorProto.FLOAT),
             helper.make_node('QuantizeLinear', ['x', 's', 'zp'], ['q']),
             helper.make_node('DequantizeLinear', ['q', 's', 'zp'], ['dq'])] + [
        helper.make_node('ArgMax', ['dq'], ['idx'], axis=3, keepdims=0),
        helper.make_node('Cast', ['idx'], ['idx_f'], to=TensorProto.FLOAT),
        helper.make_node('Cast', ['idx_f'], ['labels'], to=TensorProto.UINT8)]
    problems = trt_compat.check_model(_model(nodes, [scale, zp]), table)
    assert len(problems) == 2 and all('zero point is not 0' in p for p in problems), problems
    zp.CopyFrom(numpy_helper.from_array(np.array(0, np.int8), 'zp'))
    assert trt_compat.check_model(_model(nodes, [scale, zp]), table) == []
    model = _model(nodes, [scale, zp])
    assert trt_compat.model_precision(model) == 'int8'


def test_int32_labels_pass(table):
    nodes = _contract_like()[:2] + [helper.make_node('Cast', ['idx'], ['labels'],
                                                     to=TensorProto.INT32)]
    assert trt_compat.model_precision(_model(nodes, out_type=TensorProto.INT32)) == 'fp32'
    assert trt_compat.check_model(_model(nodes, out_type=TensorProto.INT32), table) == []


def test_op_on_uint8_input_is_flagged(table):
    nodes = [helper.make_node('Transpose', ['image'], ['t'], perm=[0, 3, 1, 2])] + [
        helper.make_node('Cast', ['t'], ['x'], to=TensorProto.FLOAT),
        helper.make_node('ArgMax', ['x'], ['idx'], axis=1, keepdims=0),
        helper.make_node('Cast', ['idx'], ['labels'], to=TensorProto.UINT8)]
    problems = trt_compat.check_model(_model(nodes), table)
    assert any('Transpose' in p and 'reads uint8' in p for p in problems), problems
    assert any('intermediate uint8 tensor "t"' in p for p in problems), problems


def test_uint8_output_not_from_cast_is_flagged(table):
    nodes = _contract_like()[:2] + [
        helper.make_node('Cast', ['idx'], ['l8'], to=TensorProto.UINT8),
        helper.make_node('Identity', ['l8'], ['labels'])]
    problems = trt_compat.check_model(_model(nodes), table)
    assert any('uint8 output "labels" comes from Identity' in p for p in problems), problems
    assert any('"l8"' in p for p in problems), problems


def test_uint8_initializer_is_flagged(table):
    nodes = [helper.make_node('Cast', ['image'], ['x'], to=TensorProto.FLOAT),
             helper.make_node('Cast', ['lut'], ['lutf'], to=TensorProto.FLOAT),
             helper.make_node('Add', ['x', 'lutf'], ['y']),
             helper.make_node('ArgMax', ['y'], ['idx'], axis=3, keepdims=0),
             helper.make_node('Cast', ['idx'], ['labels'], to=TensorProto.UINT8)]
    inits = [numpy_helper.from_array(np.zeros(3, np.uint8), 'lut')]
    problems = trt_compat.check_model(_model(nodes, inits), table)
    assert any('initializer "lut" is uint8' in p for p in problems), problems


def test_synthetic_models_are_tensorrt_clean(table):
    """The tiny test models keep uint8 at the edges, so they can serve the TensorRT path too."""
    for kwargs in ({}, {'with_confidence': True}, {'extra_matmuls': 2, 'matmul_size': 8}):
        model = synthetic.passthrough_model(['a', 'b'], **kwargs)
        assert trt_compat.check_model(model, table) == [], kwargs


def test_passthrough_cast_first_and_last_passes(table):
    zero = numpy_helper.from_array(np.array(0, np.int64), 'zero')
    nodes = [helper.make_node('Cast', ['image'], ['i32'], to=TensorProto.INT32),
             helper.make_node('Gather', ['i32', 'zero'], ['red'], axis=3),
             helper.make_node('Cast', ['red'], ['red_f'], to=TensorProto.FLOAT),
             helper.make_node('Cast', ['red_f'], ['labels'], to=TensorProto.UINT8)]
    assert trt_compat.check_model(_model(nodes, [zero]), table) == []


def test_unsupported_and_custom_ops_are_flagged(table):
    nodes = [helper.make_node('Cast', ['image'], ['x'], to=TensorProto.FLOAT),
             helper.make_node('Unique', ['x'], ['u']),
             helper.make_node('MyOp', ['x'], ['y'], domain='com.example'),
             helper.make_node('ArgMax', ['x'], ['idx'], axis=3, keepdims=0),
             helper.make_node('Cast', ['idx'], ['labels'], to=TensorProto.UINT8)]
    model = _model(nodes)
    model.opset_import.append(helper.make_opsetid('com.example', 1))
    problems = trt_compat.check_model(model, table)
    assert any(p.startswith('Unique') and 'not supported' in p for p in problems), problems
    assert any('custom domain "com.example"' in p for p in problems), problems


def test_double_and_opset_are_flagged(table):
    nodes = [helper.make_node('Cast', ['image'], ['x'], to=TensorProto.DOUBLE),
             helper.make_node('Relu', ['x'], ['r']),
             helper.make_node('ArgMax', ['r'], ['idx'], axis=3, keepdims=0),
             helper.make_node('Cast', ['idx'], ['labels'], to=TensorProto.UINT8)]
    problems = trt_compat.check_model(_model(nodes, opset=8), table)
    assert any('opset 8 is outside' in p for p in problems), problems
    assert any(p.startswith('Relu') and 'DOUBLE not supported' in p for p in problems), problems


def test_resize_modes_and_computed_axes(table):
    sizes = numpy_helper.from_array(np.array([1, 3, 64, 64], np.int64), 'sizes')
    nodes = [helper.make_node('Cast', ['image'], ['x'], to=TensorProto.FLOAT),
             helper.make_node('Transpose', ['x'], ['nchw'], perm=[0, 3, 1, 2]),
             helper.make_node('Resize', ['nchw', '', '', 'sizes'], ['r'], mode='cubic',
                              coordinate_transformation_mode='tf_crop_and_resize'),
             helper.make_node('Shape', ['r'], ['shp']),
             helper.make_node('Slice', ['shp', 'one', 'two'], ['ax']),
             helper.make_node('ReduceMax', ['r', 'ax'], ['m'], keepdims=1),
             helper.make_node('ArgMax', ['m'], ['idx'], axis=1, keepdims=0),
             helper.make_node('Cast', ['idx'], ['labels'], to=TensorProto.UINT8)]
    inits = [sizes, numpy_helper.from_array(np.array([1], np.int64), 'one'),
             numpy_helper.from_array(np.array([2], np.int64), 'two')]
    problems = trt_compat.check_model(_model(nodes, inits, opset=18), table)
    assert any('mode "cubic"' in p for p in problems), problems
    assert any('tf_crop_and_resize' in p for p in problems), problems
    assert any(p.startswith('ReduceMax') and '"axes" must be a constant' in p
               for p in problems), problems
    assert not any(p.startswith('Slice') for p in problems), problems


def test_subgraph_nodes_are_walked(table):
    then = helper.make_graph([helper.make_node('Unique', ['x'], ['u'])], 'then', [],
                             [helper.make_tensor_value_info('u', TensorProto.FLOAT, None)])
    other = helper.make_graph([helper.make_node('Identity', ['x'], ['v'])], 'else', [],
                              [helper.make_tensor_value_info('v', TensorProto.FLOAT, None)])
    cond = numpy_helper.from_array(np.array(True), 'cond')
    nodes = [helper.make_node('Cast', ['image'], ['x'], to=TensorProto.FLOAT),
             helper.make_node('If', ['cond'], ['y'], then_branch=then, else_branch=other),
             helper.make_node('ArgMax', ['y'], ['idx'], axis=3, keepdims=0),
             helper.make_node('Cast', ['idx'], ['labels'], to=TensorProto.UINT8)]
    problems = trt_compat.check_model(_model(nodes, [cond]), table)
    assert any('then_branch: Unique' in p for p in problems), problems


def test_missing_table_names_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match='SEG_ROS_ASSETS'):
        trt_compat.load_table(tmp_path / 'nope.json')
