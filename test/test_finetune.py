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
``seg-ros finetune`` on eight real CamVid frames at 96x72: training, artefacts, resume, errors.

The runs are tiny (a few steps of ESPNet from its Cityscapes weights, on a CPU) but real: the
loss must fall, every artefact must be written and usable (the exported model passes
``seg-ros info`` and the real node segments a frame with it), and a resumed run must end with
the very weights of an uninterrupted one.
"""
import json
from pathlib import Path
import re
import shutil

import cv2
from node_harness import NodeProcess, Probe
import numpy as np
import pytest
from seg_ros.offline.training import data as td
from seg_ros.tools import cli

SIZE = (96, 72)           # frames (W, H) of the small data set
CAMVID11 = ['sky', 'building', 'pole', 'road', 'sidewalk', 'tree', 'sign_symbol', 'fence',
            'car', 'pedestrian', 'bicyclist']


def _shrink(src: Path, dst: Path, names: list, label: bool) -> None:
    dst.mkdir(parents=True)
    for name in names:
        img = cv2.imread(str(src / name), cv2.IMREAD_UNCHANGED)
        cv2.imwrite(str(dst / name), cv2.resize(
            img, SIZE, interpolation=cv2.INTER_NEAREST if label else cv2.INTER_AREA))


@pytest.fixture(scope='module')
def small(assets, tmp_path_factory):
    """Eight CamVid training frames and two val frames, shrunk to 96x72, with their labels."""
    root = tmp_path_factory.mktemp('camvid_small')
    camvid = assets / 'data' / 'camvid'
    for split, count in (('train', 8), ('val', 2)):
        names = sorted(p.name for p in (camvid / split).glob('*.png'))[::23][:count]
        _shrink(camvid / split, root / split, names, False)
        _shrink(camvid / f'{split}annot', root / f'{split}annot', names, True)
    return root


def finetune(small, out, *extra):
    """Run the command line on the small set (2 steps per epoch, 48x48 crops)."""
    return cli.main(['finetune', 'espnet_cityscapes', '--train', str(small / 'train'),
                     str(small / 'trainannot'), '--val', str(small / 'val'),
                     str(small / 'valannot'), '--dataset', 'camvid', '-o', str(out),
                     '--batch', '4', '--crop', '48x48', '--threads', '2', '--no-progress',
                     '--lr', '0.002', *extra])


@pytest.fixture(scope='module')
def run3(small, tmp_path_factory):
    """Run three epochs with export; return the run folder."""
    out = tmp_path_factory.mktemp('ft') / 'run'
    assert finetune(small, out, '--epochs', '3', '--name', 'espnet_small_test') == 0
    return out


@pytest.mark.slow
def test_loss_falls_and_every_artefact_is_written(run3, capsys):
    log = json.loads((run3 / 'log.json').read_text())
    losses = [row['train_loss'] for row in log['history']]
    assert len(losses) == 3 and losses[0] > losses[1] > losses[2], losses
    assert [row['step'] for row in log['history']] == [2, 4, 6]
    rows = (run3 / 'log.csv').read_text().splitlines()
    assert len(rows) == 4 and rows[0].startswith('epoch,step,lr,train_loss,val_miou')
    assert rows[0].endswith(','.join(f'iou_{c}' for c in CAMVID11))
    best = max(log['history'], key=lambda r: r['val_miou'])
    assert log['best_epoch'] == best['epoch']
    curves = cv2.imread(str(run3 / 'curves.png'))
    assert curves is not None and curves.shape[1] > 1000
    import torch
    state = torch.load(run3 / 'best.pth', weights_only=True)
    assert state['head.weight'].shape == (11, 20, 1, 1)     # new classifier over 20 outputs
    ckpt = torch.load(run3 / 'last.ckpt', weights_only=False)
    assert ckpt['step'] == 6 and ckpt['epoch'] == 3
    capsys.readouterr()
    assert cli.main(['info', str(run3 / 'model.onnx'), '--json']) == 0
    info = json.loads(capsys.readouterr().out)
    assert info['classes'] == CAMVID11
    assert info['palette'][3] == [128, 64, 128]          # CamVid's road colour
    meta = info['metadata']
    assert meta['seg_ros.name'] == 'espnet_small_test'
    assert 'fine-tuned from espnet_cityscapes on 8 frames' in meta['seg_ros.dataset']
    assert meta['seg_ros.input_size'] == '[72, 96]'


@pytest.mark.slow
def test_exported_model_matches_validation_and_runs_in_the_node(run3, small):
    """The ONNX gives the labels the trainer scored, and the real node publishes them."""
    from seg_ros.inference.loader import create_backend
    from seg_ros.offline import metrics
    from test_node import image_msg, labels_of, send_until_labelled, start

    log = json.loads((run3 / 'log.json').read_text())
    spec = td.class_spec(preset='camvid')
    val = td.load_split(small / 'val', small / 'valannot', spec)
    backend = create_backend('onnxruntime', str(run3 / 'model.onnx'))
    cm = sum(metrics.confusion_matrix(backend.infer(rgb).labels, lab, 11, td.IGNORE)
             for rgb, lab in zip(val.images, val.labels))
    best = log['history'][log['best_epoch'] - 1]['val_miou']
    assert metrics.mean_iou(cm) == pytest.approx(best, abs=0.01)
    probe = Probe()
    try:
        with NodeProcess({'model_path': str(run3 / 'model.onnx'),
                          'traversability.enabled': False}) as node:
            pub = start(probe, node)
            assert send_until_labelled(probe, pub, lambda: image_msg(probe, val.images[0]),
                                       timeout=60), node.output()
            out = probe.messages('segmentation/labels')[-1]
            np.testing.assert_array_equal(labels_of(out), backend.infer(val.images[0]).labels)
    finally:
        probe.close()


@pytest.mark.slow
def test_int8_cpu_export_of_a_finetuned_model(small, tmp_path):
    """--precision int8-cpu writes ONNX Runtime's quantized form, which the backend runs."""
    import onnx
    from seg_ros.inference import contract
    from seg_ros.inference.loader import create_backend

    out = tmp_path / 'run'
    assert finetune(small, out, '--epochs', '1', '--precision', 'int8-cpu',
                    '--calib', str(small / 'train')) == 0
    model = onnx.load(out / 'model.onnx')
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta[contract.KEY_PRECISION] == 'int8-cpu'
    assert sum(n.op_type == 'QLinearConv' for n in model.graph.node) > 10
    rgb = cv2.cvtColor(cv2.imread(str(sorted((small / 'val').glob('*.png'))[0])),
                       cv2.COLOR_BGR2RGB)
    labels = create_backend('onnxruntime', str(out / 'model.onnx')).infer(rgb).labels
    assert labels.shape == rgb.shape[:2] and labels.max() < len(CAMVID11)


