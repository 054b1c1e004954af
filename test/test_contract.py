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

"""The model contract and the ONNX Runtime backend on tiny real models."""
import json
import re

import numpy as np
import onnx
from onnx import helper, TensorProto
import pytest
from seg_ros.inference import contract
from seg_ros.inference.backend import BackendError, BackendOptions
from seg_ros.inference.loader import create_backend
from seg_ros.testing.synthetic import passthrough_model, save_passthrough

CLASSES = ['road', 'car', 'person']


@pytest.fixture
def model_path(tmp_path):
    return save_passthrough(str(tmp_path / 'p.onnx'), CLASSES, with_confidence=True)


def test_passthrough_model_meets_contract(model_path):
    info = contract.check_onnx(model_path)
    assert info.classes == tuple(CLASSES) and info.has_confidence
    assert info.palette.shape == (3, 3) and info.palette.dtype == np.uint8


def test_onnxruntime_backend_runs_any_size(model_path):
    backend = create_backend('onnxruntime', model_path, BackendOptions(threads=1))
    for h, w in [(360, 480), (481, 641), (1, 1)]:
        frame = np.zeros((h, w, 3), np.uint8)
        frame[..., 0] = np.arange(w) % 3
        result = backend.infer(frame)
        assert result.labels.shape == (h, w) and result.labels.dtype == np.uint8
        np.testing.assert_array_equal(result.labels, frame[..., 0])
        assert result.confidence.shape == (h, w)
    assert 'CPUExecutionProvider' in backend.describe()


def test_backend_rejects_bad_frames(model_path):
    backend = create_backend('onnxruntime', model_path)
    with pytest.raises(ValueError, match='expected a'):
        backend.infer(np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match='empty frame'):
        backend.infer(np.zeros((0, 4, 3), np.uint8))


def test_missing_and_broken_model_files(tmp_path):
    with pytest.raises(BackendError, match='model file not found: .*nope.onnx'):
        create_backend('onnxruntime', str(tmp_path / 'nope.onnx'))
    broken = tmp_path / 'broken.onnx'
    broken.write_bytes(b'this is not protobuf')
    with pytest.raises(BackendError, match='cannot load model .*broken.onnx'):
        create_backend('onnxruntime', str(broken))
    with pytest.raises(BackendError, match='no model given'):
        create_backend('onnxruntime', '')
    with pytest.raises(BackendError, match='unknown backend "tflite"'):
        create_backend('tflite', str(broken))


def _model(inputs, outputs, props):
    nodes = [helper.make_node('Identity', [inputs[0].name], [outputs[0].name])]
    graph = helper.make_graph(nodes, 'g', inputs, outputs)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 17)])
    m.ir_version = 8
    helper.set_model_props(m, props)
    return m


GOOD_PROPS = {contract.KEY_CLASSES: json.dumps(CLASSES)}


@pytest.mark.parametrize('inp, out, expected', [
    (('img', TensorProto.UINT8, [1, 'H', 'W', 3]), ('labels', TensorProto.UINT8, [1, 'H', 'W']),
     'exactly one input named "image"'),
    (('image', TensorProto.FLOAT, [1, 'H', 'W', 3]), ('labels', TensorProto.FLOAT, [1, 'H', 'W']),
     'input "image" must be uint8'),
    (('image', TensorProto.UINT8, [1, 3, 'H', 'W']), ('labels', TensorProto.UINT8, [1, 'H', 'W']),
     r'must be \[1, H, W, 3\]'),
    (('image', TensorProto.UINT8, [1, 'H', 'W', 3]), ('out', TensorProto.UINT8, [1, 'H', 'W']),
     'no output named "labels"'),
    (('image', TensorProto.UINT8, [1, 'H', 'W', 3]), ('labels', TensorProto.FLOAT, [1, 'H', 'W']),
     'output "labels" must be uint8 or int32'),
])
def test_io_violations_are_explained(tmp_path, inp, out, expected):
    m = _model([helper.make_tensor_value_info(*inp)], [helper.make_tensor_value_info(*out)],
               GOOD_PROPS)
    path = str(tmp_path / 'm.onnx')
    onnx.save(m, path)
    with pytest.raises(contract.ContractError, match=expected):
        contract.check_onnx(path)


