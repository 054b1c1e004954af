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

"""``seg-ros evaluate`` on a passthrough model, where the right answer is known by construction."""
import json
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
import pytest

from seg_ros.inference.loader import create_backend
from seg_ros.testing import synthetic
from seg_ros.tools import cli, evaluate

CLASSES = ['ground', 'wall', 'person', 'void']
PALETTE = [[128, 64, 128], [70, 70, 70], [220, 20, 60], [0, 0, 0]]


def _frames() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Two 10x10 frames: (prediction the passthrough model will make, ground truth)."""
    gt_a = np.zeros((10, 10), np.uint8)
    gt_a[5:] = 1
    pred_a = gt_a.copy()
    pred_a[9] = 2                      # 10 wall pixels called person
    gt_b = np.full((10, 10), 2, np.uint8)
    gt_b[0, :] = 3                     # 10 void pixels, ignored
    pred_b = np.full((10, 10), 2, np.uint8)
    return {'a': (pred_a, gt_a), 'b': (pred_b, gt_b)}


@pytest.fixture
def dataset(tmp_path: Path) -> tuple[Path, Path, Path]:
    model = synthetic.save_passthrough(str(tmp_path / 'pt.onnx'), CLASSES, palette=PALETTE)
    images, labels = tmp_path / 'images', tmp_path / 'labels'
    images.mkdir()
    labels.mkdir()
    for stem, (pred, gt) in _frames().items():
        rgb = np.zeros(pred.shape + (3,), np.uint8)
        rgb[..., 0] = pred                              # passthrough: class = red channel
        cv2.imwrite(str(images / f'{stem}.png'), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        Image.fromarray(gt, mode='L').save(labels / f'{stem}.png')
    (images / 'unlabelled.png').write_bytes((images / 'a.png').read_bytes())
    return Path(model), images, labels


def _run(model: Path, images: Path, labels: Path, tmp_path: Path, *extra: str) -> dict:
    out = tmp_path / 'out.json'
    rc = cli.main(['evaluate', '--model', str(model), '--images', str(images), '--labels',
                   str(labels), '--ignore-index', '3', '--json', str(out), '--no-progress',
                   *extra])
    assert rc == 0
    return json.loads(out.read_text())


def _check_known_answer(doc: dict) -> None:
    m = doc['metrics']
    ious = [c['iou'] for c in m['per_class']]
    assert [c['name'] for c in m['per_class']] == ['ground', 'wall', 'person']
    assert ious == pytest.approx([1.0, 0.8, 0.9])
    assert m['mean_iou'] == pytest.approx(0.9)
    assert m['pixel_accuracy'] == pytest.approx(180 / 190)
    assert m['mean_class_accuracy'] == pytest.approx((1 + 0.8 + 1) / 3)
    assert m['frequency_weighted_iou'] == pytest.approx((50 * 1 + 50 * 0.8 + 90 * 0.9) / 190)


def test_evaluate_grey_labels_json_and_plots(dataset, tmp_path, capsys):
    model, images, labels = dataset
    doc = _run(model, images, labels, tmp_path, '--plots', str(tmp_path / 'plots'))
    _check_known_answer(doc)
    assert doc['schema_version'] == 1 and doc['images'] == 2
    assert doc['scored_classes'] == [0, 1, 2]
    assert doc['confusion_matrix'][1] == [0, 40, 10, 0]
    assert doc['metrics']['boundary_tolerance_px'] == 2.0
    for name in ('confusion_matrix.png', 'per_class_iou.png'):
        with Image.open(tmp_path / 'plots' / name) as img:
            assert img.format == 'PNG' and img.width > 200
    assert not (tmp_path / 'plots' / 'functional_iou.png').exists()
    captured = capsys.readouterr()
    assert 'mIoU 90.00' in captured.out
    assert '1 images without a label skipped' in captured.err


def test_palette_png_labels_by_index_and_by_color(dataset, tmp_path):
    model, images, _ = dataset
    by_index, by_color, rgb = (tmp_path / n for n in ('by_index', 'by_color', 'rgb'))
    for d in (by_index, by_color, rgb):
        d.mkdir()
    # A colour table in another order than the model's: index k shows the colour of class 3 - k.
    scrambled = sum((PALETTE[3 - k] for k in range(4)), [])
    for stem, (_, gt) in _frames().items():
        p = Image.fromarray(gt, mode='P')
        p.putpalette(sum(PALETTE, []))
        p.save(by_index / f'{stem}.png')
        q = Image.fromarray((3 - gt).astype(np.uint8), mode='P')
        q.putpalette(scrambled)
        q.save(by_color / f'{stem}.png')
        Image.fromarray(np.asarray(PALETTE, np.uint8)[gt], mode='RGB').save(rgb / f'{stem}.png')
    _check_known_answer(_run(model, images, by_index, tmp_path))
    _check_known_answer(_run(model, images, by_color, tmp_path, '--label-colours', 'palette'))
    _check_known_answer(_run(model, images, rgb, tmp_path))
    # Read by index, the scrambled table gives other ids: the option matters.
    wrong = _run(model, images, by_color, tmp_path)
    assert wrong['metrics']['mean_iou'] != pytest.approx(0.9)


def test_functional_metrics_from_a_lookup_table(dataset):
    model, images, labels = dataset
    backend = create_backend('onnxruntime', str(model))
    pairs, _, _ = evaluate.pair_files(images, labels)
    # ground -> traversable, wall and person -> obstacle, void -> not mapped.
    fmap = evaluate.FunctionalMap(np.array([0, 1, 1, -1]), ('traversable', 'obstacle'))
    result = evaluate.evaluate(backend, pairs, ignore_index=3, functional=fmap, progress=False)
    # Wall called person is still an obstacle: functionally every pixel is right.
    assert result.scores.mean_iou == pytest.approx(0.9)
    # Void is unmapped, so the matrix keeps a column for unmapped predictions (none here).
    np.testing.assert_array_equal(result.functional_cm, [[50, 0, 0], [0, 140, 0], [0, 0, 0]])
    assert result.functional.iou == pytest.approx([1.0, 1.0])
    assert result.functional.names == ('traversable', 'obstacle')


def test_predicting_an_unmapped_class_is_a_functional_miss(dataset):
    model, images, labels = dataset
    backend = create_backend('onnxruntime', str(model))
    pairs, _, _ = evaluate.pair_files(images, labels)
    # Person is not mapped: frame a's 10 wall pixels called person are obstacle misses, and
    # frame b's 90 person pixels are not scored.
    fmap = evaluate.FunctionalMap(np.array([0, 1, -1, -1]), ('traversable', 'obstacle'))
    result = evaluate.evaluate(backend, pairs, ignore_index=3, functional=fmap, progress=False)
    np.testing.assert_array_equal(result.functional_cm, [[50, 0, 0], [0, 40, 10], [0, 0, 0]])
    assert result.functional.iou == pytest.approx([1.0, 0.8])
    assert result.functional.accuracy == pytest.approx([1.0, 0.8])


def test_functional_metrics_from_a_taxonomy_file(dataset, tmp_path):
    pytest.importorskip('seg_ros.traversability.taxonomy')
    model, images, labels = dataset
    tax = tmp_path / 'tax.yaml'
    tax.write_text('mapping: {ground: traversable, Wall: obstacle, person: dynamic_obstacle}\n'
                   'default: unknown\n')
    doc = _run(model, images, labels, tmp_path, '--taxonomy', str(tax), '--plots',
               str(tmp_path / 'plots'))
    assert (tmp_path / 'plots' / 'functional_iou.png').stat().st_size > 1000
    f = {c['name']: c for c in doc['functional']['per_class']}
    assert f['traversable']['iou'] == pytest.approx(1.0)
    # 10 wall pixels called person: obstacle 40/50, dynamic obstacle 90/100.
    assert f['obstacle']['iou'] == pytest.approx(0.8)
    assert f['dynamic_obstacle']['iou'] == pytest.approx(0.9)
    assert f['unknown']['iou'] is None                  # void is ignored, nothing else maps


def test_unknown_color_and_size_mismatch_are_clear_errors(dataset, tmp_path, capsys):
    model, images, _ = dataset
    bad = tmp_path / 'bad'
    bad.mkdir()
    Image.fromarray(np.full((10, 10, 3), 7, np.uint8), mode='RGB').save(bad / 'a.png')
    args = ['evaluate', '--model', str(model), '--images', str(images), '--labels', str(bad),
            '--no-progress']
    assert cli.main(args) == 1
    assert 'rgb(7, 7, 7) is not in the model palette' in capsys.readouterr().err
    Image.fromarray(np.zeros((5, 10), np.uint8), mode='L').save(bad / 'a.png')
    assert cli.main(args) == 1
    assert 'label is 10x5 but image a.png is 10x10' in capsys.readouterr().err
    assert cli.main(args[:-2] + [str(tmp_path / 'nothing'), '--no-progress']) == 1
    assert 'label folder not found' in capsys.readouterr().err


def test_label_beyond_model_classes_names_the_file(dataset, tmp_path, capsys):
    model, images, _ = dataset
    labels = tmp_path / 'l255'
    labels.mkdir()
    Image.fromarray(np.full((10, 10), 255, np.uint8), mode='L').save(labels / 'a.png')
    assert cli.main(['evaluate', '--model', str(model), '--images', str(images), '--labels',
                     str(labels), '--no-progress']) == 1
    err = capsys.readouterr().err
    assert 'a.png' in err and 'ignore-index' in err


# --- labels in other classes than the model's --------------------------------------------

SOURCE = ['road', 'grass', 'building', 'pedestrian']    # what the label values of this set mean


def _source_labels(tmp_path: Path) -> Path:
    """Write the known-answer labels in SOURCE's values (ground split into road and grass)."""
    to_source = {0: (0, 1), 1: (2, 2), 2: (3, 3), 3: (255, 255)}   # model id -> source values
    folder = tmp_path / 'source_labels'
    folder.mkdir()
    for stem, (_, gt) in _frames().items():
        out = np.zeros_like(gt)
        for model_id, (left, right) in to_source.items():
            out[:, :5][gt[:, :5] == model_id] = left
            out[:, 5:][gt[:, 5:] == model_id] = right
        Image.fromarray(out, mode='L').save(folder / f'{stem}.png')
    return folder