@pytest.mark.slow
def test_a_finished_run_resumed_exports_again_in_another_precision(run3, small, tmp_path,
                                                                   capsys):
    """--resume on a finished run trains nothing more and exports best.pth as asked."""
    import onnx
    from seg_ros.inference import contract

    out = tmp_path / 'again'
    shutil.copytree(run3, out)
    (out / 'model.onnx').unlink()
    capsys.readouterr()
    assert finetune(small, out, '--epochs', '3', '--name', 'espnet_small_test', '--resume',
                    '--precision', 'int8-cpu', '--calib', str(small / 'train')) == 0
    printed = capsys.readouterr().out
    assert 'after epoch 3 (step 6)' in printed
    assert not re.search(r'^epoch \d+/', printed, re.M)    # no epoch ran again
    meta = {p.key: p.value for p in onnx.load(out / 'model.onnx').metadata_props}
    assert meta[contract.KEY_PRECISION] == 'int8-cpu'
    assert json.loads((out / 'log.json').read_text()) == json.loads(
        (run3 / 'log.json').read_text())


@pytest.mark.parametrize('extra, expected', [
    (['--precision', 'int8'], '--precision int8 needs calibration frames: pass --calib DIR'),
    (['--precision', 'int8-cpu', '--calib', 'no/such/dir'], 'no/such/dir'),
    (['--calib', 'frames'], '--calib is only used by --precision int8 and int8-cpu, not fp32')])
def test_export_options_are_checked_before_training(small, tmp_path, capsys, extra, expected):
    """A bad export option stops the run at once, not after the training it would end."""
    assert finetune(small, tmp_path / 'run', '--epochs', '1', *extra) == 1
    err = capsys.readouterr().err
    assert err.startswith('error: export options: ') and expected in err, err
    assert not (tmp_path / 'run' / 'log.csv').exists()


