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
Typed exports (``seg-ros export --precision fp16|int8``): graph structure and CamVid accuracy.

The fp16 and int8 exports of ``espnet_camvid`` are made once per session (kept in pytest's
cache between runs) and checked for what TensorRT 10 and 11 need (float16 only between float32
edges; symmetric int8 Q/DQ with float biases; uint8 labels cast from float; the TensorRT 10
parser table) and for what they cost: CamVid val mIoU through ONNX Runtime, int8 (TensorRT's
Q/DQ form) and int8-cpu (ONNX Runtime's QLinear form) within 1.0 point of fp32 and fp16
within 0.3 (measured: 70.10 / 70.10 / 69.94 / see BENCHMARKS.md).
"""
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper, TensorProto
import pytest

from seg_ros.inference import contract
from seg_ros.inference.tensorrt import trt_compat
from seg_ros.offline import metrics
from seg_ros.tools import cli

CAMVID_SCORED = range(11)


@pytest.fixture(scope='module')
def fp16_onnx(zoo_export, assets: Path) -> str:
    return zoo_export('espnet_camvid', precision='fp16')


@pytest.fixture(scope='module')
def int8_onnx(zoo_export, assets: Path) -> str:
    return zoo_export('espnet_camvid', precision='int8',
                      calib_dir=str(assets / 'data' / 'camvid' / 'calib'))


@pytest.fixture(scope='module')
def int8_cpu_onnx(zoo_export, assets: Path) -> str:
    return zoo_export('espnet_camvid', precision='int8-cpu',
                      calib_dir=str(assets / 'data' / 'camvid' / 'calib'))


def _producers(model: onnx.ModelProto) -> dict:
    return {out: n for n in model.graph.node for out in n.output}


def _check_edges(model: onnx.ModelProto) -> None:
    """uint8 image in, uint8 labels from Cast(float), metadata kept, TensorRT table clean."""
    assert [i.type.tensor_type.elem_type for i in model.graph.input] == [TensorProto.UINT8]
    labels = _producers(model)['labels']
    before = _producers(model)[labels.input[0]]
    assert labels.op_type == before.op_type == 'Cast'
    assert before.attribute[0].i == TensorProto.FLOAT and before.input[0].startswith('/ArgMax')
    assert trt_compat.check_model(model) == []


@pytest.mark.slow
def test_fp16_graph_is_half_between_float32_edges(fp16_onnx):
    model = onnx.load(fp16_onnx)
    _check_edges(model)
    info = contract.check_onnx(fp16_onnx)
    assert info.metadata[contract.KEY_PRECISION] == 'fp16'
    assert trt_compat.model_precision(model) == 'fp16'
    types = {i.name: i.data_type for i in model.graph.initializer}
    assert types['norm_weight'] == TensorProto.FLOAT        # normalisation stays float32
    convs = [n for n in model.graph.node if n.op_type == 'Conv' and n.input[1] in types]
    half = [n for n in convs if types[n.input[1]] == TensorProto.FLOAT16]
    assert len(half) == len(convs) - 1                      # every network conv is float16
    casts = [n for n in model.graph.node if n.op_type == 'Cast']
    # image->float, float->half after the normalisation, half->float before the logits'
    # resize, ArgMax->float->uint8: no float16<->float32 round trips.
    assert len(casts) == 5, [(c.name, c.attribute[0].i) for c in casts]


@pytest.mark.slow
def test_int8_graph_has_symmetric_qdq_where_tensorrt_fuses_it(int8_onnx):
    model = onnx.load(int8_onnx)
    _check_edges(model)
    info = contract.check_onnx(int8_onnx)
    assert info.metadata[contract.KEY_PRECISION] == 'int8'
    assert info.metadata[contract.KEY_CALIBRATION].startswith('32 frames from ')
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    producers = _producers(model)
    quantized_convs = 0
    for node in model.graph.node:
        if node.op_type in ('QuantizeLinear', 'DequantizeLinear'):
            zp = inits[node.input[2]]
            assert zp.dtype == np.int8 and not zp.any(), node.name   # symmetric, int8
        if node.op_type in ('Conv', 'ConvTranspose'):
            data, weight = (producers.get(t) for t in node.input[:2])
            if node.input[1] == 'norm_weight':     # the normalisation stays float32
                assert data is None or data.op_type != 'DequantizeLinear'
                continue
            assert data.op_type == weight.op_type == 'DequantizeLinear', node.name
            assert inits[weight.input[0]].dtype == np.int8
            assert inits[weight.input[1]].size == inits[weight.input[0]].shape[
                0 if node.op_type == 'Conv' else 1]          # per output channel
            if len(node.input) > 2:                          # bias stays float for TensorRT
                assert node.input[2] in inits and inits[node.input[2]].dtype == np.float32
            quantized_convs += 1
    assert quantized_convs == 85


def _evaluate(models: dict, val: Path, annot: Path) -> dict:
    """Return each model's 12x12 CamVid confusion matrix, frames read once."""
    import cv2

    from seg_ros.inference.backend import BackendOptions
    from seg_ros.inference.loader import create_backend

    backends = {k: create_backend('onnxruntime', p, BackendOptions()) for k, p in models.items()}
    cms = {k: np.zeros((12, 12), np.int64) for k in models}
    for path in sorted(val.glob('*.png')):
        rgb = np.ascontiguousarray(cv2.imread(str(path), cv2.IMREAD_COLOR)[:, :, ::-1])
        gt = cv2.imread(str(annot / path.name), cv2.IMREAD_UNCHANGED)
        for k, backend in backends.items():
            cms[k] += metrics.confusion_matrix(backend.infer(rgb).labels, gt, 12,
                                               ignore_index=11)
    return cms


@pytest.mark.slow
def test_precision_costs_on_camvid_val(camvid_onnx, fp16_onnx, int8_onnx, int8_cpu_onnx,
                                       camvid_val):
    val, annot = camvid_val
    assert len(list(val.glob('*.png'))) == 101
    cms = _evaluate({'fp32': camvid_onnx, 'fp16': fp16_onnx, 'int8': int8_onnx,
                     'int8-cpu': int8_cpu_onnx}, val, annot)
    miou = {k: 100 * metrics.mean_iou(cm, classes=CAMVID_SCORED) for k, cm in cms.items()}
    print('\nespnet_camvid CamVid val mIoU: ' + ', '.join(f'{k} {v:.2f}' for k, v in miou.items()))
    assert miou['fp32'] >= 69.9
    assert abs(miou['fp16'] - miou['fp32']) <= 0.3
    assert miou['fp32'] - miou['int8'] <= 1.0
    assert miou['fp32'] - miou['int8-cpu'] <= 1.0


def test_export_cli_checks_precision_options_first(tmp_path, capsys):
    out = str(tmp_path / 'm.onnx')
    assert cli.main(['export', 'espnet_camvid', '-o', out, '--precision', 'int8']) == 1
    assert '--precision int8 needs calibration frames: pass --calib DIR' in \
        capsys.readouterr().err
    assert cli.main(['export', 'espnet_camvid', '-o', out, '--precision', 'fp16',
                     '--calib', str(tmp_path)]) == 1
    assert '--calib is only used by --precision int8' in capsys.readouterr().err
    assert cli.main(['export', 'espnet_camvid', '-o', out, '--precision', 'int8',
                     '--calib', str(tmp_path)]) == 1
    assert 'holds no images' in capsys.readouterr().err