def test_labels_in_other_classes_through_a_label_map(dataset, tmp_path, capsys):
    model, images, _ = dataset
    labels = _source_labels(tmp_path)
    (tmp_path / 'classes.txt').write_text('\n'.join(SOURCE) + '\n')
    # Its classes in another order than the model's: they are matched by name.
    (tmp_path / 'map.yaml').write_text(
        'classes: [Person, wall, ground]\n'
        'mapping: {road: ground, grass: ground, building: wall, pedestrian: Person}\n')
    out = tmp_path / 'out.json'
    assert cli.main(['evaluate', '--model', str(model), '--images', str(images), '--labels',
                     str(labels), '--label-classes', str(tmp_path / 'classes.txt'),
                     '--label-map', str(tmp_path / 'map.yaml'), '--json', str(out),
                     '--no-progress']) == 0
    doc = json.loads(out.read_text())
    m = doc['metrics']
    # The known answer, scored on the model's classes; its "void" class occurs nowhere.
    assert [c['name'] for c in m['per_class']] == CLASSES
    assert [c['iou'] for c in m['per_class']][:3] == pytest.approx([1.0, 0.8, 0.9])
    assert m['per_class'][3]['iou'] is None and m['mean_iou'] == pytest.approx(0.9)
    assert m['pixel_accuracy'] == pytest.approx(180 / 190)
    assert 'label map' in doc['label_mapping'] and '4 label classes' in doc['label_mapping']
    assert 'labels: 4 label classes of' in capsys.readouterr().out


