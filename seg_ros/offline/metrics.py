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
Segmentation metrics from a confusion matrix.

Everything is computed from one accumulated ``(C, C)`` confusion matrix (rows = ground truth,
columns = prediction), so a data set of any size is summarised in O(C^2) memory and every metric
agrees with every other on the same pixels. A model may predict classes that are not scored
(CamVid's ``void``): build the matrix over all the model's classes, then score a subset with
``classes=``; such predictions still count against the true class.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Union

import numpy as np

# Scored class ids: a list, a range or an index array.
Classes = Optional[Union[Sequence[int], np.ndarray]]


def confusion_matrix(pred: np.ndarray, gt: np.ndarray, num_classes: int,
                     ignore_index: Optional[int] = None) -> np.ndarray:
    """Count (gt, pred) pairs; ground-truth pixels equal to ``ignore_index`` are skipped."""
    if pred.shape != gt.shape:
        raise ValueError(f'prediction {pred.shape} and label {gt.shape} differ in size')
    g = gt.reshape(-1).astype(np.int64)
    p = pred.reshape(-1).astype(np.int64)
    keep = g != ignore_index if ignore_index is not None else np.ones(g.shape, bool)
    g, p = g[keep], p[keep]
    for name, ids in (('label', g), ('prediction', p)):
        if ids.size and (ids.min() < 0 or ids.max() >= num_classes):
            raise ValueError(f'{name} holds class id {int(ids.max())} outside 0..'
                             f'{num_classes - 1}; pass --ignore-index for void pixels')
    cm = np.bincount(g * num_classes + p, minlength=num_classes * num_classes)
    return cm.reshape(num_classes, num_classes)


def per_class_iou(cm: np.ndarray, classes: Classes = None) -> np.ndarray:
    """Return each scored class's IoU; NaN where a class is in neither labels nor output."""
    cm = np.asarray(cm, dtype=np.float64)
    idx = np.arange(cm.shape[0]) if classes is None else np.asarray(classes)
    tp = np.diag(cm)[idx]
    denom = cm.sum(axis=1)[idx] + cm.sum(axis=0)[idx] - tp
    with np.errstate(invalid='ignore', divide='ignore'):
        return np.where(denom > 0, tp / np.maximum(denom, 1), np.nan)


def mean_iou(cm: np.ndarray, classes: Classes = None) -> float:
    """Mean of the per-class IoUs over scored classes that occur (NaNs skipped)."""
    iou = per_class_iou(cm, classes)
    return float(np.nanmean(iou)) if np.isfinite(iou).any() else float('nan')


def pixel_accuracy(cm: np.ndarray) -> float:
    """Fraction of counted pixels whose prediction is right."""
    total = float(np.asarray(cm).sum())
    return float(np.trace(np.asarray(cm))) / total if total else float('nan')


def _scored(cm: np.ndarray, classes: Classes) -> np.ndarray:
    return np.arange(np.asarray(cm).shape[0]) if classes is None else np.asarray(classes, int)


def class_accuracy(cm: np.ndarray, classes: Classes = None) -> np.ndarray:
    """
    Return each scored class's recall (right pixels / its labelled pixels).

    NaN for a class with no labelled pixels: it cannot be missed, so it must not count as 0
    or as 1 in the mean.
    """
    cm = np.asarray(cm, dtype=np.float64)
    idx = _scored(cm, classes)
    gt = cm.sum(axis=1)[idx]
    with np.errstate(invalid='ignore', divide='ignore'):
        return np.where(gt > 0, np.diag(cm)[idx] / np.maximum(gt, 1), np.nan)


def mean_class_accuracy(cm: np.ndarray, classes: Classes = None) -> float:
    """Mean recall over scored classes that occur in the labels (rare classes weigh as much)."""
    acc = class_accuracy(cm, classes)
    return float(np.nanmean(acc)) if np.isfinite(acc).any() else float('nan')


def frequency_weighted_iou(cm: np.ndarray, classes: Classes = None) -> float:
    """
    Return the IoU averaged with each class weighted by its share of labelled pixels.

    Reported next to mIoU because the gap between the two is the point: a large
    frequency-weighted IoU with a low mIoU means big classes are fine and small ones fail.
    """
    cm = np.asarray(cm, dtype=np.float64)
    idx = _scored(cm, classes)
    freq = cm.sum(axis=1)[idx]
    if freq.sum() == 0:
        return float('nan')
    iou = per_class_iou(cm, idx)
    present = freq > 0
    return float((freq[present] * iou[present]).sum() / freq[present].sum())


def scored_pixel_accuracy(cm: np.ndarray, classes: Classes = None) -> float:
    """Pixel accuracy over pixels whose true class is scored (``pixel_accuracy`` counts all)."""
    cm = np.asarray(cm, dtype=np.float64)
    idx = _scored(cm, classes)
    total = cm[idx].sum()
    return float(np.diag(cm)[idx].sum() / total) if total else float('nan')


def collapse(cm: np.ndarray, lut: Sequence[int], num_groups: int) -> np.ndarray:
    """
    Sum a confusion matrix into groups of classes (``lut[class] = group``; < 0 drops the class).

    This is how functional metrics (traversable vs obstacle) come out of the same counts as the
    per-class ones: confusing road with sidewalk costs nothing when both are traversable.
    """
    cm = np.asarray(cm)
    table = np.asarray(lut, dtype=np.int64)
    if table.shape != (cm.shape[0],):
        raise ValueError(f'group table has {table.size} entries for {cm.shape[0]} classes')
    if table.max(initial=-1) >= num_groups:
        raise ValueError(f'group id {int(table.max())} outside 0..{num_groups - 1}')
    onehot = np.zeros((cm.shape[0], num_groups), np.int64)
    keep = table >= 0
    onehot[np.flatnonzero(keep), table[keep]] = 1
    return onehot.T @ cm.astype(np.int64) @ onehot


# --- boundary F1 --------------------------------------------------------------------------

_CROSS = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], np.uint8)


