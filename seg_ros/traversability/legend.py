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
Legends drawn onto saved pictures, so a functional image or a grid reads without the docs.

The colours are the ones RViz shows with ``config/seg_ros.rviz``: the functional image in the
taxonomy's colours (``segmentation/functional_color``) and the grid in RViz's ``map`` colour
scheme (:func:`seg_ros.traversability.grid.grid_image`).
"""
from __future__ import annotations

from typing import Any, Iterable, Sequence

import numpy as np

from seg_ros.traversability.grid import UNKNOWN_RGB
from seg_ros.traversability.taxonomy import Taxonomy

Entry = tuple[str, tuple[int, int, int]]


def grid_entries(costs: Iterable[int] = ()) -> list[Entry]:
    """
    Legend of :func:`seg_ros.traversability.grid.grid_image` (RViz's map colours).

    ``costs``: the costs between free and lethal that the grid can hold, i.e. those of the
    taxonomy in use (:func:`grid_costs`); a swatch each, in the grey the grid draws.
    """
    middle = [(f'cost {c}', (grey(c),) * 3) for c in sorted(set(costs)) if 0 < c < 100]
    return ([('free 0', (255, 255, 255))] + middle
            + [('lethal 100', (0, 0, 0)), ('unknown', UNKNOWN_RGB)])


def grey(cost: int) -> int:
    """Grey level :func:`~seg_ros.traversability.grid.grid_image` draws for ``cost``."""
    return 255 - (int(cost) * 255) // 100


def grid_costs(taxonomy: Taxonomy) -> list[int]:
    """Return the costs of the taxonomy's classes, the ones its grids hold."""
    return sorted({int(c.cost) for c in taxonomy.classes if c.cost >= 0})


def class_entries(names: Sequence[str], palette: Any) -> list[Entry]:
    """Legend of a label overlay: each model class in its palette colour."""
    return [(name, (int(c[0]), int(c[1]), int(c[2]))) for name, c in zip(names, palette)]


def taxonomy_entries(taxonomy: Taxonomy) -> list[Entry]:
    """Legend of a functional image in the taxonomy's colours: one entry per class."""
    return [(f'{c.name} ({c.cost})' if c.cost >= 0 else c.name,
             (int(c.color[0]), int(c.color[1]), int(c.color[2]))) for c in taxonomy.classes]


def with_legend(rgb: np.ndarray, entries: Sequence[Entry]) -> np.ndarray:
    """Return ``rgb`` (HxWx3 uint8) with a legend band of colour swatches and names below."""
    import cv2

    img = np.ascontiguousarray(rgb, np.uint8)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    w = img.shape[1]
    scale = max(0.35, min(0.6, w / 1200))
    line = int(28 * scale / 0.5)
    font = cv2.FONT_HERSHEY_SIMPLEX
    widths = [line + 6 + cv2.getTextSize(name, font, scale, 1)[0][0] + 14
              for name, _ in entries]
    rows: list[list[tuple[int, int]]] = [[]]
    x = 4
    for i, width in enumerate(widths):
        if x + width > w and rows[-1]:
            rows.append([])
            x = 4
        rows[-1].append((i, x))
        x += width
    band = np.full((len(rows) * line + 6, w, 3), 48, np.uint8)
    for r, row in enumerate(rows):
        y = 3 + r * line
        for i, x in row:
            name, color = entries[i]
            cv2.rectangle(band, (x, y + 3), (x + line - 6, y + line - 3),
                          tuple(int(c) for c in color), -1)
            cv2.rectangle(band, (x, y + 3), (x + line - 6, y + line - 3), (200, 200, 200), 1)
            cv2.putText(band, name, (x + line, y + int(line * 0.72)), font, scale,
                        (235, 235, 235), 1, cv2.LINE_AA)
    return np.concatenate([img, band], axis=0)
