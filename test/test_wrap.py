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
``seg-ros wrap``: foreign segmentation ONNX files into the contract, checked and run.

The foreign models are real exports built here (:mod:`foreign_models`): torchvision DeepLabV3
and LR-ASPP, Hugging Face SegFormer-B0, one with an argmax output, the zoo's bare ESPNet, plus
hand-written graphs for the shapes no library produces. Exports are cached in pytest's cache
folder, keyed by the library versions and the model builders' source.
"""
import hashlib
import importlib.metadata
import json
from pathlib import Path
import time

import cv2
import foreign_models as fm
import numpy as np
import onnx
from onnx import helper, TensorProto
import onnxruntime as ort
import pytest
from seg_ros.common.files import sha256_file
from seg_ros.inference import contract
from seg_ros.tools import cli
from seg_ros.zoo import foreign, wrap
from seg_ros.zoo.export import probe_frames
from seg_ros.zoo.networks import Normalization

FRAMES = [f[0] for f in probe_frames()]     # (97, 131) and (240, 320) RGB


class ForeignCache:
    """Export each foreign model once per library versions, in pytest's cache folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def get(self, name: str, *args: str) -> str:
        path = self.folder / f'{name}.onnx'
        if not path.is_file():
            tmp = self.folder / f'{name}.tmp.onnx'
            try:
                getattr(fm, name)(str(tmp), *args)
            except ImportError as exc:   # the foreign extra (torchvision, transformers) missing
                pytest.skip(f'{name}: {exc.name} is not installed (pip install ".[test]")')
            tmp.replace(path)
        return str(path)


@pytest.fixture(scope='session')
def exports(request, tmp_path_factory):
    pytest.importorskip('torch', reason='the export extra (torch) is not installed')
    key = hashlib.sha256(Path(fm.__file__).read_bytes())
    for dist in ('torch', 'torchvision', 'transformers', 'onnx'):
        try:
            key.update(f'{dist}={importlib.metadata.version(dist)}'.encode())
        except importlib.metadata.PackageNotFoundError:
            pass
    cache = getattr(request.config, 'cache', None)
    base = (cache.mkdir('seg_ros_foreign') if cache is not None
            else tmp_path_factory.mktemp('seg_ros_foreign'))
    folder = base / key.hexdigest()[:16]
    folder.mkdir(exist_ok=True)
    return ForeignCache(folder)


@pytest.fixture(scope='session')
def wrapped(exports, tmp_path_factory):
    """Wrap the real exports once per session (the node test runs the same files)."""
    out = tmp_path_factory.mktemp('wrapped')
    results = {}

    def get(name):
        if name not in results:
            src, kwargs = {
                'deeplabv3': (exports.get('deeplabv3'), {'classes': 'cityscapes'}),
                'segformer': (exports.get('segformer_b0'), {
                    'input_size': (fm.SEGFORMER_SIZE, fm.SEGFORMER_SIZE), 'dataset': 'ade20k',
                    'classes': fm.segformer_config(str(out / 'config.json')),
                    'confidence': True}),
                'argmax': (exports.get('lraspp_argmax'), {'classes': 'camvid'}),
            }[name]
            results[name] = wrap.wrap_onnx(src, out / f'{name}.onnx', **kwargs)
        return results[name]

    return get


def run_labels(path, frame):
    sess = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(None, {contract.INPUT: frame[None]})))


def metadata(path):
    return {p.key: p.value for p in onnx.load(path).metadata_props}


def save(model, path):
    onnx.save(model, str(path))
    return str(path)


# --- The NumPy reference itself, against independent implementations -------------------------

