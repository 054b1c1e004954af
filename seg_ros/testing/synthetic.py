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
Tiny contract models built with onnx.helper, for tests, benchmarks of the plumbing and demos.

``passthrough`` returns the red channel as the class id, so a test can publish any label image
(as the R channel of an RGB frame) and know exactly what the node must publish. ``extra_matmuls``
adds fixed work that does not depend on the frame, to make a model deliberately slow (overload
and frame-dropping tests) without a real network. ``ballast_mb`` adds a large weight of which
the graph reads one element per frame: a model that costs memory but no time, to check that
memory is released. ``paced_model`` takes as long as the frame asks (its first pixel's green
value): one model gives a test quick frames and frames that run for many seconds, to shut down,
deactivate or reconfigure the node in the middle of an inference.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto

from seg_ros.inference import contract


def passthrough_model(classes: Sequence[str], palette: Optional[Sequence[Sequence[int]]] = None,
                      extra_matmuls: int = 0, matmul_size: int = 256,
                      with_confidence: bool = False, name: str = 'passthrough',
                      opset: int = 17, confidence_channel: Optional[int] = None,
                      ballast_mb: int = 0) -> onnx.ModelProto:
    """
    Labels = R channel of the input (values must be < len(classes) to be meaningful).

    ``with_confidence`` adds a ``confidence`` output of 1.0 everywhere; ``confidence_channel``
    (1: G, 2: B) makes it that channel / 255 instead, so a test can paint unsure pixels.
    """
    # uint8 only at the graph's edges (TensorRT's rule): Cast in, work in int32, Cast out.
    nodes = [helper.make_node('Cast', ['image'], ['image_i32'], to=TensorProto.INT32),
             helper.make_node('Gather', ['image_i32', 'zero'], ['labels_raw'], axis=3)]
    inits = [numpy_helper.from_array(np.array(0, np.int64), 'zero')]
    last = 'labels_raw'
    if extra_matmuls:
        rng = np.random.default_rng(0)
        m = (rng.standard_normal((matmul_size, matmul_size)) / matmul_size).astype(np.float32)
        inits.append(numpy_helper.from_array(m, 'w'))
        inits.append(numpy_helper.from_array(np.array(0.0, np.float32), 'fzero'))
        inits.append(numpy_helper.from_array(np.array(1.0, np.float32), 'fone'))
        # Tie the weights to the frame (w * (0 * max + 1)) so constant folding cannot
        # precompute the chain and the work really happens per frame.
        nodes += [helper.make_node('Cast', ['labels_raw'], ['raw_f'], to=TensorProto.FLOAT),
                  helper.make_node('ReduceMax', ['raw_f'], ['raw_max'], keepdims=0),
                  helper.make_node('Mul', ['raw_max', 'fzero'], ['raw_zero']),
                  helper.make_node('Add', ['raw_zero', 'fone'], ['one_dyn']),
                  helper.make_node('Mul', ['w', 'one_dyn'], ['w_dyn'])]
        prev = 'w_dyn'
        for i in range(extra_matmuls):
            nodes.append(helper.make_node('MatMul', [prev, 'w'], [f'mm{i}']))
            prev = f'mm{i}'
        # Fold the work into the output (times zero) so the optimiser cannot drop it.
        nodes += [helper.make_node('ReduceSum', [prev], ['mm_sum'], keepdims=0),
                  helper.make_node('Mul', ['mm_sum', 'fzero'], ['mm_zero']),
                  helper.make_node('Cast', ['mm_zero'], ['mm_i32'], to=TensorProto.INT32),
                  helper.make_node('Add', ['labels_raw', 'mm_i32'], ['labels_work'])]
        last = 'labels_work'
    if ballast_mb:
        # Random bytes (not compressible, not constant-foldable: the index depends on the frame).
        values = np.random.default_rng(1).integers(0, 100, ballast_mb << 20, np.uint8)
        inits += [numpy_helper.from_array(values.view(np.int32), 'ballast'),
                  numpy_helper.from_array(np.array(0, np.int32), 'izero')]
        nodes += [helper.make_node('ReduceMax', [last], ['last_max'], keepdims=0),
                  helper.make_node('Mul', ['last_max', 'izero'], ['ballast_index']),
                  helper.make_node('Gather', ['ballast', 'ballast_index'], ['ballast_one']),
                  helper.make_node('Mul', ['ballast_one', 'izero'], ['ballast_zero']),
                  helper.make_node('Add', [last, 'ballast_zero'], ['labels_ballast'])]
        last = 'labels_ballast'
    # int32 -> float -> uint8: TensorRT documents uint8 casts from float only.
    nodes += [helper.make_node('Cast', [last], ['labels_f'], to=TensorProto.FLOAT),
              helper.make_node('Cast', ['labels_f'], ['labels'], to=TensorProto.UINT8)]
    outputs = [helper.make_tensor_value_info('labels', TensorProto.UINT8, [1, 'H', 'W'])]
    if confidence_channel is not None:
        inits += [numpy_helper.from_array(np.array(confidence_channel, np.int64), 'conf_ch'),
                  numpy_helper.from_array(np.array(1.0 / 255.0, np.float32), 'inv255')]
        nodes += [helper.make_node('Gather', ['image_i32', 'conf_ch'], ['conf_i32'], axis=3),
                  helper.make_node('Cast', ['conf_i32'], ['conf_f'], to=TensorProto.FLOAT),
                  helper.make_node('Mul', ['conf_f', 'inv255'], ['confidence'])]
        outputs.append(helper.make_tensor_value_info('confidence', TensorProto.FLOAT,
                                                     [1, 'H', 'W']))
    elif with_confidence:
        inits.append(numpy_helper.from_array(np.array(1.0, np.float32), 'one'))
        nodes += [helper.make_node('Cast', ['labels_raw'], ['lab_f'], to=TensorProto.FLOAT),
                  helper.make_node('Mul', ['lab_f', 'fzero_c'], ['zeros_f']),
                  helper.make_node('Add', ['zeros_f', 'one'], ['confidence'])]
        inits.append(numpy_helper.from_array(np.array(0.0, np.float32), 'fzero_c'))
        outputs.append(helper.make_tensor_value_info('confidence', TensorProto.FLOAT,
                                                     [1, 'H', 'W']))
    graph = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info('image', TensorProto.UINT8, [1, 'H', 'W', 3])],
        outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', opset)],
                              producer_name='seg_ros.testing.synthetic')
    model.ir_version = 8
    props = contract.encode_metadata(
        classes, palette if palette is not None else contract.default_palette(len(classes)),
        name=name, architecture='passthrough')
    helper.set_model_props(model, props)
    onnx.checker.check_model(model)
    return model


