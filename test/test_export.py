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
Exported zoo models: contract, dynamic sizes, TensorRT-friendly graph, strict weights, parity.

The parity test compares ONNX Runtime with the PyTorch wrapper on real CamVid frames; the
figure it prints is the one the README reports.
"""
import importlib.util
import json
import os
from pathlib import Path
import subprocess
import sys

import cv2
import numpy as np
import onnx
import pytest
from seg_ros import zoo
from seg_ros.inference import contract
from seg_ros.inference.backend import BackendOptions
from seg_ros.inference.loader import create_backend
from seg_ros.inference.tensorrt import trt_compat
from seg_ros.tools import cli
from seg_ros.zoo import export
from seg_ros.zoo.networks import Normalization

# A pytestmark, not a module-level importorskip: launch_testing's pytest plugin (loaded wherever
# launch_testing is installed, as under colcon test) imports every test module, and a skip
# raised at import would skip the whole test directory on a robot without torch.
HAVE_TORCH = importlib.util.find_spec('torch') is not None
pytestmark = pytest.mark.skipif(not HAVE_TORCH, reason='torch is not installed (export extra)')
if HAVE_TORCH:
    from seg_ros.zoo.networks.espnet import espnet, load_checkpoint
    from seg_ros.zoo.networks.wrapper import ContractWrapper, wrap
    import torch

SIZES = [(360, 480), (480, 640), (217, 333), (720, 1280), (5, 7)]  # (H, W)
TRT_OPS = Path(os.environ.get('SEG_ROS_ASSETS', '')) / 'tensorrt10_onnx_ops.json'


def _rgb(path: Path, size=None) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if size is not None:
        bgr = cv2.resize(bgr, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
    return np.ascontiguousarray(bgr[:, :, ::-1])


@pytest.fixture(scope='module')
def frames(camvid_val) -> list[Path]:
    val, _ = camvid_val
    return [val / f.name for f in zoo.DEMO_FRAMES]


@pytest.fixture(scope='module')
def camvid_backend(camvid_onnx_confidence):
    return create_backend('onnxruntime', camvid_onnx_confidence, BackendOptions(threads=1))


def test_contract_and_metadata(camvid_onnx, cityscapes_onnx):
    for path, name in ((camvid_onnx, 'espnet_camvid'), (cityscapes_onnx, 'espnet_cityscapes')):
        entry = zoo.get(name)
        info = contract.check_onnx(path)
        assert info.classes == entry.classes
        assert info.palette.tolist() == [list(c) for c in entry.palette]
        assert not info.has_confidence and info.name == name   # labels only by default
        assert info.input_size == entry.input_size
        meta = info.metadata
        assert entry.sha256 in meta[contract.KEY_SOURCE] and entry.url in meta[contract.KEY_SOURCE]
        assert meta[contract.KEY_ARCH] == entry.architecture
        assert meta[contract.KEY_DATASET] == entry.dataset
        assert 'MIT' in meta['seg_ros.license'] and 'Mehta' in meta['seg_ros.license']
        assert 'BGR' in meta['seg_ros.normalization']


def test_graph_io_is_dynamic_uint8(camvid_onnx_confidence):
    g = onnx.load(camvid_onnx_confidence).graph
    dims = [[d.dim_value or d.dim_param for d in v.type.tensor_type.shape.dim]
            for v in list(g.input) + list(g.output)]
    assert [v.name for v in g.input] == ['image']
    assert [v.name for v in g.output] == ['labels', 'confidence']
    assert dims == [[1, 'height', 'width', 3], [1, 'height', 'width'], [1, 'height', 'width']]
    assert [v.type.tensor_type.elem_type for v in list(g.input) + list(g.output)] == [
        onnx.TensorProto.UINT8, onnx.TensorProto.UINT8, onnx.TensorProto.FLOAT]


@pytest.mark.parametrize('which', ['camvid_onnx', 'cityscapes_onnx'])
def test_graph_is_tensorrt_friendly(which, request):
    """Walk the graph against TensorRT 10's ONNX parser table (ops, uint8 only at the edges)."""
    if not TRT_OPS.is_file():
        pytest.skip(f'{TRT_OPS} not found')
    table = json.loads(TRT_OPS.read_text())
    lo, hi = table['opset_range']
    model = onnx.shape_inference.infer_shapes(onnx.load(request.getfixturevalue(which)))
    g = model.graph
    opset = next(o.version for o in model.opset_import if o.domain in ('', 'ai.onnx'))
    assert lo <= opset <= hi
    for node in g.node:
        assert table['ops'].get(node.op_type, {}).get('supported'), node.op_type
        if node.op_type == 'Resize':
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            assert attrs.get('mode', b'nearest') in (b'linear', b'nearest')
            assert attrs.get('coordinate_transformation_mode') in (
                b'half_pixel', b'pytorch_half_pixel', b'align_corners', b'asymmetric')
            assert not attrs.get('antialias', 0)
    consumers = [n for n in g.node if 'image' in n.input]
    assert [n.op_type for n in consumers] == ['Cast']
    producer = [n for n in g.node if 'labels' in n.output]
    assert [n.op_type for n in producer] == ['Cast']
    uint8 = [v.name for v in g.value_info
             if v.type.tensor_type.elem_type == onnx.TensorProto.UINT8]
    assert uint8 == [], f'uint8 tensors inside the graph: {uint8}'
    assert trt_compat.check_model(model, table) == []   # types, constant axes, edges


