"""
Segmentation metrics from a confusion matrix.

Everything is computed from one accumulated ``(C, C)`` confusion matrix (rows = ground truth,
columns = prediction), so a data set of any size is summarised in O(C^2) memory and every metric
agrees with every other on the same pixels. A model may predict classes that are not scored
(CamVid's ``void``): build the matrix over all the model's classes, then score a subset with
``classes=``; such predictions still count against the true class.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np


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


def per_class_iou(cm: np.ndarray, classes: Optional[Sequence[int]] = None) -> np.ndarray:
    """Return each scored class's IoU; NaN where a class is in neither labels nor output."""
    cm = np.asarray(cm, dtype=np.float64)
    idx = np.arange(cm.shape[0]) if classes is None else np.asarray(classes)
    tp = np.diag(cm)[idx]
    denom = cm.sum(axis=1)[idx] + cm.sum(axis=0)[idx] - tp
    with np.errstate(invalid='ignore', divide='ignore'):
        return np.where(denom > 0, tp / np.maximum(denom, 1), np.nan)


def mean_iou(cm: np.ndarray, classes: Optional[Sequence[int]] = None) -> float:
    """Mean of the per-class IoUs over scored classes that occur (NaNs skipped)."""
    iou = per_class_iou(cm, classes)
    return float(np.nanmean(iou)) if np.isfinite(iou).any() else float('nan')


def pixel_accuracy(cm: np.ndarray) -> float:
    """Fraction of counted pixels whose prediction is right."""
    total = float(np.asarray(cm).sum())
    return float(np.trace(np.asarray(cm))) / total if total else float('nan')