def save_passthrough(path: str, classes: Sequence[str], **kwargs: object) -> str:
    """Write a passthrough model to ``path`` and return the path."""
    onnx.save(passthrough_model(classes, **kwargs), path)  # type: ignore[arg-type]
    return path


def paced_model(classes: Sequence[str], unit: int = 512, steps_per_level: int = 64,
                name: str = 'paced', load_nodes: int = 0) -> onnx.ModelProto:
    """
    Labels = R channel, after ``G[0, 0] * steps_per_level`` matrix products of ``unit`` size.

    The work is a Loop whose trip count comes from the frame, so it cannot be folded away and
    ONNX Runtime checks its terminate flag between iterations (a run can be cut short). A frame
    whose first pixel has green 0 is answered at once; green 255 takes about sixteen thousand
    steps. ``load_nodes`` adds that many scalar additions, which make loading slow (20000:
    about 2.5 s on one core) and inference hardly slower.
    """
    nodes = [helper.make_node('Cast', ['image'], ['image_i32'], to=TensorProto.INT32),
             helper.make_node('Gather', ['image_i32', 'zero'], ['labels_raw'], axis=3),
             helper.make_node('Slice', ['image', 'g_start', 'g_end'], ['g_px']),
             helper.make_node('Cast', ['g_px'], ['g_i64'], to=TensorProto.INT64),
             helper.make_node('ReduceMax', ['g_i64'], ['g_level'], keepdims=0),
             helper.make_node('Mul', ['g_level', 'steps'], ['trips'])]
    rng = np.random.default_rng(0)
    w = (rng.standard_normal((unit, unit)) / unit).astype(np.float32)
    inits = [numpy_helper.from_array(np.array(0, np.int64), 'zero'),
             numpy_helper.from_array(np.array([0, 0, 0, 1], np.int64), 'g_start'),
             numpy_helper.from_array(np.array([1, 1, 1, 2], np.int64), 'g_end'),
             numpy_helper.from_array(np.array(steps_per_level, np.int64), 'steps'),
             numpy_helper.from_array(np.array(True), 'cond'),
             numpy_helper.from_array(w, 'w'),
             numpy_helper.from_array(np.array(0.0, np.float32), 'fzero')]
    body = helper.make_graph(
        [helper.make_node('Identity', ['cond_in'], ['cond_out']),
         helper.make_node('MatMul', ['acc_in', 'w'], ['acc_out'])],
        'step',
        [helper.make_tensor_value_info('i', TensorProto.INT64, []),
         helper.make_tensor_value_info('cond_in', TensorProto.BOOL, []),
         helper.make_tensor_value_info('acc_in', TensorProto.FLOAT, [unit, unit])],
        [helper.make_tensor_value_info('cond_out', TensorProto.BOOL, []),
         helper.make_tensor_value_info('acc_out', TensorProto.FLOAT, [unit, unit])])
    nodes += [helper.make_node('Loop', ['trips', 'cond', 'w'], ['acc'], body=body),
              # Fold the work into the output (times zero) so the optimiser cannot drop it.
              helper.make_node('ReduceSum', ['acc'], ['acc_sum'], keepdims=0),
              helper.make_node('Mul', ['acc_sum', 'fzero'], ['acc_zero'])]
    last = 'acc_zero'
    for i in range(load_nodes):
        nodes.append(helper.make_node('Add', [last, 'fzero'], [f'load{i}']))
        last = f'load{i}'
    nodes += [helper.make_node('Cast', [last], ['acc_i32'], to=TensorProto.INT32),
              helper.make_node('Add', ['labels_raw', 'acc_i32'], ['labels_work']),
              helper.make_node('Cast', ['labels_work'], ['labels_f'], to=TensorProto.FLOAT),
              helper.make_node('Cast', ['labels_f'], ['labels'], to=TensorProto.UINT8)]
    graph = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info('image', TensorProto.UINT8, [1, 'H', 'W', 3])],
        [helper.make_tensor_value_info('labels', TensorProto.UINT8, [1, 'H', 'W'])],
        initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 17)],
                              producer_name='seg_ros.testing.synthetic')
    model.ir_version = 8
    helper.set_model_props(model, contract.encode_metadata(
        classes, contract.default_palette(len(classes)), name=name, architecture='passthrough'))
    onnx.checker.check_model(model)
    return model