@pytest.mark.parametrize('h,w', SIZES)
def test_any_frame_size(camvid_backend, frames, h, w):
    seg = camvid_backend.infer(_rgb(frames[0], (h, w)))
    assert seg.labels.shape == (h, w) and seg.labels.dtype == np.uint8
    assert seg.labels.max() < 12
    assert seg.confidence.shape == (h, w) and seg.confidence.dtype == np.float32
    assert seg.confidence.min() >= 1 / 12 - 1e-6 and seg.confidence.max() <= 1 + 1e-6


def test_labels_follow_the_scene(camvid_backend, frames):
    """Same frame at two sizes: labels agree after resizing (the graph resizes, not crops)."""
    small = camvid_backend.infer(_rgb(frames[1])).labels
    big = camvid_backend.infer(_rgb(frames[1], (720, 960))).labels
    down = cv2.resize(big, (480, 360), interpolation=cv2.INTER_NEAREST)
    assert (down == small).mean() > 0.95


@pytest.mark.slow
def test_onnxruntime_matches_pytorch(camvid_backend, frames):
    """
    ONNX Runtime labels == PyTorch labels on real frames (>= 99.9 % of pixels).

    The reference keeps the network's own ``nn.PReLU`` modules, so the check covers the
    exported graph's PReLU rewrite as well as the tracing.
    """
    entry = zoo.get('espnet_camvid')
    wrapper = wrap(export.build_network(entry), entry.input_size, entry.normalization,
                   fast_prelu=False)
    assert any(isinstance(m, torch.nn.PReLU) for m in wrapper.modules())
    same = total = 0
    for path in frames:
        for size in ((360, 480), (480, 640)):
            rgb = _rgb(path, size)
            with torch.no_grad():
                ref = wrapper(torch.from_numpy(rgb)[None])
            got = camvid_backend.infer(rgb)
            same += int((ref[0][0].numpy() == got.labels).sum())
            total += got.labels.size
            np.testing.assert_allclose(got.confidence, ref[1][0].numpy(), atol=1e-3)
    agreement = same / total
    print(f'\nONNX Runtime vs PyTorch: {agreement:.6%} of {total} pixels identical')
    assert agreement >= 0.999


@pytest.mark.slow
def test_wrapper_matches_authors_preprocessing(frames):
    """The in-graph preprocessing equals ESPNet's own (cv2 BGR, (img - mean) / std / 255)."""
    entry = zoo.get('espnet_camvid')
    net = export.build_network(entry)
    wrapper = wrap(export.build_network(entry), entry.input_size, entry.normalization)
    mean = np.array(entry.normalization.mean, np.float32)
    std = np.array(entry.normalization.std, np.float32)
    bgr = cv2.imread(str(frames[2])).astype(np.float32)
    x = torch.from_numpy(((bgr - mean) / std / 255).transpose(2, 0, 1)[None].copy())
    with torch.no_grad():
        ref = net(x).argmax(1)[0].numpy()
        got = wrapper(torch.from_numpy(np.ascontiguousarray(bgr[:, :, ::-1]).astype(np.uint8))
                      [None])[0][0].numpy()
    assert (ref == got).mean() > 0.9999


def test_normalization_conv_is_the_formula():
    norm = Normalization(mean=(10, 20, 30), std=(2, 4, 8), scale=0.5, bgr=True)
    w = ContractWrapper(torch.nn.Identity(), (4, 6), norm, confidence=False)
    img = torch.randint(0, 256, (1, 4, 6, 3), dtype=torch.uint8)
    got = w.preprocess(img)
    bgr = img[0].flip(-1).permute(2, 0, 1).float()
    ref = (bgr - torch.tensor([10., 20., 30.])[:, None, None]) / torch.tensor(
        [2., 4., 8.])[:, None, None] * 0.5
    torch.testing.assert_close(got[0], ref)
    imagenet = Normalization.imagenet()
    w = ContractWrapper(torch.nn.Identity(), (4, 6), imagenet, confidence=False)
    ref = (img[0].permute(2, 0, 1).float() / 255 - torch.tensor(
        [0.485, 0.456, 0.406])[:, None, None]) / torch.tensor([0.229, 0.224, 0.225])[:, None, None]
    torch.testing.assert_close(w.preprocess(img)[0], ref)
    with pytest.raises(ValueError, match='non-zero'):
        Normalization(std=(1, 0, 1))


