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

"""The Traversability facade: parameters, and a synthetic scene through a contract model."""
from pathlib import Path

import numpy as np
import pytest

from seg_ros import traversability
from seg_ros.inference.loader import create_backend
from seg_ros.testing import scene
from seg_ros.testing import synthetic
from seg_ros.traversability import geometry
from seg_ros.zoo import CAMVID_CLASSES

K = [500.0, 0.0, 320.0, 0.0, 500.0, 240.0, 0.0, 0.0, 1.0]
SKY, BUILDING, ROAD, SIDEWALK, PEDESTRIAN = 0, 1, 3, 4, 9


def test_defaults_cover_the_issue():
    cfg = traversability.from_parameters({})
    spec = cfg.grid
    assert spec.frame_id == 'base_link' and spec.resolution == 0.05
    assert spec.x_min <= 0 and spec.x_max >= 8 and spec.y_min <= -4 and spec.y_max >= 4
    assert not cfg.depth
    assert set(traversability.defaults()) == set(traversability.PARAMETERS)


@pytest.mark.parametrize('values, match', [
    ({'grid.resolution': 0}, 'grid.resolution'),
    ({'grid.resolution': 'fine'}, 'grid.resolution'),
    ({'grid.x_max': -1.0}, 'extent'),
    ({'grid.sample_step': 0}, 'grid.sample_step'),
    ({'grid.frame_id': ''}, 'grid.frame_id'),
    ({'camera_pose': [0, 0, 1]}, 'camera_pose'),
    ({'depth.enabled': 'yes'}, 'depth.enabled'),
    ({'depth.min_obstacle_height': 2.0, 'depth.max_obstacle_height': 1.0}, 'max_obstacle'),
    ({'obstacles.min_cost': 101}, 'obstacles.min_cost'),
    ({'grid.max_range': -2.0}, 'grid.max_range'),
    ({'grid.resolutoin': 0.1}, 'unknown traversability parameter'),
])
def test_parameter_errors(values, match):
    with pytest.raises(ValueError, match=match):
        traversability.from_parameters(values)


def test_taxonomy_from_the_model_dataset():
    cfg = traversability.from_parameters({})
    trav = traversability.Traversability(cfg, CAMVID_CLASSES,
                                         dataset='CamVid (11 classes + void, SegNet split)')
    assert Path(trav.taxonomy_path).name == 'camvid.yaml'
    for dataset, preset in (('Cityscapes (19 train ids + ignore)', 'cityscapes'),
                            ('ADE20K SceneParsing (150 classes)', 'ade20k'),
                            ('COCO-Stuff 2017 (171 classes: 80 things + 91 stuff)', 'cocostuff')):
        assert traversability.resolve_taxonomy('', dataset).endswith(f'{preset}.yaml')
    with pytest.raises(ValueError, match='no preset'):
        traversability.Traversability(cfg, CAMVID_CLASSES, dataset='mystery')


def test_process_needs_camera_info():
    trav = traversability.Traversability(
        traversability.from_parameters({'taxonomy': 'camvid'}), CAMVID_CLASSES)
    labels = np.full((48, 64), SIDEWALK, np.uint8)
    assert trav.functional(labels).max() == 1
    with pytest.raises(RuntimeError, match='camera_info'):
        trav.process(labels)
    trav.set_camera_info([50.0, 0, 32, 0, 50, 24, 0, 0, 1], [], 64, 48)
    # A label image at twice the camera_info size (same aspect) scales the intrinsics.
    assert trav.process(np.full((96, 128), SIDEWALK, np.uint8)).grid.max() == 0
    with pytest.raises(ValueError, match='aspect'):
        trav.process(np.full((48, 48), SIDEWALK, np.uint8))


