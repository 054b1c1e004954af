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
The two int8 flavours on a small real model: ESPNet (CamVid weights) at a 64x48 network input.

- ``int8`` (TensorRT): symmetric Q/DQ on the inputs of the quantized layers only, the per-layer
  sensitivity pass and the layers it keeps in float32;
- ``int8-cpu`` (ONNX Runtime): QLinear operators, uint8 activations, its metadata, and the
  TensorRT path refusing it.

Calibration uses a handful of CamVid calibration frames so each test takes seconds; the
accuracy of the full-size exports is in test_precision.py.
"""
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper, TensorProto
import onnxruntime as ort
import pytest

from seg_ros.inference import contract
from seg_ros.inference.tensorrt import engine_builder, engine_cache, trt_compat
from seg_ros.tools import cli
from seg_ros.zoo import precision as prec

SMALL = (48, 64)          # network input (height, width): every layer, little arithmetic


@pytest.fixture(scope='module')
def small_fp32(request: pytest.FixtureRequest, assets: Path) -> str:
    from seg_ros.zoo.export import cached_export, ExportError

    cache = getattr(request.config, 'cache', None)
    folder = (cache.mkdir('seg_ros_onnx') if cache is not None
              else request.getfixturevalue('tmp_path_factory').mktemp('seg_ros_onnx'))
    try:
        return cached_export('espnet_camvid', folder, input_size=SMALL)
    except ExportError as exc:
        pytest.skip(f'cannot export espnet_camvid: {exc}')


@pytest.fixture(scope='module')
def calib_files(assets: Path) -> list:
    return prec.list_images(str(assets / 'data' / 'camvid' / 'calib'))[:4]


@pytest.fixture(scope='module')
def int8_kept(small_fp32, calib_files):
    """Return the TensorRT int8 graph (2 most sensitive layers kept float) and its log."""
    lines: list = []
    model = prec.to_int8(onnx.load(small_fp32), calib_files, 'minmax', keep_float=2,
                         sensitivity_frames=2, log=lines.append)
    return model, '\n'.join(lines)


def _producers(model: onnx.ModelProto) -> dict:
    return {out: n for n in model.graph.node for out in n.output}


def _logits(model: onnx.ModelProto, frames: list) -> list:
    tensor = prec._logits_tensor(model)
    sess = ort.InferenceSession(prec._with_output(model, tensor),
                                providers=['CPUExecutionProvider'])
    return [sess.run([tensor], {contract.INPUT: f})[0] for f in frames]


def test_sensitivity_pass_prints_every_int8_layer_most_sensitive_first(small_fp32, int8_kept):
    model, printed = int8_kept
    float_model = onnx.load(small_fp32)
    layers = [n.name for n in float_model.graph.node if n.op_type in ('Conv', 'ConvTranspose')]
    lines = printed.splitlines()
    assert lines[0].startswith('int8 sensitivity (only this layer quantized')
    rows = lines[2:]
    # every network layer once (the normalisation conv is preprocessing and stays float)
    assert len(rows) == len(layers) - 1
    names = [r.split()[3] for r in rows]
    assert sorted(names) == sorted(layers[1:])
    changed = [float(r.split()[1].rstrip('%')) for r in rows]
    sqnr = [float(r.split()[2]) for r in rows]
    assert changed == sorted(changed, reverse=True)
    assert changed[0] > 0 and min(sqnr) < max(sqnr)        # measured, not constant
    kept = [r.split()[3] for r in rows if r.endswith('<- kept float32')]
    assert kept == names[:2]
    props = {p.key: p.value for p in model.metadata_props}
    assert props[contract.KEY_FLOAT_LAYERS] == ','.join(kept)
    # the kept layers really run in float32: float weight, float input
    producers = _producers(model)
    inits = {i.name: i for i in model.graph.initializer}
    for node in (n for n in model.graph.node if n.name in kept):
        assert inits[node.input[1]].data_type == TensorProto.FLOAT
        assert all(producers.get(t) is None or producers[t].op_type != 'DequantizeLinear'
                   for t in node.input)


def test_one_layer_graphs_quantize_that_layer_and_nothing_else(small_fp32, calib_files):
    float_model = onnx.load(small_fp32)
    prec.edge_nodes(float_model)
    with_shared = prec.to_int8(float_model, calib_files, 'minmax', shared_qdq=True)
    frames = list(prec.calibration_frames(calib_files[:1]))
    # no layer quantized: exactly the float32 logits (no Q/DQ left on any path)
    none = prec.only_quantized(with_shared, float_model, [])
    assert not [n for n in none.graph.node if n.op_type == 'DequantizeLinear']
    np.testing.assert_array_equal(_logits(none, frames)[0], _logits(float_model, frames)[0])
    layer = prec.quantized_layers(with_shared)[5]
    one = prec.only_quantized(with_shared, float_model, [layer.name])
    assert [n.name for n in prec.quantized_layers(one)] == [layer.name]


def test_tensorrt_int8_is_symmetric_qdq_on_layer_inputs_only(int8_kept):
    model, _ = int8_kept
    assert trt_compat.check_model(model) == []          # TensorRT 10's parser table
    assert trt_compat.model_precision(model) == 'int8'
    assert not [n for n in model.graph.node
                if n.op_type.startswith('QLinear') or n.domain == 'com.microsoft']
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    consumers: dict = {}
    for node in model.graph.node:
        for t in node.input:
            consumers.setdefault(t, []).append(node)
    dq = [n for n in model.graph.node if n.op_type == 'DequantizeLinear']
    assert dq
    for node in model.graph.node:
        if node.op_type in ('QuantizeLinear', 'DequantizeLinear'):
            zp = inits[node.input[2]]
            assert zp.dtype == np.int8 and not zp.any(), node.name     # signed, symmetric
    for node in dq:     # only a quantized layer reads a dequantized tensor: no residual Add,
        for reader in consumers[node.output[0]]:             # Concat or logits in int8
            assert reader.op_type in prec.QUANTIZED_OPS, (node.name, reader.op_type)


def test_int8_cpu_export_is_onnxruntime_quantized_and_refused_by_tensorrt(
        small_fp32, calib_files, assets, tmp_path, capsys):
    out = str(tmp_path / 'cpu.onnx')
    calib = str(assets / 'data' / 'camvid' / 'calib')
    assert cli.main(['export', 'espnet_camvid', '--input-size', '64x48', '--precision',
                     'int8-cpu', '--calib', calib, '--calib-count', '4', '--calib-method',
                     'minmax', '-o', out]) == 0
    printed = capsys.readouterr().out
    assert 'precision int8-cpu' in printed
    info = contract.check_onnx(out)                       # the contract still holds
    assert info.metadata[contract.KEY_PRECISION] == 'int8-cpu'
    assert info.metadata[contract.KEY_CALIBRATION].startswith('4 frames from ')
    vnni = prec.has_vnni()
    expected = 'on' if vnni is False else 'off'
    assert f'reduce_range {expected}' in info.metadata[contract.KEY_CPU_QUANT]
    model = onnx.load(out)
    ops = [n.op_type for n in model.graph.node]
    assert ops.count('QLinearConv') > 0
    # float convolutions: the normalisation and exactly those the speed pass lists as kept
    note = info.metadata[contract.KEY_CPU_QUANT]
    assert 'kept float32 by the speed pass' in note
    kept = note.split(': ', 1)[1].split(', ') if 'by the speed pass: ' in note else []
    pre, _ = prec.edge_nodes(onnx.load(small_fp32))
    floats = {n.name for n in model.graph.node if n.op_type == 'Conv'}
    assert floats == ({n for n in pre if n in floats} | set(kept)) and len(floats) == 1 + len(kept)
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    conv = next(n for n in model.graph.node if n.op_type == 'QLinearConv')
    assert inits[conv.input[2]].dtype == np.uint8          # activation zero point: U8
    assert inits[conv.input[5]].dtype == np.int8           # weight zero point: S8
    assert inits[conv.input[3]].dtype == np.int8
    # it labels frames like the float32 model does, nearly everywhere
    frame = next(prec.calibration_frames(calib_files[-1:]))
    labels = [ort.InferenceSession(p, providers=['CPUExecutionProvider'])
              .run([contract.LABELS], {contract.INPUT: frame})[0] for p in (small_fp32, out)]
    assert np.mean(labels[0] == labels[1]) > 0.9
    # TensorRT refuses it, naming the export it wants
    assert trt_compat.model_precision(out) == 'int8-cpu'
    with pytest.raises(engine_builder.EngineBuildError, match='--precision int8'):
        engine_builder.prepare_settings(out, engine_cache.BuildSettings())
    assert cli.main(['build-engine', out, '--check']) == 1
    assert 'TensorRT cannot build; export with --precision int8' in capsys.readouterr().out
    # and recognises the form without the metadata too
    del model.metadata_props[:]
    assert trt_compat.model_precision(model) == 'int8-cpu'


def test_int8_options_are_checked_before_exporting(tmp_path, capsys):
    out = str(tmp_path / 'm.onnx')
    assert cli.main(['export', 'espnet_camvid', '-o', out, '--precision', 'int8-cpu']) == 1
    assert '--precision int8-cpu needs calibration frames' in capsys.readouterr().err
    assert cli.main(['export', 'espnet_camvid', '-o', out, '--precision', 'fp16',
                     '--keep-float', '2']) == 1
    assert '--keep-float is only used by --precision int8' in capsys.readouterr().err


def _network_convs(model: onnx.ModelProto) -> set:
    pre, post = prec.edge_nodes(model)
    return {n.name for n in model.graph.node
            if n.op_type == 'Conv' and n.name not in pre + post}


def test_int8_cpu_keeps_the_named_convolutions_float(small_fp32, calib_files):
    fp32 = onnx.load(small_fp32)
    convs = sorted(_network_convs(fp32))
    keep = [convs[0], convs[-1]]
    model = prec.to_int8_cpu(fp32, calib_files, 'minmax', speed_pass=False, keep_float=keep)
    floats = _network_convs(model)
    quantized = {prec.source_node(n.name) for n in model.graph.node if n.op_type == 'QLinearConv'}
    assert floats == set(keep)
    assert quantized == set(convs) - set(keep)
    note = {p.key: p.value for p in model.metadata_props}[contract.KEY_CPU_QUANT]
    assert note.endswith(f'2 convolutions kept float32: {", ".join(sorted(keep))}')


def test_speed_pass_matches_session_nodes_to_graph_convolutions(small_fp32, calib_files):
    """ONNX Runtime renames the nodes it rewrites: every convolution must still be found."""
    fp32 = onnx.load(small_fp32)
    convs = _network_convs(fp32)
    int8 = prec.to_int8_cpu(fp32, calib_files, 'minmax', speed_pass=False)
    frames = list(prec.calibration_frames(calib_files[:1]))
    float_ms = prec.profile_node_ms(small_fp32, frames, runs=1)
    int8_ms = prec.profile_node_ms(int8, frames, runs=1)
    assert all(ms >= 0 for _, ms in list(float_ms.values()) + list(int8_ms.values()))
    assert {prec.source_node(n) for n, (op, _) in int8_ms.items() if op == 'QLinearConv'} == convs
    assert convs <= {prec.source_node(n) for n, (op, _) in float_ms.items()
                     if op in ('Conv', 'FusedConv')}
    # the choice: int8 no faster (ties too) -> kept float; faster by any margin -> quantized
    conv_ms = {prec.source_node(n): ms for n, (op, ms) in float_ms.items()
               if op in ('Conv', 'FusedConv')}
    tie = {f'{c}_quant_token_{i}': ('QLinearConv', conv_ms[c]) for i, c in enumerate(convs)}
    faster = {f'{c}_quant': ('QLinearConv', conv_ms[c] - 1e-3) for c in convs}
    one = sorted(convs)[0]
    mixed = {**faster, f'{one}_quant': ('QLinearConv', conv_ms[one] + 1.0)}
    assert prec.slower_int8_layers(float_ms, tie) == sorted(convs)
    assert prec.slower_int8_layers(float_ms, faster) == []
    assert prec.slower_int8_layers(float_ms, mixed) == [one]
    assert prec.source_node('/net/a/Conv_output_0_nchwc') == '/net/a/Conv'
    assert prec.source_node('/net/a/Conv_quant_token_12') == '/net/a/Conv'
    assert prec.source_node('/net/a/Conv_quant') == '/net/a/Conv'
    assert prec.source_node('/net/a/Conv_token_130') == '/net/a/Conv'     # QDQ fused