def test_functional_model_against_the_original_labels(tmp_path):
    """A model of functional classes (finetune --taxonomy) scored on CamVid's own labels."""
    from seg_ros.traversability import taxonomy
    from seg_ros.zoo import CAMVID_CLASSES

    tax = taxonomy.load(taxonomy.resolve('camvid'), CAMVID_CLASSES)
    model = synthetic.save_passthrough(str(tmp_path / 'f.onnx'), list(tax.names))
    gt = np.full((10, 10), CAMVID_CLASSES.index('road'), np.uint8)
    gt[5:] = CAMVID_CLASSES.index('car')
    gt[0] = 11                                            # void: not scored
    lut = np.asarray(tax.lut)
    pred = lut[np.minimum(gt, len(CAMVID_CLASSES) - 1)].astype(np.uint8)
    road, car = lut[CAMVID_CLASSES.index('road')], lut[CAMVID_CLASSES.index('car')]
    assert road != car
    pred[9] = road                                        # 10 car pixels called road
    images, labels = tmp_path / 'i', tmp_path / 'l'
    images.mkdir()
    labels.mkdir()
    rgb = np.zeros((10, 10, 3), np.uint8)
    rgb[..., 0] = pred
    cv2.imwrite(str(images / 'x.png'), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    Image.fromarray(gt, mode='L').save(labels / 'x.png')
    backend = create_backend('onnxruntime', model)
    mapping = evaluate.load_label_mapping(backend.info.classes, preset='camvid',
                                          taxonomy='camvid')
    result = evaluate.evaluate(backend, [(images / 'x.png', labels / 'x.png')], None,
                               progress=False, label_mapping=mapping)
    iou = dict(zip(result.classes, result.scores.iou))
    # road: 40 right, 10 more predicted -> 40/50; car: 40 of 50 found -> 40/50
    assert iou[tax.names[road]] == pytest.approx(0.8)
    assert iou[tax.names[car]] == pytest.approx(0.8)
    assert result.cm.sum() == 90


@pytest.mark.parametrize('options, expected', [
    (['--label-map', 'map.yaml'], 'add --label-dataset PRESET or --label-classes FILE'),
    (['--label-dataset', 'camvid', '--label-map', 'map.yaml'],
     'gives class(es) floor, which the model does not predict (its classes: ground, wall'),
    (['--label-dataset', 'nosuch'], 'unknown dataset preset "nosuch"; presets: camvid, '
     'cityscapes, rugd (or --label-classes FILE)'),
    (['--label-dataset', 'camvid', '--ignore-index', '3'],
     '--ignore-index 3 is the label value of class "road"'),
    (['--label-dataset', 'camvid', '--label-colours', 'palette'],
     '--label-colours palette reads colours as the model'),
    (['--label-dataset', 'camvid', '--label-taxonomy', 'nosuch'], '--label-taxonomy nosuch: '),
    (['--label-dataset', 'camvid', '--label-taxonomy', 'camvid', '--label-map', 'map.yaml'],
     'give either --label-map or --label-taxonomy, not both'),
])
def test_label_mapping_errors_name_the_fix(dataset, tmp_path, capsys, monkeypatch, options,
                                           expected):
    model, images, labels = dataset
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'map.yaml').write_text('mapping: {road: floor, building: wall, '
                                       'pedestrian: person}\ndefault: ignore\n')
    assert cli.main(['evaluate', '--model', str(model), '--images', str(images), '--labels',
                     str(labels), '--no-progress', *options]) == 1
    err = capsys.readouterr().err
    assert 'error: ' in err and expected in err, err