def test_reference_resizes_match_opencv_and_torch():
    torch = pytest.importorskip('torch')
    F = torch.nn.functional
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 13, 17)).astype(np.float32)
    for size in ((40, 31), (7, 9), (13, 17)):
        # half_pixel: OpenCV's INTER_LINEAR (same pixel centres, edges replicated)
        cv = np.stack([cv2.resize(c, size[::-1], interpolation=cv2.INTER_LINEAR) for c in x])
        np.testing.assert_allclose(foreign.resize_linear(x, size, False), cv, atol=1e-4)
        ref = F.interpolate(torch.from_numpy(x)[None], size=size, mode='bilinear',
                            align_corners=True)[0].numpy()
        np.testing.assert_allclose(foreign.resize_linear(x, size, True), ref, atol=1e-5)
        ids = rng.integers(0, 9, (1, 13, 17))
        near = F.interpolate(torch.from_numpy(ids[None].astype(np.float32)), size=size,
                             mode='nearest')[0, 0].numpy()
        np.testing.assert_array_equal(foreign.resize_nearest(ids[0], size), near)


def test_normalization_forms_agree():
    """--mean/--std in 0..1 or 0..255, presets and BGR all give the zoo's affine."""
    imagenet = Normalization.imagenet().affine()
    for norm in (wrap.normalization(),
                 wrap.normalization('imagenet'),
                 wrap.normalization(mean='0.485,0.456,0.406', std='0.229,0.224,0.225'),
                 wrap.normalization(mean='123.675,116.28,103.53', std='58.395,57.12,57.375')):
        np.testing.assert_allclose(norm.affine(), imagenet, rtol=1e-6)
    np.testing.assert_allclose(wrap.normalization('imagenet', bgr=True).affine(),
                               Normalization.imagenet(bgr=True).affine(), rtol=1e-6)
    espnet = Normalization(mean=(110.331, 108.409, 105.033), std=(72.126, 72.691, 69.904),
                           scale=1 / 255, bgr=True)
    mine = wrap.normalization(mean=[m / 255 for m in espnet.mean], std=list(espnet.std),
                              rescale='1/255', bgr=True)
    np.testing.assert_allclose(mine.affine(), espnet.affine(), rtol=1e-6)
    np.testing.assert_allclose(wrap.normalization('symmetric').affine(),
                               ((1 / 127.5,) * 3, (-1.0,) * 3), rtol=1e-6)
    for bad, message in (({'preset': 'imagenet', 'mean': '1,2,3', 'std': '1,1,1'}, 'not both'),
                         ({'mean': '1,2,3'}, 'go together'),
                         ({'mean': '1,2', 'std': '1,1,1'}, '3 comma-separated'),
                         ({'mean': '0,0,0', 'std': '1,0,1'}, 'must be positive'),
                         ({'preset': 'coco'}, 'unknown normalisation preset')):
        with pytest.raises(wrap.WrapError, match=message):
            wrap.normalization(**bad)


def test_class_and_palette_files(tmp_path):
    names = tmp_path / 'names.json'
    names.write_text(json.dumps(['road', 'grass ', 'tree']))
    assert wrap.read_classes(str(names)) == (('road', 'grass', 'tree'), None)
    names.write_text(json.dumps({'id2label': {'1': 'grass', '0': 'road'}}))
    assert wrap.read_classes(str(names))[0] == ('road', 'grass')
    names.write_text(json.dumps({'id2label': {'0': 'road', '2': 'tree'}}))
    with pytest.raises(wrap.WrapError, match='id2label ids are not 0..1'):
        wrap.read_classes(str(names))
    classes, preset = wrap.read_classes('CamVid')
    assert preset is wrap.DATASETS['camvid'] and classes[-1] == 'void'
    with pytest.raises(wrap.WrapError, match='neither a file nor a dataset preset'):
        wrap.read_classes(str(tmp_path / 'missing.txt'))
    colours = tmp_path / 'colours.txt'
    colours.write_text('# r g b\n128 64 128\n0,255,0  # grass\n')
    np.testing.assert_array_equal(wrap.read_palette(str(colours), 2),
                                  [[128, 64, 128], [0, 255, 0]])
    with pytest.raises(wrap.WrapError, match='2 colours for 3 classes'):
        wrap.read_palette(str(colours), 3)
    colours.write_text('1 2 300\n')
    with pytest.raises(wrap.WrapError, match='line 1: expected "r g b" in 0..255'):
        wrap.read_palette(str(colours), 1)
    np.testing.assert_array_equal(wrap.read_palette('camvid', 11),
                                  wrap.DATASETS['camvid'].palette[:11])