@pytest.mark.parametrize('props, expected', [
    ({}, 'has no "seg_ros.classes"'),
    ({contract.KEY_CLASSES: '["a", "a"]'}, 'duplicate class names'),
    ({contract.KEY_CLASSES: '["a"]', contract.KEY_PALETTE: '[[1, 2]]'}, 'triplets'),
    ({contract.KEY_CLASSES: 'road, car'}, 'not valid JSON'),
    ({contract.KEY_CLASSES: json.dumps([str(i) for i in range(300)])}, 'at most 256'),
])
def test_metadata_violations_are_explained(tmp_path, props, expected):
    m = passthrough_model(CLASSES)
    del m.metadata_props[:]
    helper.set_model_props(m, props)
    path = str(tmp_path / 'm.onnx')
    onnx.save(m, path)
    with pytest.raises(contract.ContractError, match=expected):
        contract.check_onnx(path)
    with pytest.raises(BackendError, match=expected):
        create_backend('onnxruntime', path)


def test_default_palette_distinct():
    pal = contract.default_palette(21)
    assert len({tuple(c) for c in pal.tolist()}) == 21


def test_encode_metadata_round_trip():
    props = contract.encode_metadata(CLASSES, [[1, 2, 3]] * 3, dataset='toy', input_size='[8, 8]')
    classes, palette = contract.parse_metadata(props)
    assert classes == tuple(CLASSES) and palette.tolist() == [[1, 2, 3]] * 3
    assert props['seg_ros.dataset'] == 'toy'
    m = passthrough_model(CLASSES)
    assert {p.key for p in m.metadata_props} >= {contract.KEY_CLASSES, contract.KEY_PALETTE}


def test_confidence_branch_cut_when_not_fetched(model_path):
    """Without confidence, the session holds only the labels branch (ORT runs every node)."""
    full = create_backend('onnxruntime', model_path)
    lean = create_backend('onnxruntime', model_path, BackendOptions(confidence=False))
    assert [o.name for o in full.session.get_outputs()] == ['labels', 'confidence']
    assert [o.name for o in lean.session.get_outputs()] == ['labels']
    assert lean.info.has_confidence and lean.info.classes == tuple(CLASSES)
    frame = np.zeros((5, 7, 3), np.uint8)
    frame[..., 0] = 2
    result = lean.infer(frame)
    assert result.confidence is None and (result.labels == 2).all()


@pytest.mark.parametrize('palette, match', [
    ('[[1, 2, 3], [4, 5, 6], [7, 8, 1' + '0' * 400 + ']]', 'entry 2'),
    ('[[1, 2, 3], [4, 5, 6], [7, 8, -1]]', 'entry 2'),
    ('[[1, 2, 3], [4, 5, 6], [7, 8, 9.5]]', 'entry 2'),
    ('[[1, 2, 3], [4, 5, 6]]', 'got 2 entries'),
    ('{"r": 1}', 'got dict'),
    ('[' * 5000 + ']' * 5000, 'not a JSON list'),
])
def test_palette_metadata_bounded_before_use(palette, match):
    """A huge number raised OverflowError in NumPy and killed the worker; now it is named."""
    props = {contract.KEY_CLASSES: '["a", "b", "c"]', contract.KEY_PALETTE: palette}
    with pytest.raises(contract.ContractError, match=match):
        contract.parse_metadata(props)


@pytest.mark.parametrize('size', ['[0, 8]', '[1e400, 8]', '[99999, 8]', '"big"', '[8]'])
def test_input_size_metadata_bounded(size):
    props = {contract.KEY_CLASSES: '["a"]', contract.KEY_INPUT_SIZE: size}
    with pytest.raises(contract.ContractError, match='seg_ros.input_size'):
        contract.parse_metadata(props)


def test_a_model_path_that_is_no_regular_file_says_what_it_is(tmp_path):
    """/dev/zero, a directory and a FIFO were all 'model file not found'."""
    import os

    fifo = tmp_path / 'pipe.onnx'
    os.mkfifo(fifo)
    for path, what in (('/dev/zero', 'a character device'), (str(tmp_path), 'a directory'),
                       (str(fifo), 'a FIFO (named pipe)')):
        with pytest.raises(BackendError, match=f'model_path {path} is {re.escape(what)}, not a '
                           'model file'):
            create_backend('onnxruntime', path)