def test_label_mapping_refuses_a_model_whose_class_would_read_as_ignored(tmp_path):
    model = synthetic.save_passthrough(str(tmp_path / 'p256.onnx'),
                                       [f'c{i}' for i in range(256)])
    classes = create_backend('onnxruntime', model).info.classes
    with pytest.raises(evaluate.EvaluationError, match='the model has 256 classes'):
        evaluate.load_label_mapping(classes, preset='camvid', taxonomy='camvid')


def test_label_values_outside_the_label_classes_name_the_file(dataset, tmp_path, capsys):
    model, images, _ = dataset
    labels = _source_labels(tmp_path)
    Image.fromarray(np.full((10, 10), 7, np.uint8), mode='L').save(labels / 'a.png')
    (tmp_path / 'classes.txt').write_text('\n'.join(SOURCE) + '\n')
    (tmp_path / 'map.yaml').write_text('mapping: {road: ground, grass: ground, building: wall, '
                                       'pedestrian: person}\n')
    args = ['evaluate', '--model', str(model), '--images', str(images), '--labels', str(labels),
            '--label-classes', str(tmp_path / 'classes.txt'), '--label-map',
            str(tmp_path / 'map.yaml'), '--no-progress']
    assert cli.main(args) == 1
    err = capsys.readouterr().err
    assert str(labels / 'a.png') in err and 'label value(s) 7 are in no label class' in err
    Image.fromarray(np.zeros((10, 10, 3), np.uint8), mode='RGB').save(labels / 'a.png')
    assert cli.main(args) == 1
    assert 'an RGB label PNG has no class values to map' in capsys.readouterr().err


def test_colours_to_ids_maps_unknown_to_ignore():
    rgb = np.array([[[0, 0, 0], [220, 20, 60], [1, 2, 3]]], np.uint8)
    ids = evaluate.colors_to_ids(rgb, np.asarray(PALETTE), unknown=255)
    assert ids.tolist() == [[3, 2, 255]]


def test_camvid_preset_fits_the_camvid_model_classes():
    """``seg-ros evaluate --taxonomy camvid`` on the exported espnet_camvid must load."""
    pytest.importorskip('seg_ros.traversability.taxonomy')
    from seg_ros import zoo

    fmap = evaluate.load_functional_map('camvid', zoo.get('espnet_camvid').classes)
    names = dict(zip(zoo.get('espnet_camvid').classes, (fmap.names[i] for i in fmap.lut)))
    assert names['sidewalk'] == 'traversable' and names['pedestrian'] == 'dynamic_obstacle'
    assert names['pole'] == 'obstacle'


@pytest.mark.parametrize('mode', ['L', 'LA', 'I;16', 'P', 'RGB', 'RGBA'])
def test_read_label_modes(tmp_path, mode):
    ids = np.array([[0, 1], [2, 3]], np.uint8)
    rgb = np.asarray(PALETTE, np.uint8)[ids]
    path = tmp_path / f'{mode.replace(";", "")}.png'
    if mode == 'P':
        img = Image.fromarray(ids, mode='P')
        img.putpalette(sum(PALETTE, []))
    elif mode in ('RGB', 'RGBA'):
        img = Image.fromarray(rgb, mode='RGB').convert(mode)
    else:
        img = Image.fromarray(ids, mode='L').convert(mode)
    img.save(path)
    got = evaluate.read_label(path, np.asarray(PALETTE, np.uint8))
    np.testing.assert_array_equal(got, ids)