def test_process_takes_the_functional_image_the_caller_has():
    """The node maps a frame once: the functional image it published goes into process."""
    trav = traversability.Traversability(
        traversability.from_parameters({'taxonomy': 'camvid'}), CAMVID_CLASSES)
    trav.set_camera_info(K, [], 640, 480)
    intr = geometry.Intrinsics.from_camera_info(K, [], 640, 480)
    labels, _ = scene.render(scene.Scene(SIDEWALK, SKY, [scene.Box(3, 3.5, -1, 0, 2, BUILDING)]),
                             intr, geometry.CameraPose.from_xyzrpy(trav.config.camera_pose))
    functional = trav.functional(labels)
    given = trav.process(labels, functional=functional)
    assert given.functional is functional
    assert np.array_equal(given.grid, trav.process(labels).grid)
    # It is used as given: all sidewalk (traversable, id 1) gives a grid without obstacles.
    free = trav.process(labels, functional=np.full_like(functional, 1))
    assert (free.grid == 100).sum() == 0 < (trav.process(labels).grid == 100).sum()
    with pytest.raises(ValueError, match='does not match'):
        trav.process(labels, functional=functional[:10])


def test_tf_transform_equals_pose_parameter():
    pose = [0.1, -0.2, 0.9, 0.0, 0.3, 0.2]
    a = traversability.Traversability(
        traversability.from_parameters({'taxonomy': 'camvid', 'camera_pose': pose}),
        CAMVID_CLASSES)
    b = traversability.Traversability(
        traversability.from_parameters({'taxonomy': 'camvid'}), CAMVID_CLASSES)
    cam = geometry.CameraPose.from_xyzrpy(pose)
    r = cam.rotation
    # The optical frame's quaternion (x, y, z, w) from its rotation matrix.
    w = np.sqrt(1 + np.trace(r)) / 2
    q = [(r[2, 1] - r[1, 2]) / (4 * w), (r[0, 2] - r[2, 0]) / (4 * w),
         (r[1, 0] - r[0, 1]) / (4 * w), w]
    b.set_camera_transform(pose[:3], q, optical=True)
    for t in (a, b):
        t.set_camera_info(K, [], 640, 480)
    intr = geometry.Intrinsics.from_camera_info(K, [], 640, 480)
    labels, _ = scene.render(scene.Scene(SIDEWALK, SKY, [scene.Box(3, 3.5, -1, 0, 2, BUILDING)]),
                             intr, cam)
    assert np.array_equal(a.process(labels).grid, b.process(labels).grid)


def test_end_to_end_through_a_contract_model(tmp_path):
    """Scene -> RGB (R = class) -> passthrough ONNX model -> labels -> grid."""
    model = synthetic.save_passthrough(str(tmp_path / 'pass.onnx'), CAMVID_CLASSES)
    backend = create_backend('onnxruntime', model)
    pose = [0.0, 0.0, 1.0, 0.0, 0.3, 0.0]
    cfg = traversability.from_parameters({'camera_pose': pose})
    trav = traversability.Traversability(cfg, backend.info.classes, dataset='camvid')
    trav.set_camera_info(K, [0.0] * 5, 640, 480, 'plumb_bob')
    intr = geometry.Intrinsics.from_camera_info(K, [], 640, 480)
    cam = geometry.CameraPose.from_xyzrpy(pose)
    sc = scene.Scene(SIDEWALK, SKY, [scene.Box(3.0, 3.4, -0.2, 0.2, 1.8, PEDESTRIAN)],
                     [scene.Patch(1.5, 2.0, -2.0, 2.0, ROAD)])
    labels, _ = scene.render(sc, intr, cam)
    rgb = np.zeros((480, 640, 3), np.uint8)
    rgb[..., 0] = labels
    out = backend.infer(rgb)
    assert np.array_equal(out.labels, labels)
    result = trav.process(out.labels)
    assert result.functional.shape == (480, 640) and result.functional.dtype == np.uint8
    tax = trav.taxonomy
    assert result.functional[470, 320] == tax.id_of('traversable')
    g = result.grid
    spec = result.spec
    cell = spec.cell_index(np.array([[1.3, 0.0], [1.75, 0.0], [2.95, 0.0], [2.5, 0.0],
                                     [4.5, 0.0]]))
    flat = g.ravel()[cell]
    road_cost = tax.classes[tax.id_of('road')].cost
    assert flat.tolist() == [0, road_cost, 100, 100, -1]  # free, road, foot, margin, hidden
    assert len(result.obstacle_points) > 0
    pts = result.obstacle_points
    assert np.all(np.abs(pts[:, 0] - 3.0) < 0.1) and np.all(np.abs(pts[:, 1]) < 0.25)