@pytest.mark.slow
def test_resume_continues_from_the_saved_step(run3, small, tmp_path, capsys):
    """Stopped after two epochs, then resumed: the same log and the same weights as one run."""
    import torch
    out = tmp_path / 'resumed'
    assert finetune(small, out, '--epochs', '3', '--stop-after', '2', '--no-export') == 0
    assert 'stopping after epoch 2 of 3' in capsys.readouterr().out
    assert not (out / 'curves.png').exists()
    assert finetune(small, out, '--epochs', '3', '--no-export', '--resume') == 0
    assert f'resuming {out} after epoch 2 (step 4)' in capsys.readouterr().out
    ours = torch.load(out / 'last.ckpt', weights_only=False)
    ref = torch.load(run3 / 'last.ckpt', weights_only=False)
    assert ours['step'] == 6 and [r['step'] for r in ours['history']] == [2, 4, 6]
    for key, value in ref['model'].items():
        torch.testing.assert_close(ours['model'][key], value, rtol=0, atol=0, msg=key)
    assert [r['train_loss'] for r in ours['history']] == \
        [r['train_loss'] for r in ref['history']]


# --- bad data: one clear message naming the file -----------------------------------------


def _bad(small, tmp_path, change):
    """Copy the small training split, apply ``change`` to it, return its two folders."""
    images, labels = tmp_path / 'img', tmp_path / 'lab'
    shutil.copytree(small / 'train', images)
    shutil.copytree(small / 'trainannot', labels)
    first = sorted(labels.glob('*.png'))[0]
    change(images, labels, first)
    return images, labels, first


def _rgb_label(images, labels, first):
    cv2.imwrite(str(first), np.dstack([cv2.imread(str(first), cv2.IMREAD_GRAYSCALE)] * 3))


def _empty(images, labels, first):
    for p in images.glob('*'):
        p.unlink()


BAD = {
    'missing_label': (lambda i, lab, f: f.unlink(),
                      lambda i, lab, f: [f'{i / f.name} has no label', 'label it or move it']),
    'label_without_image': (lambda i, lab, f: (i / f.name).unlink(),
                            lambda i, lab, f: [f'{f} has no image of the same name']),
    'size': (lambda i, lab, f: cv2.imwrite(str(f), np.zeros((10, 12), np.uint8)),
             lambda i, lab, f: [str(f), 'label is 12x10 but image', 'is 96x72']),
    'value': (lambda i, lab, f: cv2.imwrite(str(f), np.full((72, 96), 17, np.uint8)),
              lambda i, lab, f: [str(f), 'label value(s) 17 are not in the class list',
                                 'ignore 11']),
    'colour': (_rgb_label, lambda i, lab, f: [str(f), 'one class value per pixel']),
    'empty': (_empty, lambda i, lab, f: [f'no images in {i} (empty split)']),
}


@pytest.mark.parametrize('case', sorted(BAD))
def test_bad_training_data_is_named(case, small, tmp_path, capsys):
    change, expected = BAD[case]
    images, labels, first = _bad(small, tmp_path, change)
    rc = cli.main(['finetune', 'espnet_cityscapes', '--train', str(images), str(labels),
                   '--val', str(small / 'val'), str(small / 'valannot'), '--dataset', 'camvid',
                   '-o', str(tmp_path / 'run'), '--no-progress'])
    err = capsys.readouterr().err
    assert rc == 1 and err.startswith('error: ')
    for text in expected(images, labels, first):
        assert text in err, err
    assert not (tmp_path / 'run').exists()        # nothing written for a run that cannot start


def test_class_options_are_checked(tmp_path):
    with pytest.raises(td.DataError, match='unknown dataset preset "kitti"; presets: camvid'):
        td.class_spec(preset='kitti')
    with pytest.raises(td.DataError, match='--ignore 3 is the label value of class "road"'):
        td.class_spec(preset='camvid', ignore=3)
    with pytest.raises(td.DataError, match='--classes FILE'):
        td.class_spec()
    bad = tmp_path / 'map.yaml'
    bad.write_text('classes: [floor]\nmapping: {road: flor}\ndefault: ignore\n')
    with pytest.raises(td.DataError, match='maps to "flor", which is not in classes: floor'):
        td.class_spec(preset='camvid', label_map=str(bad))
    bad.write_text('mapping: {road: floor, tarmac: floor}\n')
    with pytest.raises(td.DataError, match='label class "tarmac", which is not one'):
        td.class_spec(preset='camvid', label_map=str(bad))
    bad.write_text('mapping: {road: floor}\n')
    with pytest.raises(td.DataError, match=r'sky, building, pole, sidewalk.* are not mapped'):
        td.class_spec(preset='camvid', label_map=str(bad))


