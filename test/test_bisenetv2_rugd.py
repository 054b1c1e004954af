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
The real BiSeNetV2: float weights rebuilt from the int8 RUGD TorchScript, our network, the zoo.

``../shared/models/bisenetv2_rugd_int8_jit.pt`` (KangneoungLee/bisenet_ros) is a trained
BiSeNetV2 quantized to int8. Its convs are dequantized and its BNs copied into our
CoinCheung-layout BiSeNetV2, loaded strictly, and the labels compared with the TorchScript
model's own on the RUGD frame: they must agree on at least 90 % of the pixels (
measured: 98.7 %, the rest is the int8 model's rounding).
"""
import importlib.util
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from seg_ros import zoo
from seg_ros.inference.backend import BackendOptions
from seg_ros.inference.loader import create_backend
from seg_ros.traversability import pipeline, taxonomy
from seg_ros.zoo.datasets.rugd import RUGD_CLASSES

# A mark, not a module-level importorskip: launch_testing's pytest plugin imports every test
# module, and a skip raised at import would skip the whole directory; and the taxonomy check
# below needs no torch at all.
HAVE_TORCH = importlib.util.find_spec('torch') is not None
needs_torch = pytest.mark.skipif(not HAVE_TORCH, reason='torch is not installed (export extra)')
if HAVE_TORCH:
    import torch
    import torch.nn.functional as F

    from seg_ros.zoo.networks import bisenetv2_int8
    from seg_ros.zoo.networks.bisenetv2 import BiSeNetV2

    MEAN = torch.tensor([0.3257, 0.3690, 0.3223]).view(1, 3, 1, 1) * 255
    STD = torch.tensor([0.2112, 0.2148, 0.2115]).view(1, 3, 1, 1) * 255


@pytest.fixture(scope='module')
def checkpoint(assets: Path) -> Path:
    return assets / 'models' / 'bisenetv2_rugd_int8_jit.pt'


@pytest.fixture(scope='module')
def creek(assets: Path) -> np.ndarray:
    """Return the RUGD frame as RGB uint8."""
    bgr = cv2.imread(str(assets / 'data' / 'rugd' / 'creek_00156.png'), cv2.IMREAD_COLOR)
    return np.ascontiguousarray(bgr[:, :, ::-1])


@pytest.fixture(scope='module')
def reference_labels(checkpoint: Path, creek: np.ndarray) -> np.ndarray:
    """Labels of the int8 TorchScript model, preprocessed as bisenet_ros does, frame size."""
    jit = torch.jit.load(str(checkpoint), map_location='cpu')
    x = torch.from_numpy(creek).permute(2, 0, 1)[None].float()
    x = (F.interpolate(x, size=(128, 192), mode='bilinear', align_corners=True) - MEAN) / STD
    with torch.no_grad():
        logits = jit(x)
    return F.interpolate(logits, size=creek.shape[:2], mode='bilinear',
                         align_corners=True).argmax(1)[0].numpy()


def test_rugd_classes_match_the_checkpoint(assets):
    names = (assets / 'data' / 'rugd' / 'classes.txt').read_text().split()
    assert len(names) == len(RUGD_CLASSES) == 25
    # seg_ros spells RUGD's "fense" as "fence"; every other name is RUGD's own.
    assert [n if n != 'fense' else 'fence' for n in names] == list(RUGD_CLASSES)


@needs_torch
def test_float_weights_load_strictly_and_reproduce_the_int8_model(checkpoint, creek,
                                                                  reference_labels):
    state = bisenetv2_int8.float_state_dict(str(checkpoint))
    net = BiSeNetV2(25, aux=False)
    net.load_state_dict(state, strict=True)      # every key, no aux heads
    net.eval()
    x = torch.from_numpy(creek).permute(2, 0, 1)[None].float()
    x = (F.interpolate(x, size=(128, 192), mode='bilinear', align_corners=True) - MEAN) / STD
    with torch.no_grad():
        ours = F.interpolate(net(x), size=creek.shape[:2], mode='bilinear',
                             align_corners=True).argmax(1)[0].numpy()
    agreement = float((ours == reference_labels).mean())
    print(f'\nbisenetv2_rugd (float, PyTorch) vs int8 TorchScript on creek_00156: '
          f'{100 * agreement:.1f} % of pixels agree')
    assert agreement >= 0.90
    # The scene as the assets' README describes it (tree, rock bed, grass, sky, water).
    share = np.bincount(ours.ravel(), minlength=25) / ours.size
    assert share[RUGD_CLASSES.index('tree')] > 0.3 and share[RUGD_CLASSES.index('rock_bed')] > 0.2


@needs_torch
def test_a_different_architecture_is_refused(checkpoint):
    with pytest.raises(bisenetv2_int8.ConversionError, match='19'):
        # 19 classes: the classifier conv's shape differs, named in the error.
        state = bisenetv2_int8.float_state_dict(str(checkpoint), n_classes=19)
        del state


@pytest.fixture(scope='module')
def rugd_onnx(zoo_export, assets) -> str:
    return zoo_export('bisenetv2_rugd')


@needs_torch
@pytest.mark.slow
def test_zoo_export_reproduces_the_checkpoint_through_onnxruntime(rugd_onnx, creek,
                                                                  reference_labels):
    entry = zoo.get('bisenetv2_rugd')
    assert entry.sha256 == '480982743eec52f484ae815497e525bb25f8cfc88fc7224f258c7b7aff7e8275'
    assert 'e877951b9570fc30450dcd250e66682fee82e598' in entry.url
    backend = create_backend('onnxruntime', rugd_onnx, BackendOptions(threads=1))
    labels = backend.infer(creek).labels
    agreement = float((labels == reference_labels).mean())
    print(f'\nbisenetv2_rugd ONNX (ONNX Runtime) vs int8 TorchScript: {100 * agreement:.1f} %')
    assert agreement >= 0.90
    assert backend.info.classes == RUGD_CLASSES
    from seg_ros.inference.tensorrt import trt_compat
    assert trt_compat.check_model(rugd_onnx) == []


def test_rugd_taxonomy_preset_is_picked_by_dataset():
    path = pipeline.resolve_taxonomy('', zoo.get('bisenetv2_rugd').dataset)
    assert Path(path).name == 'rugd.yaml'
    tax = taxonomy.load(path, RUGD_CLASSES)
    kind = {name: tax.classes[tax.lut[i]] for i, name in enumerate(RUGD_CLASSES)}
    for name in ('dirt', 'grass', 'asphalt', 'concrete'):
        assert kind[name].name == 'traversable'
    for name in ('sand', 'gravel', 'mulch'):   # drivable, at a cost
        assert kind[name].kind == 'ground' and 0 < kind[name].cost < 100
    for name in ('water', 'rock_bed'):
        assert kind[name].kind == 'ground' and kind[name].cost == 100
    for name in ('tree', 'pole', 'log', 'rock', 'bush', 'fence', 'building'):
        assert kind[name].name == 'obstacle'
    for name in ('person', 'bicycle', 'vehicle'):
        assert kind[name].name == 'dynamic_obstacle'
    assert kind['sky'].name == kind['void'].name == 'unknown'


@needs_torch
@pytest.mark.slow
def test_demo_runs_bisenetv2_rugd_on_the_rugd_frame(tmp_path, rugd_onnx, reference_labels,
                                                    capsys):
    from seg_ros.tools import cli

    # The demo's own export step, finding this module's export in its cache.
    (tmp_path / 'cache').mkdir()
    (tmp_path / 'cache' / 'onnx').symlink_to(Path(rugd_onnx).parent)
    out = tmp_path / 'demo'
    rc = cli.main(['demo', '--model', 'bisenetv2_rugd', '--output', str(out), '--gif-frames',
                   '1', '--as-fast-as-node', '--threads', '1', '--cache',
                   str(tmp_path / 'cache')])
    assert rc == 0, capsys.readouterr()
    summary = json.loads((out / 'summary.json').read_text())
    assert summary['frames_answered'] == 1 and Path(summary['model_path']).name == \
        Path(rugd_onnx).name
    labels = cv2.imread(str(out / 'labels' / '0000.png'), cv2.IMREAD_UNCHANGED)
    assert (labels == reference_labels).mean() >= 0.90
