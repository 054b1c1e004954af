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

"""Taxonomy files: validation against a model's classes, the lookup table, the presets."""
import importlib
from pathlib import Path

import numpy as np
import pytest

from seg_ros.traversability import taxonomy
from seg_ros.traversability.taxonomy import TaxonomyError
from seg_ros.zoo import CAMVID_CLASSES, CITYSCAPES_CLASSES
from seg_ros.zoo.datasets.cocostuff import COCO_STUFF_171

CAMVID = list(CAMVID_CLASSES)
CITYSCAPES = list(CITYSCAPES_CLASSES) + ['ignore']
# ADE20K-150 official short names (objectInfo150 order), as the common exporters spell them.
ADE20K = [
    'wall', 'building', 'sky', 'floor', 'tree', 'ceiling', 'road', 'bed ', 'windowpane',
    'grass', 'cabinet', 'sidewalk', 'person', 'earth', 'door', 'table', 'mountain', 'plant',
    'curtain', 'chair', 'car', 'water', 'painting', 'sofa', 'shelf', 'house', 'sea', 'mirror',
    'rug', 'field', 'armchair', 'seat', 'fence', 'desk', 'rock', 'wardrobe', 'lamp', 'bathtub',
    'railing', 'cushion', 'base', 'box', 'column', 'signboard', 'chest of drawers', 'counter',
    'sand', 'sink', 'skyscraper', 'fireplace', 'refrigerator', 'grandstand', 'path', 'stairs',
    'runway', 'case', 'pool table', 'pillow', 'screen door', 'stairway', 'river', 'bridge',
    'bookcase', 'blind', 'coffee table', 'toilet', 'flower', 'book', 'hill', 'bench',
    'countertop', 'stove', 'palm', 'kitchen island', 'computer', 'swivel chair', 'boat', 'bar',
    'arcade machine', 'hovel', 'bus', 'towel', 'light', 'truck', 'tower', 'chandelier',
    'awning', 'streetlight', 'booth', 'television receiver', 'airplane', 'dirt track',
    'apparel', 'pole', 'land', 'bannister', 'escalator', 'ottoman', 'bottle', 'buffet',
    'poster', 'stage', 'van', 'ship', 'fountain', 'conveyer belt', 'canopy', 'washer',
    'plaything', 'swimming pool', 'stool', 'barrel', 'basket', 'waterfall', 'tent', 'bag',
    'minibike', 'cradle', 'oven', 'ball', 'food', 'step', 'tank', 'trade name', 'microwave',
    'pot', 'animal', 'bicycle', 'lake', 'dishwasher', 'screen', 'blanket', 'sculpture', 'hood',
    'sconce', 'vase', 'traffic light', 'tray', 'ashcan', 'fan', 'pier', 'crt screen', 'plate',
    'monitor', 'bulletin board', 'shower', 'radiator', 'glass', 'clock', 'flag']
PRESETS = {'camvid': CAMVID, 'cityscapes': CITYSCAPES, 'ade20k': ADE20K,
           'cocostuff': list(COCO_STUFF_171)}


def test_ade20k_list_is_complete():
    assert len(ADE20K) == 150 and len(set(ADE20K)) == 150


@pytest.mark.parametrize('name', sorted(PRESETS))
def test_presets_validate(name):
    tax = taxonomy.load(taxonomy.resolve(name), PRESETS[name])
    assert tax.names[:4] == ('unknown', 'traversable', 'obstacle', 'dynamic_obstacle')
    # Every model class lands somewhere, and the ids the model never emits read as unknown.
    assert tax.lut[len(PRESETS[name]):].max() == 0
    assert set(tax.lut[:len(PRESETS[name])]) <= set(range(len(tax.classes)))


def test_preset_choices_from_a_robot_view():
    cam = taxonomy.load(taxonomy.resolve('camvid'), CAMVID)
    fid = dict(zip(CAMVID, cam.lut))
    assert cam.names[fid['sidewalk']] == 'traversable'
    assert cam.names[fid['pedestrian']] == 'dynamic_obstacle'
    assert cam.names[fid['building']] == 'obstacle'
    assert cam.names[fid['void']] == 'unknown'
    ade = taxonomy.load(taxonomy.resolve('ade20k'), ADE20K)
    fid = dict(zip(ADE20K, ade.lut))
    assert {ade.names[fid[c]] for c in ('floor', 'rug')} == {'traversable'}
    assert {ade.names[fid[c]] for c in ('wall', 'sofa', 'bed ', 'door', 'stairs')} == {'obstacle'}
    assert {ade.names[fid[c]] for c in ('person', 'animal')} == {'dynamic_obstacle'}
    assert ade.names[fid['ceiling']] == 'unknown'
    assert ade.classes[fid['water']].cost == 100 and ade.classes[fid['water']].kind == 'ground'


@pytest.mark.parametrize('name', sorted(PRESETS))
def test_presets_against_zoo_classes(name):
    """Each preset loads against the class list of the zoo's exports of that dataset."""
    try:
        zoo = importlib.import_module('seg_ros.zoo')
    except ImportError:
        pytest.skip('seg_ros.zoo not in this tree yet')
    lists = [tuple(entry.classes) for entry in _zoo_entries(zoo)
             if name in str(getattr(entry, 'dataset', '')).lower().replace('-', '')]
    if not lists:
        pytest.skip(f'no zoo entry for {name}')
    for classes in lists:
        taxonomy.load(taxonomy.resolve(name), classes)