# --- classes, mappings, weights ------------------------------------------------------------


def test_median_frequency_weights_match_a_hand_computed_example():
    """
    Two 2x2 labels, classes 0..3 (3 absent), 255 ignored.

    freq(0) = 4 / (4 + 3) (in both images), freq(1) = 1 / 4, freq(2) = 2 / 3; median 4/7:
    weights 1, (4/7)/(1/4) = 16/7, (4/7)/(2/3) = 6/7, and 0 for the absent class.
    """
    labels = [np.array([[0, 0], [0, 1]], np.uint8), np.array([[0, 2], [2, 255]], np.uint8)]
    weights = td.median_frequency_weights(labels, 4)
    np.testing.assert_allclose(weights, [1.0, 16 / 7, 6 / 7, 0.0])


def test_label_map_merges_and_renames(tmp_path):
    spec_file = tmp_path / 'map.yaml'
    spec_file.write_text('mapping:\n  road: floor\n  sidewalk: floor\n  Pedestrian: person\n'
                         '  10: person\ndefault: ignore\n')   # by name (any case) or value
    spec = td.class_spec(preset='camvid', label_map=str(spec_file))
    assert spec.classes == ('floor', 'person')
    raw = np.array([[3, 4, 9, 10, 0, 11]])
    np.testing.assert_array_equal(spec.lut[raw], [[0, 0, 1, 1, 255, 255]])


def test_functional_taxonomy_mapping():
    """Map CamVid labels onto the camvid taxonomy: functional classes, void still ignored."""
    spec = td.class_spec(preset='camvid', taxonomy='camvid')
    assert spec.classes == ('unknown', 'traversable', 'obstacle', 'dynamic_obstacle', 'road')
    raw = np.arange(12)[None]
    np.testing.assert_array_equal(spec.lut[raw],
                                  [[0, 2, 2, 4, 1, 2, 2, 2, 3, 3, 3, 255]])
    assert spec.taxonomy['mapping']['road'] == 'road'
    assert spec.taxonomy['classes']['road']['cost'] == 60


def test_augment_keeps_labels_on_their_pixels():
    """Scale, crop and flip move frame and label together; jitter touches the frame only."""
    rgb = np.zeros((40, 60, 3), np.uint8)
    rgb[:, 30:] = 200
    label = np.zeros((40, 60), np.uint8)
    label[:, 30:] = 1
    aug = td.Augment(crop=(32, 32), scale=(0.8, 1.2), jitter=0.0, hue=0)
    for seed in range(8):
        img, lab = aug(rgb, label, td.sample_rng(0, 0, seed))
        assert img.shape == (32, 32, 3) and lab.shape == (32, 32)
        real = lab != td.IGNORE
        np.testing.assert_array_equal(img[..., 0][real] > 100, lab[real] == 1)
    a = aug(rgb, label, td.sample_rng(3, 1, 2))
    b = aug(rgb, label, td.sample_rng(3, 1, 2))
    np.testing.assert_array_equal(a[0], b[0])        # same seed, epoch, position: same sample


def test_losses_and_schedule():
    import torch
    from seg_ros.offline.training.losses import lr_factor, segmentation_loss
    logits = torch.tensor([[[[4.0, 0.0]], [[0.0, 4.0]]]])      # (1, 2, 1, 2)
    target = torch.tensor([[[0, 0]]])
    ce = segmentation_loss(logits, target)
    expected = (np.log1p(np.exp(-4.0)) + np.log1p(np.exp(4.0))) / 2
    assert float(ce) == pytest.approx(expected, rel=1e-5)
    # OHEM keeps only the hard pixel (probability of the truth < 0.7).
    ohem = segmentation_loss(logits, target, kind='ohem')
    assert float(ohem) == pytest.approx(np.log1p(np.exp(4.0)), rel=1e-5)
    ignored = segmentation_loss(logits, torch.tensor([[[0, 255]]]))
    assert float(ignored) == pytest.approx(np.log1p(np.exp(-4.0)), rel=1e-5)
    dice = segmentation_loss(logits, target, dice=1.0) - ce
    assert 0 < float(dice) < 1
    assert lr_factor(0, 100, 10) == pytest.approx(0.1)
    assert lr_factor(10, 100, 10) == pytest.approx(1.0)
    assert lr_factor(55, 100, 10, 'cosine') == pytest.approx(0.5)
    assert lr_factor(55, 100, 10, 'poly') == pytest.approx(0.5 ** 0.9)