# --- Hand-written graphs: every edge variant, exactly -------------------------------------------

@pytest.mark.parametrize('opset', [11, 13, 18])
@pytest.mark.parametrize('dtype', [TensorProto.FLOAT, TensorProto.FLOAT16])
def test_logits_graph_every_opset_with_confidence(tmp_path, opset, dtype):
    src = save(fm.conv_net(opset=opset, dtype=dtype), tmp_path / 'net.onnx')
    result = wrap.wrap_onnx(src, tmp_path / 'out.onnx', confidence=True, align_corners=True)
    # float16 networks: half-precision rounding may flip a near-tie here and there
    exact = dtype == TensorProto.FLOAT
    assert result.agreement == 1.0 if exact else result.agreement >= wrap.MIN_AGREEMENT
    assert result.frames_checked == 2
    info = contract.check_onnx(result.path)
    assert info.has_confidence and info.num_classes == 5
    model = onnx.load(result.path)
    assert foreign.default_opset(model) == opset and len(model.opset_import) == 1
    resizes = [n for n in model.graph.node if n.op_type == 'Resize']
    assert all(helper.get_attribute_value(a) == b'align_corners' for n in resizes
               for a in n.attribute if a.name == 'coordinate_transformation_mode')
    spec = foreign.WrapSpec((32, 48), wrap.normalization(), True, True)
    io = foreign.inspect(onnx.load(src))
    sess = ort.InferenceSession(src, providers=['CPUExecutionProvider'])
    for frame in FRAMES:
        logits = sess.run(None, {'x': foreign.reference_input(frame, io, spec)})[0]
        scores = foreign.resize_linear(logits[0].astype(np.float32), frame.shape[:2], True)
        softmax = np.exp(scores - scores.max(0)) / np.exp(scores - scores.max(0)).sum(0)
        out = run_labels(result.path, frame)
        np.testing.assert_allclose(out['confidence'][0], softmax.max(0),
                                   atol=2e-3 if exact else 2e-2)
        assert out['labels'].shape == (1,) + frame.shape[:2]
    assert result.tensorrt_problems == []


def test_foreign_graph_kept_as_it_was(tmp_path):
    """Every foreign node, weight and name is in the wrapped graph unchanged."""
    model = fm.conv_net()
    src = save(model, tmp_path / 'net.onnx')
    out = onnx.load(wrap.wrap_onnx(src, tmp_path / 'out.onnx').path)
    nodes = [n.SerializeToString() for n in out.graph.node]
    assert all(n.SerializeToString() in nodes for n in model.graph.node)
    inits = {i.name: i.SerializeToString() for i in out.graph.initializer}
    assert all(inits[i.name] == i.SerializeToString() for i in model.graph.initializer)
    added = [n for n in out.graph.node if n.SerializeToString() not in
             {m.SerializeToString() for m in model.graph.node}]
    assert all(n.name.startswith(foreign.PREFIX) for n in added)
    assert [i.name for i in out.graph.input] == ['image']


