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
Losses for imbalanced segmentation labels, and the learning-rate schedule.

On a robot's frames the floor may cover 40 % of the pixels and a cup 0.5 %: plain cross
entropy is then mostly about the floor. Three remedies, which combine:

- class weights (median-frequency balancing, :func:`seg_ros.offline.training.data.
  median_frequency_weights`) scale each pixel's loss by its true class;
- OHEM (online hard example mining, as BiSeNet trains) averages only the pixels whose true
  class gets less than 0.7 probability, at least 1/16 of the labelled pixels, so the easy floor
  stops dominating the mean once it is learnt;
- Dice adds ``1 - soft Dice`` averaged over the classes present in the batch, a term in which
  every class weighs the same whatever its size.
"""
from __future__ import annotations

import math
from typing import Optional

from seg_ros.offline.training.data import IGNORE
import torch
import torch.nn.functional as F

OHEM_PROBABILITY = 0.7
OHEM_MIN_FRACTION = 1 / 16
LOSSES = ('ce', 'ohem')
SCHEDULES = ('poly', 'cosine')


def segmentation_loss(logits: torch.Tensor, target: torch.Tensor,
                      weight: Optional[torch.Tensor] = None, kind: str = 'ce',
                      dice: float = 0.0) -> torch.Tensor:
    """
    Return the loss of ``logits`` (N, C, h, w) against ``target`` (N, H, W) (IGNORE = 255).

    Logits of another size than the labels (stride-8 heads) are resized bilinearly first.
    """
    if logits.shape[-2:] != target.shape[-2:]:
        logits = F.interpolate(logits, size=target.shape[-2:], mode='bilinear',
                               align_corners=False)
    logits = logits.float()
    per_pixel = F.cross_entropy(logits, target, weight=weight, ignore_index=IGNORE,
                                reduction='none')
    valid = target != IGNORE
    n_valid = int(valid.sum())
    if n_valid == 0:
        return logits.sum() * 0.0            # a crop of void only: no gradient, no NaN
    if kind == 'ohem':
        losses = per_pixel[valid]
        threshold = -math.log(OHEM_PROBABILITY)
        hard = losses[losses > threshold]
        n_min = max(1, int(n_valid * OHEM_MIN_FRACTION))
        loss = hard.mean() if hard.numel() >= n_min else losses.topk(n_min).values.mean()
    elif kind == 'ce':
        if weight is None:
            loss = per_pixel.sum() / n_valid
        else:   # the weighted mean, as F.cross_entropy(reduction='mean') takes it
            w = weight[target.clamp(max=weight.numel() - 1)] * valid
            loss = per_pixel.sum() / w.sum().clamp(min=1e-12)
    else:
        raise ValueError(f'unknown loss "{kind}"; choose one of {", ".join(LOSSES)}')
    if dice > 0:
        loss = loss + dice * dice_loss(logits, target)
    return loss


def dice_loss(logits: torch.Tensor, target: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """Return ``1 - soft Dice`` averaged over the classes present in the labelled pixels."""
    c = logits.shape[1]
    valid = (target != IGNORE).unsqueeze(1)
    prob = torch.softmax(logits, dim=1) * valid
    onehot = F.one_hot(target.clamp(max=c - 1) * (target != IGNORE), c).permute(0, 3, 1, 2)
    onehot = onehot.to(prob.dtype) * valid
    inter = (prob * onehot).sum(dim=(0, 2, 3))
    total = prob.sum(dim=(0, 2, 3)) + onehot.sum(dim=(0, 2, 3))
    present = onehot.sum(dim=(0, 2, 3)) > 0
    score = (2 * inter + eps) / (total + eps)
    return (1 - score[present]).mean() if present.any() else logits.sum() * 0.0


def lr_factor(step: int, total: int, warmup: int, schedule: str = 'poly',
              power: float = 0.9, warmup_start: float = 0.1) -> float:
    """
    Return the learning-rate multiplier at ``step`` (0-based) of ``total``.

    A linear warm-up from ``warmup_start`` over ``warmup`` steps (a new classifier's first
    gradients are large, and they would disturb the pretrained weights), then poly
    ``(1 - t) ** power`` or cosine ``(1 + cos(pi t)) / 2`` decay to 0 over the rest.
    """
    if schedule not in SCHEDULES:
        raise ValueError(f'unknown schedule "{schedule}"; choose one of {", ".join(SCHEDULES)}')
    if warmup > 0 and step < warmup:
        return warmup_start + (1 - warmup_start) * step / warmup
    t = min(1.0, (step - warmup) / max(1, total - warmup))
    if schedule == 'poly':
        return (1 - t) ** power
    return 0.5 * (1 + math.cos(math.pi * t))