def label_boundaries(labels: np.ndarray) -> np.ndarray:
    """
    Mark pixels that have a 4-neighbour of another class (the inner edge of every region).

    One erosion and one dilation of the label map find every class's edge at once; the image
    border is not an edge.
    """
    import cv2

    lab = np.ascontiguousarray(labels)
    if lab.dtype != np.uint8:
        if lab.size and (lab.min() < 0 or lab.max() > 255):
            raise ValueError('boundary F1 needs class ids in 0..255')
        lab = lab.astype(np.uint8)
    lo = cv2.erode(lab, _CROSS, borderType=cv2.BORDER_REPLICATE)
    hi = cv2.dilate(lab, _CROSS, borderType=cv2.BORDER_REPLICATE)
    return (lo != lab) | (hi != lab)


def _within(edges: np.ndarray, tolerance: float) -> np.ndarray:
    """Pixels no farther than ``tolerance`` (Euclidean, in pixels) from an edge pixel."""
    import cv2

    if tolerance <= 0:
        return edges
    # distanceTransform measures the distance to the nearest zero: make the edges zero.
    src = np.where(edges, 0, 255).astype(np.uint8)
    dist = cv2.distanceTransform(src, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return dist <= tolerance + 1e-6


def boundary_counts(pred: np.ndarray, gt: np.ndarray, num_classes: int, tolerance: float = 2.0,
                    ignore_index: Optional[int] = None) -> np.ndarray:
    """
    Count boundary matches for one image, per class, to be summed over a data set.

    Returns ``(num_classes, 4)`` int64: matched predicted edge pixels, predicted edge pixels,
    matched true edge pixels, true edge pixels. A predicted edge pixel of class c is matched
    when a true edge pixel of class c lies within ``tolerance`` pixels, and the other way round
    (the BF score of Csurka et al., 2013). Summing counts rather than averaging per-image
    scores keeps small images from weighing as much as large ones. Edge pixels on ignored
    ground truth are dropped: nothing is known there.
    """
    if pred.shape != gt.shape:
        raise ValueError(f'prediction {pred.shape} and label {gt.shape} differ in size')
    pe = label_boundaries(pred)
    ge = label_boundaries(gt)
    if ignore_index is not None:
        known = gt != ignore_index
        pe &= known
        ge &= known
    out = np.zeros((num_classes, 4), np.int64)
    pe_cls = pred[pe].astype(np.int64)
    ge_cls = gt[ge].astype(np.int64)
    pe_cls = pe_cls[pe_cls < num_classes]
    ge_cls = ge_cls[ge_cls < num_classes]
    out[:, 1] = np.bincount(pe_cls, minlength=num_classes)[:num_classes]
    out[:, 3] = np.bincount(ge_cls, minlength=num_classes)[:num_classes]
    for c in np.flatnonzero((out[:, 1] > 0) & (out[:, 3] > 0)):
        p_c = pe & (pred == c)
        g_c = ge & (gt == c)
        out[c, 0] = int(np.count_nonzero(p_c & _within(g_c, tolerance)))
        out[c, 2] = int(np.count_nonzero(g_c & _within(p_c, tolerance)))
    return out


def boundary_f1(counts: np.ndarray, classes: Classes = None) -> np.ndarray:
    """
    Return each scored class's boundary F1 from summed ``boundary_counts``.

    NaN when the class has no true edge anywhere (nothing to find); 0 when it has true edges but
    no predicted ones.
    """
    counts = np.asarray(counts, dtype=np.float64)
    idx = np.arange(counts.shape[0]) if classes is None else np.asarray(classes, int)
    c = counts[idx]
    with np.errstate(invalid='ignore', divide='ignore'):
        precision = np.where(c[:, 1] > 0, c[:, 0] / np.maximum(c[:, 1], 1), 0.0)
        recall = c[:, 2] / np.maximum(c[:, 3], 1)
        f1 = np.where(precision + recall > 0,
                      2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0)
    return np.where(c[:, 3] > 0, f1, np.nan)


# --- summary ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scores:
    """
    Every metric for one set of classes, from one confusion matrix (and boundary counts).

    Per-class arrays follow ``names``; NaN marks a class that cannot be scored (absent from both
    labels and predictions), which JSON output writes as null.
    """

    names: tuple[str, ...]
    iou: np.ndarray
    accuracy: np.ndarray
    mean_iou: float
    frequency_weighted_iou: float
    pixel_accuracy: float
    mean_class_accuracy: float
    pixels: np.ndarray                      # labelled pixels per class
    boundary_f1: Optional[np.ndarray] = None
    mean_boundary_f1: float = float('nan')
    boundary_tolerance: float = float('nan')

    @classmethod
    def from_counts(cls, cm: np.ndarray, names: Sequence[str],
                    classes: Classes = None,
                    boundary: Optional[np.ndarray] = None,
                    boundary_tolerance: float = float('nan')) -> 'Scores':
        """Summarise ``cm`` (and summed ``boundary_counts``) over ``classes`` (default: all)."""
        cm = np.asarray(cm)
        idx = _scored(cm, classes)
        bf = boundary_f1(boundary, idx) if boundary is not None else None
        mean_bf = (float(np.nanmean(bf)) if bf is not None and np.isfinite(bf).any()
                   else float('nan'))
        return cls(
            names=tuple(names[i] for i in idx),
            iou=per_class_iou(cm, idx),
            accuracy=class_accuracy(cm, idx),
            mean_iou=mean_iou(cm, idx),
            frequency_weighted_iou=frequency_weighted_iou(cm, idx),
            pixel_accuracy=scored_pixel_accuracy(cm, idx),
            mean_class_accuracy=mean_class_accuracy(cm, idx),
            pixels=np.asarray(cm).sum(axis=1)[idx].astype(np.int64),
            boundary_f1=bf,
            mean_boundary_f1=mean_bf,
            boundary_tolerance=float(boundary_tolerance))

    def to_dict(self) -> dict:
        """Return plain JSON-ready values (NaN becomes None)."""
        def num(x: float) -> Optional[float]:
            return None if x is None or not np.isfinite(x) else round(float(x), 6)

        per_class = []
        for i, name in enumerate(self.names):
            row = {'name': name, 'iou': num(self.iou[i]), 'accuracy': num(self.accuracy[i]),
                   'pixels': int(self.pixels[i])}
            if self.boundary_f1 is not None:
                row['boundary_f1'] = num(self.boundary_f1[i])
            per_class.append(row)
        out = {'mean_iou': num(self.mean_iou),
               'frequency_weighted_iou': num(self.frequency_weighted_iou),
               'pixel_accuracy': num(self.pixel_accuracy),
               'mean_class_accuracy': num(self.mean_class_accuracy),
               'per_class': per_class}
        if self.boundary_f1 is not None:
            out['mean_boundary_f1'] = num(self.mean_boundary_f1)
            out['boundary_tolerance_px'] = num(self.boundary_tolerance)
        return out

    def table(self) -> str:
        """Return a per-class text table followed by the summary lines."""
        bfs = self.boundary_f1
        has_bf = bfs is not None
        head = f'{"class":<20s} {"IoU":>7s} {"acc":>7s} ' + (f'{"BF":>7s} ' if has_bf else '')
        lines = [head + f'{"pixels":>12s}', '-' * len(head + ' ' * 12)]

        def pct(x: float) -> str:
            return f'{100 * x:7.2f}' if np.isfinite(x) else f'{"-":>7s}'

        for i, name in enumerate(self.names):
            bf = (pct(bfs[i]) + ' ') if bfs is not None else ''
            lines.append(f'{name:<20s} {pct(self.iou[i])} {pct(self.accuracy[i])} {bf}'
                         f'{int(self.pixels[i]):12d}')
        lines.append('-' * len(lines[1]))
        lines.append(f'mIoU {pct(self.mean_iou).strip()}  fwIoU '
                     f'{pct(self.frequency_weighted_iou).strip()}  pixel acc '
                     f'{pct(self.pixel_accuracy).strip()}  mean class acc '
                     f'{pct(self.mean_class_accuracy).strip()}'
                     + (f'  mean BF@{self.boundary_tolerance:g}px '
                        f'{pct(self.mean_boundary_f1).strip()}' if has_bf else ''))
        return '\n'.join(lines)