@pytest.mark.parametrize('tail', ['argmax', 'argmax_int32'])
def test_argmax_graph_labels_nearest(tmp_path, tail):
    src = save(fm.conv_net(tail=tail), tmp_path / 'argmax.onnx')
    names = tmp_path / 'names.txt'
    names.write_text('# my classes\nground\n\nwall\nsky\nperson\ncar\n')
    result = wrap.wrap_onnx(src, tmp_path / 'out.onnx', classes=str(names), dataset='indoor')
    assert result.io.kind == foreign.LABELS and result.agreement == 1.0
    info = contract.check_onnx(result.path)
    assert info.classes == ('ground', 'wall', 'sky', 'person', 'car')
    assert info.metadata['seg_ros.dataset'] == 'indoor'
    resize = [n for n in onnx.load(result.path).graph.node if n.op_type == 'Resize'][-1]
    assert {a.name: a.s for a in resize.attribute} == {
        'mode': b'nearest', 'coordinate_transformation_mode': b'asymmetric',
        'nearest_mode': b'floor'}
    with pytest.raises(wrap.WrapError, match='holds class ids, so the class count cannot'):
        wrap.wrap_onnx(src, tmp_path / 'x.onnx')
    with pytest.raises(wrap.WrapError, match='no scores to compute a confidence'):
        wrap.wrap_onnx(src, tmp_path / 'x.onnx', classes=str(names), confidence=True)
    with pytest.raises(wrap.WrapError, match=r'labels pixels with class [34], but only 3 classes'):
        names.write_text('a\nb\nc\n')
        wrap.wrap_onnx(src, tmp_path / 'x.onnx', classes=str(names))


def _io(name, elem, shape):
    return helper.make_tensor_value_info(name, elem, shape)


F32, U8, I64 = TensorProto.FLOAT, TensorProto.UINT8, TensorProto.INT64
REFUSALS = {
    'two inputs': ({'inputs': [_io('x', F32, [1, 3, 32, 48]), _io('scale', F32, [1])]}, {},
                   r'needs 2 inputs \("x" float \[1, 3, 32, 48\], "scale" float \[1\]\)'),
    'nhwc': ({'inputs': [_io('x', F32, [1, 32, 48, 3])]}, {}, 'looks NHWC'),
    'gray': ({'inputs': [_io('x', F32, [1, 1, 32, 48])]}, {}, 'does not have 3 channels'),
    'uint8 input': ({'inputs': [_io('x', U8, [1, 3, 32, 48])]}, {}, 'is not float'),
    'batch 8': ({'inputs': [_io('x', F32, [8, 3, 32, 48])]}, {}, 'has batch 8'),
    'not an image': ({'inputs': [_io('x', F32, [1, 3, 32])]}, {}, 'not an image-like'),
    'classification': ({'output': _io('y', F32, [1, 1000])}, {},
                       r'no output is NCHW logits .* "y" float \[1, 1000\]'),
    'one channel': ({'output': _io('y', F32, [1, 1, 8, 12])}, {}, 'no output is NCHW logits'),
    'opset 10': ({'opset': 10}, {}, 'opset 10; wrapping needs opset 11'),
    'size clash': ({}, {'input_size': (64, 48)}, r'fixed height of 32 .* asks for 64'),
    'unknown input': ({}, {'input_name': 'pixels'}, r'no input named "pixels"; the model has '
                      r'"x" float \[1, 3, 32, 48\]'),
    'unknown output': ({}, {'output_name': 'aux'}, 'no output named "aux"'),
    'preset count': ({}, {'classes': 'cityscapes'}, r'outputs 5 classes .* preset cityscapes '
                     'has 19'),
    'names count': ({}, {'classes': 'NAMES3'}, 'outputs 5 classes .* names 3'),
    'bad palette': ({}, {'palette': 'camvid'}, 'preset has 11 or 12 colours, the model 5'),
    'int8 without frames': ({}, {'precision': 'int8'}, 'needs calibration frames'),
    'duplicate names': ({}, {'classes': 'DUPLICATES'}, 'duplicate class names'),
}


@pytest.mark.parametrize('case', sorted(REFUSALS))
def test_refusals_name_what_was_found(tmp_path, case):
    graph_kwargs, wrap_kwargs, message = REFUSALS[case]
    src = save(fm.conv_net(**graph_kwargs), tmp_path / 'net.onnx')
    names = {'NAMES3': 'a\nb\nc\n', 'DUPLICATES': 'a\nb\na\nc\nd\n'}
    for key, value in wrap_kwargs.items():
        if value in names:
            (tmp_path / 'names.txt').write_text(names[value])
            wrap_kwargs = {**wrap_kwargs, key: str(tmp_path / 'names.txt')}
    with pytest.raises(wrap.WrapError, match=message):
        wrap.wrap_onnx(src, tmp_path / 'out.onnx', **wrap_kwargs)
    assert not (tmp_path / 'out.onnx').exists()