def test_split_prelu_is_prelu():
    from seg_ros.zoo.networks.wrapper import split_prelus, SplitPReLU

    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 1), torch.nn.PReLU(8),
                              torch.nn.Sequential(torch.nn.PReLU(8)))
    torch.nn.init.uniform_(net[1].weight, -0.5, 0.5)
    x = torch.randn(2, 3, 5, 7)
    with torch.no_grad():
        ref = net(x)
        split_prelus(net)
        assert isinstance(net[1], SplitPReLU) and isinstance(net[2][0], SplitPReLU)
        torch.testing.assert_close(net(x), ref)


def test_weights_load_strictly(assets, tmp_path):
    camvid = assets / 'models' / 'espnet_camvid.pth'
    with pytest.raises(ValueError, match='size mismatch for conv.conv.weight'):
        load_checkpoint(espnet(12, skip='level1'), str(camvid))
    with pytest.raises(ValueError, match='do not fit'):
        load_checkpoint(espnet(20, skip='level1'), str(camvid))
    state = torch.load(camvid, map_location='cpu', weights_only=True)
    partial = {k: v for k, v in state.items() if not k.startswith('classifier')}
    torch.save(partial, tmp_path / 'partial.pth')
    with pytest.raises(ValueError, match='Missing key.*classifier.weight'):
        load_checkpoint(espnet(12), str(tmp_path / 'partial.pth'))
    (tmp_path / 'junk.pth').write_bytes(b'no pickle')
    with pytest.raises(ValueError, match='not a readable PyTorch state_dict'):
        load_checkpoint(espnet(12), str(tmp_path / 'junk.pth'))


def test_dataparallel_prefix_is_accepted(assets, tmp_path):
    state = torch.load(assets / 'models' / 'espnet_camvid.pth', map_location='cpu',
                       weights_only=True)
    torch.save({'module.' + k: v for k, v in state.items()}, tmp_path / 'dp.pth')
    a = load_checkpoint(espnet(12), str(assets / 'models' / 'espnet_camvid.pth'))
    b = load_checkpoint(espnet(12), str(tmp_path / 'dp.pth'))
    x = torch.randn(1, 3, 64, 96)
    with torch.no_grad():
        torch.testing.assert_close(a(x), b(x))


@pytest.mark.slow
def test_cityscapes_model_sees_the_road(cityscapes_onnx, camvid_val):
    """
    Cross-dataset sanity: on CamVid frames the Cityscapes model labels road as road.

    Measured on the six demo frames: 83-97 % of CamVid road pixels come out as Cityscapes road
    (id 0) and about 70 % of all labelled pixels as the matching Cityscapes class; a wrong
    channel order or normalisation makes both collapse.
    """
    val, annot = camvid_val
    backend = create_backend('onnxruntime', cityscapes_onnx, BackendOptions(threads=1))
    to_city = {0: [10], 1: [2], 2: [5], 3: [0], 4: [1], 5: [8, 9], 6: [6, 7], 7: [3, 4],
               8: [13, 14, 15], 9: [11], 10: [12, 17, 18]}
    road = hit = labelled = matched = 0
    for frame in zoo.DEMO_FRAMES:
        labels = backend.infer(_rgb(val / frame.name)).labels
        gt = cv2.imread(str(annot / frame.name), cv2.IMREAD_UNCHANGED)
        road += int((gt == 3).sum())
        hit += int(((gt == 3) & (labels == 0)).sum())
        labelled += int((gt < 11).sum())
        matched += sum(int(((gt == c) & np.isin(labels, ids)).sum()) for c, ids in to_city.items())
    assert hit / road > 0.85
    assert matched / labelled > 0.6


def test_attribution_survives_simplify_and_precision(camvid_onnx, tmp_path, recwarn):
    """The export puts doc_string back after onnxslim and the fp16 converter drop it."""
    entry = zoo.get('espnet_camvid')
    half = export.export_onnx('espnet_camvid', tmp_path / 'half.onnx', input_size=(64, 96),
                              precision='fp16')
    for path in (camvid_onnx, half):    # simplified fp32 (the default), simplified fp16
        model = onnx.load(path)
        assert entry.attribution in model.doc_string, path
        assert model.producer_name == 'seg_ros'
        assert entry.attribution in contract.check_onnx(path).metadata['seg_ros.license']
    # The fp16 converter's per-tensor range warnings come as one summary line.
    messages = [str(w.message) for w in recwarn]
    assert not [m for m in messages if 'will be truncated' in m], messages
    assert len([m for m in messages if m.startswith('fp16: float32 weights')]) == 1, messages