def _zoo_entries(zoo):
    for attr in ('ZOO', 'MODELS', 'ENTRIES'):
        table = getattr(zoo, attr, None)
        if isinstance(table, dict):
            return list(table.values())
        if isinstance(table, (list, tuple)):
            return list(table)
    return []


def test_builtin_ids_and_user_classes():
    spec = {'classes': {'rough': {'cost': 60, 'color': [1, 2, 3]},
                        'dynamic_obstacle': {'inflation': 0.8}},
            'mapping': {'road': 'traversable', 'sidewalk': 'rough', 'car': 'dynamic_obstacle'},
            'default': 'obstacle'}
    tax = taxonomy.build(spec, CAMVID)
    assert tax.names == ('unknown', 'traversable', 'obstacle', 'dynamic_obstacle', 'rough')
    assert tax.classes[4].cost == 60 and tax.classes[4].color == (1, 2, 3)
    assert tax.classes[4].kind == 'ground'
    assert tax.classes[3].inflation == 0.8 and tax.classes[3].cost == 100
    labels = np.array([[3, 4, 8, 0]], np.uint8)
    assert tax.functional(labels).tolist() == [[1, 4, 3, 2]]
    assert tax.functional(labels.astype(np.int32)).tolist() == [[1, 4, 3, 2]]
    assert tax.costs.tolist() == [-1, 0, 100, 100, 60]
    assert tax.colorize(tax.functional(labels))[0, 1].tolist() == [1, 2, 3]


def test_loose_name_matching():
    tax = taxonomy.build({'mapping': {'sky': 'unknown', 'bed': 'obstacle',
                                      'traffic light': 'obstacle'}, 'default': 'traversable'},
                         ['Sky', 'bed ', 'traffic_light', 'floor'])
    assert tax.lut[:4].tolist() == [0, 2, 2, 1]


@pytest.mark.parametrize('spec, match', [
    ({'mapping': {'roads': 'traversable'}, 'default': 'unknown'}, r'does not have.*road'),
    ({'mapping': {'road': 'free'}, 'default': 'unknown'}, r'not a functional class.*traversable'),
    ({'mapping': {'road': 'traversable'}}, r'sky.*not mapped.*default'),
    ({'classes': {'rough': {'cost': 101}}, 'default': 'unknown'}, r'cost must be an integer'),
    ({'classes': {'rough': {'cost': 'high'}}, 'default': 'unknown'}, r'cost must be'),
    ({'classes': {'rough': {'color': [1, 2, 3]}}, 'default': 'unknown'}, r'needs a cost'),
    ({'classes': {'rough': {'cost': 5, 'colour': [1, 2, 3]}}, 'default': 'unknown'},
     r'unknown key'),
    ({'classes': {'rough': {'cost': 5, 'color': [1, 2, 300]}}, 'default': 'unknown'},
     r'color must be'),
    ({'classes': {'rough': {'cost': 5, 'type': 'wall'}}, 'default': 'unknown'}, r'type must be'),
    ({'classes': {'obstacle': {'type': 'ground'}}, 'default': 'unknown'}, r'fixed'),
    ({'classes': {'dynamic_obstacle': {'inflation': -1}}, 'default': 'unknown'}, r'inflation'),
    ({'default': 'nothing'}, r'"default" maps to .nothing.'),
    ({'mapping': {'road': 'traversable'}, 'defaults': 'unknown'}, r'unknown top-level key'),
])
def test_validation_errors(spec, match):
    with pytest.raises(TaxonomyError, match=match):
        taxonomy.build(spec, CAMVID)


def test_error_lists_valid_model_classes():
    with pytest.raises(TaxonomyError) as err:
        taxonomy.build({'mapping': {'Person': 'dynamic_obstacle'}, 'default': 'unknown'}, CAMVID)
    assert 'pedestrian' in str(err.value) and 'sidewalk' in str(err.value)


def test_load_file_errors(tmp_path: Path):
    with pytest.raises(TaxonomyError, match='not found.*preset'):
        taxonomy.load(tmp_path / 'missing.yaml', CAMVID)
    bad = tmp_path / 'bad.yaml'
    bad.write_text('mapping: [unclosed\n')
    with pytest.raises(TaxonomyError, match='not valid YAML'):
        taxonomy.load(bad, CAMVID)
    good = tmp_path / 'mine.yaml'
    good.write_text('mapping:\n  road: traversable\ndefault: obstacle\n')
    assert taxonomy.load(good, CAMVID).lut[3] == 1


def test_resolve_presets():
    assert {'camvid', 'cityscapes', 'ade20k', 'cocostuff'} <= set(taxonomy.preset_names())
    assert taxonomy.resolve('camvid').name == 'camvid.yaml'
    assert str(taxonomy.resolve('/x/y.yaml')) == '/x/y.yaml'


def test_deeply_nested_file_and_missing_path(tmp_path: Path):
    """
    Report 3000 levels of YAML by name (RecursionError killed the worker), a missing file as such.

    A path that is not there said "Environment variable 'AMENT_PREFIX_PATH' is not set".
    """
    deep = tmp_path / 'deep.yaml'
    deep.write_text('mapping:\n  Road: ' + '[' * 3000 + ']' * 3000 + '\n')
    with pytest.raises(TaxonomyError, match='nested too deeply'):
        taxonomy.load(deep, CAMVID_CLASSES)
    missing = tmp_path / 'nowhere' / 'robot.yaml'
    with pytest.raises(TaxonomyError, match=f'taxonomy file not found: {missing}'):
        taxonomy.load(taxonomy.resolve(str(missing)), CAMVID_CLASSES)