def test_refuses_seg_ros_model_and_clashing_names(tmp_path):
    from seg_ros.testing.synthetic import save_passthrough

    mine = save_passthrough(str(tmp_path / 'mine.onnx'), ['a', 'b'])
    with pytest.raises(wrap.WrapError, match='already a seg_ros model'):
        wrap.wrap_onnx(mine, tmp_path / 'out.onnx')
    model = fm.conv_net()
    model.graph.node[1].output[0] = 'labels'     # an edge, and the output, named as ours
    model.graph.node[2].input[0] = 'labels'
    model.graph.node[2].output[0] = model.graph.output[0].name = 'confidence'
    result = wrap.wrap_onnx(save(model, tmp_path / 'clash.onnx'), tmp_path / 'out.onnx',
                            confidence=True)
    assert result.agreement == 1.0 and contract.check_onnx(result.path).has_confidence
    assert any("renamed the model's confidence, labels" in n for n in result.notes)
    model.graph.node[0].output[0] = model.graph.node[1].input[0] = foreign.PREFIX + 'a'
    with pytest.raises(wrap.WrapError, match='already uses names starting with'):
        wrap.wrap_onnx(save(model, tmp_path / 'ours.onnx'), tmp_path / 'out.onnx')


def test_agreement_failure_writes_nothing(tmp_path, monkeypatch):
    """A post-processing that differs from the reference fails the check (threshold proof)."""
    src = save(fm.conv_net(), tmp_path / 'net.onnx')
    real = foreign._post_model

    def shifted(io, spec, ir):   # resize the logits with the other corner convention
        return real(io, foreign.WrapSpec(spec.input_size, spec.normalization,
                                         not spec.align_corners, spec.confidence), ir)

    monkeypatch.setattr(foreign, '_post_model', shifted)
    with pytest.raises(wrap.WrapError, match=r'agrees with the reference .* on only'):
        wrap.wrap_onnx(src, tmp_path / 'out.onnx')
    assert not (tmp_path / 'out.onnx').exists()


def test_cli_int8_and_errors(tmp_path, assets, capsys):
    src = save(fm.conv_net(), tmp_path / 'net.onnx')
    out = tmp_path / 'int8.onnx'
    rc = cli.main(['wrap', src, '-o', str(out), '--precision', 'int8', '--calib',
                   str(assets / 'data' / 'camvid' / 'calib'), '--calib-count', '2',
                   '--norm', 'symmetric', '--name', 'tiny'])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert 'agreement with the reference pre/post-processing: 100.000 %' in text
    assert 'int8 graph against the same reference' in text
    props = metadata(str(out))
    assert props['seg_ros.precision'] == 'int8' and props['seg_ros.name'] == 'tiny'
    assert props['seg_ros.calibration'].startswith('2 frames from')
    assert any(n.op_type == 'QuantizeLinear' for n in onnx.load(str(out)).graph.node)
    assert cli.main(['info', str(out)]) == 0
    capsys.readouterr()
    assert cli.main(['wrap', src, '-o', str(tmp_path / 'x.onnx'), '--classes', 'ade20k']) == 1
    assert 'error: the model outputs 5 classes' in capsys.readouterr().err
    assert cli.main(['wrap', src, '--mean', '1,2,3']) == 1
    assert '--mean and --std go together' in capsys.readouterr().err


# --- Real exports -----------------------------------------------------------------------------

def _distinct(path, frame):
    return len(np.unique(run_labels(path, frame)['labels']))