def test_export_options_and_errors(tmp_path):
    path = export.export_onnx('espnet_camvid', tmp_path / 'small.onnx', input_size=(240, 320),
                              confidence=False, opset=18)
    info = contract.check_onnx(path)
    assert not info.has_confidence and info.input_size == (240, 320)
    model = onnx.load(path)
    assert next(o.version for o in model.opset_import if o.domain in ('', 'ai.onnx')) == 18
    assert [p.name for p in tmp_path.iterdir()] == ['small.onnx']  # no temp files left
    with pytest.raises(export.ExportError, match='multiples of 8'):
        export.export_onnx('espnet_camvid', tmp_path / 'x.onnx', input_size=(360, 481))
    with pytest.raises(zoo.ZooError, match='unknown model'):
        export.export_onnx('nope', tmp_path / 'x.onnx')


@pytest.mark.slow
def test_dynamo_exporter_gives_the_same_labels(camvid_onnx, frames, tmp_path):
    path = export.export_onnx('espnet_camvid', tmp_path / 'dynamo.onnx', exporter='dynamo')
    assert trt_compat.check_model(path) == []
    a = create_backend('onnxruntime', path, BackendOptions(threads=1))
    b = create_backend('onnxruntime', camvid_onnx, BackendOptions(threads=1))
    for size in ((360, 480), (217, 333)):
        rgb = _rgb(frames[3], size)
        assert (a.infer(rgb).labels == b.infer(rgb).labels).mean() > 0.9999
    with pytest.raises(export.ExportError, match='unknown exporter'):
        export.export_onnx('espnet_camvid', tmp_path / 'x.onnx', exporter='jit')


@pytest.mark.slow
def test_cached_export_reuses_and_refreshes(tmp_path):
    first = export.cached_export('espnet_camvid', tmp_path, input_size=(120, 160))
    stamp = os.stat(first).st_mtime_ns
    assert export.cached_export('espnet_camvid', tmp_path, input_size=(120, 160)) == first
    assert os.stat(first).st_mtime_ns == stamp
    other = export.cached_export('espnet_camvid', tmp_path, input_size=(120, 160),
                                 confidence=True)
    assert other != first and contract.check_onnx(other).has_confidence
    Path(first).write_bytes(b'damaged')
    again = export.cached_export('espnet_camvid', tmp_path, input_size=(120, 160))
    assert again == first and not contract.check_onnx(again).has_confidence


def test_cached_export_hit_needs_no_torch(camvid_onnx):
    """The node and the demo reuse an export without paying for (or having) PyTorch."""
    code = ('import sys; from seg_ros.zoo.export import cached_export; '
            f'p = cached_export("espnet_camvid", {str(Path(camvid_onnx).parent)!r}); '
            f'assert p == {camvid_onnx!r}, p; '
            'assert "torch" not in sys.modules, "torch imported"')
    subprocess.run([sys.executable, '-c', code], check=True, env=dict(os.environ))


def test_export_cli(tmp_path, capsys):
    out = tmp_path / 'm.onnx'
    assert cli.main(['export', 'espnet_camvid', '-o', str(out), '--input-size', '320x240',
                     '--confidence']) == 0
    assert 'network input 320x240' in capsys.readouterr().out
    assert contract.check_onnx(str(out)).input_size == (240, 320)
    assert contract.check_onnx(str(out)).has_confidence
    assert cli.main(['export', '--list']) == 0
    listing = capsys.readouterr().out
    assert 'espnet_cityscapes' in listing
    assert not [line for line in listing.splitlines() if line.strip() == 'sha256:']
    assert 'sha256: none published: download the file yourself, pass --weights' in listing
    assert cli.main(['export', 'espnet_camvid', '-o', str(out), '--input-size', '7x7']) == 1
    assert 'multiples of 8' in capsys.readouterr().err
    assert cli.main(['export', 'espnet_camvid', '-o', str(out), '--input-size', 'big']) == 1
    assert 'WIDTHxHEIGHT' in capsys.readouterr().err
    city = zoo.resolve_weights('espnet_cityscapes')
    assert cli.main(['export', 'espnet_camvid', '-o', str(out), '--weights', str(city)]) == 1
    assert 'do not fit EspNet' in capsys.readouterr().err
