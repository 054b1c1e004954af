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

"""Metrics against confusion matrices and boundaries worked out by hand."""
import numpy as np
import pytest

from seg_ros.offline import metrics

# gt / pred pairs: (0,0) (0,1) (1,1) (1,1) (2,0) and one ignored pixel; class 3 never occurs.
GT = np.array([[0, 0, 1], [1, 2, 255]], np.uint8)
PRED = np.array([[0, 1, 1], [1, 0, 2]], np.uint8)
CM = np.array([[1, 1, 0, 0],
               [0, 2, 0, 0],
               [1, 0, 0, 0],
               [0, 0, 0, 0]])


def test_confusion_matrix_skips_ignored_pixels():
    cm = metrics.confusion_matrix(PRED, GT, 4, ignore_index=255)
    np.testing.assert_array_equal(cm, CM)


def test_per_class_iou_and_empty_class():
    iou = metrics.per_class_iou(CM)
    np.testing.assert_allclose(iou[:3], [1 / 3, 2 / 3, 0.0])
    assert np.isnan(iou[3])          # in neither labels nor output: not scored, not zero
    assert metrics.mean_iou(CM) == pytest.approx(1 / 3)


def test_accuracies_and_frequency_weighted_iou():
    assert metrics.pixel_accuracy(CM) == pytest.approx(3 / 5)
    acc = metrics.class_accuracy(CM)
    np.testing.assert_allclose(acc[:3], [0.5, 1.0, 0.0])
    assert np.isnan(acc[3])
    assert metrics.mean_class_accuracy(CM) == pytest.approx(0.5)
    # (2 px * 1/3 + 2 px * 2/3 + 1 px * 0) / 5 px
    assert metrics.frequency_weighted_iou(CM) == pytest.approx(0.4)


def test_scoring_a_subset_still_counts_predictions_of_other_classes():
    # Class 2 is not scored, but class 0's prediction on a class-2 pixel still costs class 0.
    assert metrics.mean_iou(CM, classes=[0, 1]) == pytest.approx(0.5)
    assert metrics.scored_pixel_accuracy(CM, classes=[0, 1]) == pytest.approx(3 / 4)
    assert metrics.frequency_weighted_iou(CM, classes=[0, 1]) == pytest.approx(0.5)


def test_class_predicted_but_never_labelled_scores_zero():
    cm = np.array([[3, 1], [0, 0]])
    np.testing.assert_allclose(metrics.per_class_iou(cm), [0.75, 0.0])
    assert np.isnan(metrics.class_accuracy(cm)[1])
    assert metrics.mean_class_accuracy(cm) == pytest.approx(0.75)


def test_empty_matrix_gives_nan_not_an_error():
    cm = np.zeros((3, 3), np.int64)
    for value in (metrics.mean_iou(cm), metrics.pixel_accuracy(cm),
                  metrics.mean_class_accuracy(cm), metrics.frequency_weighted_iou(cm)):
        assert np.isnan(value)


def test_label_outside_classes_asks_for_ignore_index():
    with pytest.raises(ValueError, match='ignore-index'):
        metrics.confusion_matrix(PRED, GT, 4)


def test_collapse_into_functional_groups():
    cm_f = metrics.collapse(CM, [0, 0, 1, 1], 2)
    np.testing.assert_array_equal(cm_f, [[4, 0], [1, 0]])
    np.testing.assert_allclose(metrics.per_class_iou(cm_f), [0.8, 0.0])
    # A negative group drops the class from both axes.
    np.testing.assert_array_equal(metrics.collapse(CM, [0, 0, -1, 1], 2), [[4, 0], [0, 0]])
    with pytest.raises(ValueError):
        metrics.collapse(CM, [0, 1], 2)


def _stripe(first: int, last: int, shape=(8, 30)) -> np.ndarray:
    img = np.zeros(shape, np.uint8)
    img[:, first:last + 1] = 1
    return img


def test_label_boundaries_are_the_inner_edges():
    edges = metrics.label_boundaries(_stripe(10, 19))
    # Class 0 edges at columns 9 and 20, class 1 edges at 10 and 19; image border is no edge.
    np.testing.assert_array_equal(np.flatnonzero(edges.any(axis=0)), [9, 10, 19, 20])
    assert edges[:, [9, 10, 19, 20]].all()


def test_boundary_f1_identical_maps_is_one():
    gt = np.zeros((40, 40), np.uint8)
    gt[10:30, 12:25] = 1
    gt[0:5, :] = 2
    counts = metrics.boundary_counts(gt, gt, 4, tolerance=0)
    np.testing.assert_allclose(metrics.boundary_f1(counts)[:3], 1.0)
    assert np.isnan(metrics.boundary_f1(counts)[3])


def test_boundary_f1_shifted_edge_against_tolerance():
    gt, pred = _stripe(10, 19), _stripe(10, 22)   # right edge 3 px off, left edge exact
    # Tolerance 1: only the left edge matches, half of each side -> P = R = F1 = 0.5.
    counts = metrics.boundary_counts(pred, gt, 2, tolerance=1)
    np.testing.assert_array_equal(counts, [[8, 16, 8, 16], [8, 16, 8, 16]])
    np.testing.assert_allclose(metrics.boundary_f1(counts), [0.5, 0.5])
    # Tolerance 3 reaches the shifted edge.
    np.testing.assert_allclose(
        metrics.boundary_f1(metrics.boundary_counts(pred, gt, 2, tolerance=3)), [1.0, 1.0])
    np.testing.assert_allclose(
        metrics.boundary_f1(metrics.boundary_counts(pred, gt, 2, tolerance=2.9)), [0.5, 0.5])


def test_boundary_f1_precision_and_recall_differ():
    gt = _stripe(10, 19)
    pred = gt.copy()
    pred[:, 25] = 1            # a spurious thin stripe: extra predicted edges, no missed ones
    counts = metrics.boundary_counts(pred, gt, 2, tolerance=1)
    # Class 1: pred edges = cols 10, 19, 25 (24 px), 16 matched; all 16 true edges found.
    np.testing.assert_array_equal(counts[1], [16, 24, 16, 16])
    p, r = 16 / 24, 1.0
    assert metrics.boundary_f1(counts)[1] == pytest.approx(2 * p * r / (p + r))


def test_boundary_f1_ignores_edges_on_void_and_missing_predictions():
    gt = _stripe(10, 19)
    gt[:, 25:] = 255                         # void: its edges and what is predicted there
    pred = np.zeros_like(gt)                 # the stripe is missed entirely
    pred[:, 27] = 1                          # an edge inside void must not count
    counts = metrics.boundary_counts(pred, gt, 2, tolerance=1, ignore_index=255)
    assert counts[1].tolist() == [0, 0, 0, 16]
    assert metrics.boundary_f1(counts)[1] == 0.0
    # Class 0's true edges: cols 9, 20 and col 24 next to void.
    assert counts[0, 3] == 24


def test_scores_summary_round_trips_to_json_values():
    counts = metrics.boundary_counts(PRED, GT, 4, tolerance=1, ignore_index=255)
    s = metrics.Scores.from_counts(CM, ['a', 'b', 'c', 'd'], classes=[0, 1, 2, 3],
                                   boundary=counts, boundary_tolerance=1)
    d = s.to_dict()
    assert d['mean_iou'] == pytest.approx(1 / 3, abs=1e-6)
    assert d['frequency_weighted_iou'] == pytest.approx(0.4)
    assert d['per_class'][3] == {'name': 'd', 'iou': None, 'accuracy': None, 'pixels': 0,
                                 'boundary_f1': None}
    assert 'mIoU 33.33' in s.table()