@pytest.mark.slow
def test_torchvision_deeplabv3_static_with_aux_head(exports, wrapped):
    src = exports.get('deeplabv3')
    result = wrapped('deeplabv3')
    assert result.io.output_name == 'out' and result.io.ignored_outputs == ('aux',)
    assert result.input_size == (fm.NET_H, fm.NET_W) and result.agreement >= wrap.MIN_AGREEMENT
    assert any('left out: aux' in n for n in result.notes)
    assert _distinct(result.path, FRAMES[1]) >= 3     # a check on varied labels, not one class
    model = onnx.load(result.path)
    assert [o.name for o in model.graph.output] == ['labels']
    assert not any('aux' in i.name for i in model.graph.initializer)   # aux head left out
    props = metadata(result.path)
    assert props['seg_ros.source'] == f'deeplabv3.onnx sha256:{sha256_file(src)}'
    assert props['seg_ros.dataset'].startswith('Cityscapes')
    assert json.loads(props['seg_ros.input_size']) == [fm.NET_H, fm.NET_W]
    options = json.loads(props['seg_ros.wrap'])
    assert options['input'] == 'input' and options['output'] == 'out'
    assert options['left_out'] == ['aux'] and options['agreement'] >= 0.999
    assert contract.check_onnx(result.path).classes[0] == 'road'
    assert result.tensorrt_problems == []
    aux = foreign.inspect(onnx.load(src, load_external_data=False), output_name='aux')
    assert aux.output_name == 'aux' and aux.ignored_outputs == ('out',)
    assert aux.output_shape == (1, 19, fm.NET_H, fm.NET_W)   # torchvision upsamples both


@pytest.mark.slow
def test_torchvision_lraspp_dynamic_size_and_fp16_cli(exports, tmp_path, capsys):
    src = exports.get('lraspp_dynamic')
    with pytest.raises(wrap.WrapError, match=r'dynamic height/width .* --input-size'):
        wrap.wrap_onnx(src, tmp_path / 'x.onnx')
    out = tmp_path / 'lr.onnx'
    rc = cli.main(['wrap', src, '-o', str(out), '--input-size', '80x48', '--classes', 'camvid',
                   '--precision', 'fp16'])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert 'network input 80x48' in text and '12 classes: sky, building' in text
    assert 'fp16 graph against the same reference' in text
    props = metadata(str(out))
    assert props['seg_ros.precision'] == 'fp16' and json.loads(
        props['seg_ros.input_size']) == [48, 80]
    assert contract.check_onnx(str(out)).classes[-1] == 'void'
    assert _distinct(str(out), FRAMES[1]) >= 3


@pytest.mark.slow
def test_argmax_export(wrapped):
    result = wrapped('argmax')
    assert result.io.kind == foreign.LABELS and result.io.output_shape == (1, 1, fm.NET_H,
                                                                           fm.NET_W)
    assert result.io.output_type == TensorProto.INT64
    assert result.agreement >= wrap.MIN_AGREEMENT and _distinct(result.path, FRAMES[1]) >= 3


@pytest.mark.slow
def test_segformer_optimum_style(wrapped):
    pytest.importorskip('transformers')
    result = wrapped('segformer')
    io = result.io
    assert io.input_name == 'pixel_values' and io.output_name == 'logits'
    assert io.input_shape == ('batch_size', 'num_channels', 'height', 'width')
    assert result.agreement >= wrap.MIN_AGREEMENT and _distinct(result.path, FRAMES[1]) >= 3
    info = contract.check_onnx(result.path)
    assert info.has_confidence and info.num_classes == 150 and info.classes[2] == 'sky'
    assert info.metadata['seg_ros.dataset'] == 'ade20k'
    np.testing.assert_array_equal(info.palette, wrap.DATASETS['ade20k'].palette)
    assert json.loads(info.metadata['seg_ros.wrap'])['classes'] == 'config.json'
    out = run_labels(result.path, FRAMES[0])
    assert 0 < out['confidence'].min() and out['confidence'].max() <= 1.0 + 1e-6


@pytest.mark.slow
def test_wrapped_bare_espnet_equals_zoo_export(exports, camvid_onnx, camvid_val, assets):
    """The zoo's network wrapped from outside gives the zoo export's labels on CamVid val."""
    from seg_ros import zoo

    src = exports.get('espnet_bare', str(assets / 'models' / 'espnet_camvid.pth'))
    frames = [cv2.imread(str(p))[:, :, ::-1].copy()
              for p in sorted(camvid_val[0].glob('*.png'))[:3]]
    entry = zoo.get('espnet_camvid')
    out = Path(src).with_name('espnet_wrapped.onnx')
    result = wrap.wrap_onnx(src, out, norm=entry.normalization, classes='camvid',
                            check_frames=frames[:1])
    assert result.agreement >= wrap.MIN_AGREEMENT
    zoo_sess = ort.InferenceSession(camvid_onnx, providers=['CPUExecutionProvider'])
    mine_sess = ort.InferenceSession(result.path, providers=['CPUExecutionProvider'])
    for frame in frames:
        theirs = zoo_sess.run(['labels'], {'image': frame[None]})[0]
        mine = mine_sess.run(['labels'], {'image': frame[None]})[0]
        assert np.mean(theirs == mine) >= 0.999
        assert len(np.unique(mine)) >= 4


# --- The node runs them -----------------------------------------------------------------------

@pytest.mark.slow
def test_node_runs_wrapped_models(wrapped):
    """One node process loads three wrapped models in turn; labels come at the frame size."""
    from node_harness import NodeProcess, Probe
    from rcl_interfaces.msg import Parameter as ParameterMsg, ParameterType, ParameterValue
    from rcl_interfaces.srv import SetParameters
    import rclpy
    from seg_ros.ros.messages import image_message
    from sensor_msgs.msg import Image

    models = [(wrapped(name).path, f'{taxonomy}.yaml') for name, taxonomy in (
        ('deeplabv3', 'cityscapes'), ('segformer', 'ade20k'), ('argmax', 'camvid'))]
    rgb = cv2.resize(FRAMES[1], (100, 60))     # frame size differs from every network's
    probe = Probe('wrap_probe')
    try:
        with NodeProcess({'model_path': models[0][0], 'diagnostics_period': 0.5}) as node:
            pub = probe.publisher(Image, 'image', reliable=False, depth=1)
            probe.subscribe(Image, 'segmentation/labels')
            assert probe.wait_matched(pub), node.output()
            client = probe.node.create_client(SetParameters, '/segmentation_node/set_parameters')
            for i, (path, taxonomy) in enumerate(models):
                if i:
                    req = SetParameters.Request(parameters=[ParameterMsg(
                        name='model_path', value=ParameterValue(
                            type=ParameterType.PARAMETER_STRING, string_value=path))])
                    assert client.wait_for_service(timeout_sec=10)
                    future = client.call_async(req)
                    assert probe.wait(future.done, 10) and future.result().results[0].successful
                assert node.wait_for_output(f'loaded {path}', timeout=60), node.output()
                assert node.wait_for_output(taxonomy, timeout=30), node.output()
                expected = run_labels(path, rgb)['labels'][0]
                probe.clear()

                def labelled():
                    msg = image_message(rgb, 'rgb8')
                    msg.header.stamp = probe.node.get_clock().now().to_msg()
                    pub.publish(msg)
                    time.sleep(0.2)
                    return any(np.array_equal(_labels(m), expected)
                               for m in probe.messages('segmentation/labels'))

                assert probe.wait(labelled, 60), node.output()
                got = probe.messages('segmentation/labels')[-1]
                assert (got.width, got.height) == (100, 60) and got.encoding == 'mono8'
    finally:
        probe.close()
        if rclpy.ok():
            rclpy.shutdown()


def _labels(msg):
    return np.frombuffer(msg.data, np.uint8).reshape(msg.height, msg.step)[:, :msg.width]
