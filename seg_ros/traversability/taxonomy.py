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
Functional taxonomy: what each model class means to a ground robot.

A model says *what* a pixel is (``Road``, ``sofa``); the planner needs to know what the robot
may do there. A taxonomy file maps every model class to a *functional class*, and each
functional class carries what the projection and Nav2 need: an OccupancyGrid cost, a colour
for the functional image, an inflation radius, and a ``type`` that tells the geometry how the
class stands in the world:

- ``ground``: lies on the floor; it marks the cells it covers and the view goes on past it
  (``traversable``, user classes such as ``rough``, ``goal``, or lethal ground like ``water``);
- ``obstacle``: stands up from the floor; it marks the cell under its foot and hides what is
  behind it (``obstacle``, ``dynamic_obstacle``);
- ``unknown``: says nothing; in monocular mode it ends the view along that image column.

File format (YAML)::

    classes:                 # optional: new functional classes, or changes to built-in ones
      rough: {cost: 60, color: [200, 160, 0], type: ground}
      dynamic_obstacle: {inflation: 0.5}
    mapping:                 # model class name -> functional class name
      Road: traversable
      Pedestrian: dynamic_obstacle
    default: unknown         # optional: functional class of every model class not in mapping

Model class names match exactly, or else ignoring case and treating ``_``, ``-`` and runs of
spaces alike when that is unambiguous (exporters disagree on ``Sky``/``sky``,
``traffic_light``/``traffic light`` and ADE20K's ``"bed "``). Everything is
checked when the taxonomy is loaded against the model's class list; each error names the bad
entry and lists the valid names.
"""
from __future__ import annotations

from dataclasses import dataclass
import difflib
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

import numpy as np
from seg_ros.common import conversions
from seg_ros.common.share import share_path
import yaml

GROUND = 'ground'
OBSTACLE = 'obstacle'
UNKNOWN = 'unknown'
TYPES = (GROUND, OBSTACLE, UNKNOWN)

# Built-in functional classes; their ids are fixed (0..3) so a functional image means the same
# for every taxonomy. User classes follow in file order.
BUILTINS: dict[str, dict[str, Any]] = {
    'unknown': {'cost': -1, 'color': [0, 0, 0], 'type': UNKNOWN, 'inflation': 0.0},
    'traversable': {'cost': 0, 'color': [0, 200, 0], 'type': GROUND, 'inflation': 0.0},
    'obstacle': {'cost': 100, 'color': [220, 30, 30], 'type': OBSTACLE, 'inflation': 0.0},
    'dynamic_obstacle': {'cost': 100, 'color': [255, 0, 255], 'type': OBSTACLE,
                         'inflation': 0.3},
}
_CLASS_KEYS = ('cost', 'color', 'type', 'inflation')
_FILE_KEYS = ('classes', 'mapping', 'default', 'name', 'description')


class TaxonomyError(ValueError):
    """A taxonomy file that cannot be used with this model; the message says what to change."""


@dataclass(frozen=True)
class FunctionalClass:
    """One functional class: how the grid and the functional image treat it."""

    index: int
    name: str
    cost: int                  # OccupancyGrid value: 0..100, or -1 (marks nothing)
    color: tuple[int, int, int]
    kind: str                  # ground | obstacle | unknown (the YAML key is 'type')
    inflation: float           # metres of safety margin drawn around its cells


@dataclass(frozen=True)
class Taxonomy:
    """A validated taxonomy bound to one model's class list."""

    classes: tuple[FunctionalClass, ...]   # index = functional id
    lut: np.ndarray                        # (256,) uint8: model class id -> functional id
    model_classes: tuple[str, ...]
    source: str = '<dict>'

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.classes)

    @property
    def costs(self) -> np.ndarray:
        """Return the cost per functional id as int16 (-1 = unknown)."""
        return np.array([c.cost for c in self.classes], np.int16)

    @property
    def palette(self) -> np.ndarray:
        """Return the ``(n, 3)`` uint8 RGB colour per functional id."""
        return np.array([c.color for c in self.classes], np.uint8)

    @property
    def types(self) -> np.ndarray:
        """Return the type per functional id as codes (0 ground, 1 obstacle, 2 unknown)."""
        return np.array([TYPES.index(c.kind) for c in self.classes], np.uint8)

    @property
    def type_lut(self) -> np.ndarray:
        """Return the type code per functional id as a 256-entry uint8 table (for cv2.LUT)."""
        out = np.full(256, TYPES.index(UNKNOWN), np.uint8)
        out[:len(self.classes)] = self.types
        return out

    def id_of(self, name: str) -> int:
        """Return the functional id of a functional class name."""
        for c in self.classes:
            if c.name == name:
                return c.index
        raise KeyError(f'no functional class "{name}"; valid: {", ".join(self.names)}')

    def functional(self, labels: np.ndarray) -> np.ndarray:
        """Map a model label image to functional ids (uint8, same shape); one table lookup."""
        if labels.dtype == np.uint8:
            import cv2

            return cv2.LUT(labels, self.lut)
        return np.take(self.lut, np.clip(labels, 0, 255))

    def colorize(self, functional: np.ndarray) -> np.ndarray:
        """Return the ``(H, W, 3)`` RGB image of functional ids in the taxonomy's colours."""
        return conversions.colorize(np.asarray(functional, np.uint8),
                                    conversions.palette_lut(self.palette))

    def describe(self) -> list[str]:
        """Human-readable lines: functional class, cost, and the model classes it takes."""
        lines = []
        for c in self.classes:
            members = [m for i, m in enumerate(self.model_classes) if self.lut[i] == c.index]
            lines.append(f'{c.index} {c.name} (type {c.kind}, cost {c.cost}, inflation '
                         f'{c.inflation} m): {", ".join(members) or "-"}')
        return lines


def _suggest(name: str, valid: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(valid), n=3, cutoff=0.6)
    return f' (did you mean {", ".join(repr(c) for c in close)}?)' if close else ''


def normalised_name(name: str) -> str:
    """Compare class names as people write them: case, '_' and '-' and spacing do not count."""
    return ' '.join(str(name).replace('_', ' ').replace('-', ' ').split()).lower()


def _check_class_spec(name: str, spec: Any, source: str) -> dict[str, Any]:
    """Merge a ``classes:`` entry over its built-in defaults and check every field."""
    if spec is None:
        spec = {}
    if not isinstance(spec, Mapping):
        raise TaxonomyError(f'{source}: classes.{name} must be a mapping with keys '
                            f'{", ".join(_CLASS_KEYS)}, got {spec!r}')
    unknown_keys = sorted(set(spec) - set(_CLASS_KEYS))
    if unknown_keys:
        raise TaxonomyError(f'{source}: classes.{name} has unknown key(s) {unknown_keys}; '
                            f'valid keys: {", ".join(_CLASS_KEYS)}')
    builtin = BUILTINS.get(name)
    if builtin is None and 'cost' not in spec:
        raise TaxonomyError(f'{source}: new functional class "{name}" needs a cost '
                            '(OccupancyGrid value 0..100, or -1 for unknown)')
    out = dict(builtin or {'type': GROUND, 'inflation': 0.0, 'color': None})
    out.update(spec)
    if builtin is not None and out['type'] != builtin['type']:
        raise TaxonomyError(f'{source}: the type of built-in class "{name}" is fixed '
                            f'({builtin["type"]}); define a new class for a different type')
    cost = out['cost']
    if isinstance(cost, bool) or not isinstance(cost, int) or not (cost == -1
                                                                   or 0 <= cost <= 100):
        raise TaxonomyError(f'{source}: classes.{name}.cost must be an integer in 0..100 '
                            f'(OccupancyGrid value) or -1 (unknown), got {cost!r}')
    if out['type'] not in TYPES:
        raise TaxonomyError(f'{source}: classes.{name}.type must be one of '
                            f'{", ".join(TYPES)}, got {out["type"]!r}')
    infl = out['inflation']
    if isinstance(infl, bool) or not isinstance(infl, (int, float)) or not infl >= 0:
        raise TaxonomyError(f'{source}: classes.{name}.inflation must be a distance in metres '
                            f'>= 0, got {infl!r}')
    color = out['color']
    if color is not None and (not isinstance(color, (list, tuple)) or len(color) != 3
                              or not all(isinstance(v, int) and not isinstance(v, bool)
                                         and 0 <= v <= 255 for v in color)):
        raise TaxonomyError(f'{source}: classes.{name}.color must be [r, g, b] with integers '
                            f'0..255, got {color!r}')
    return out


def build(spec: Mapping[str, Any], model_classes: Sequence[str],
          source: str = '<dict>') -> Taxonomy:
    """Validate a parsed taxonomy against a model's classes and build its lookup table."""
    if not isinstance(spec, Mapping):
        raise TaxonomyError(f'{source}: a taxonomy is a YAML mapping with keys '
                            f'{", ".join(_FILE_KEYS)}, got {type(spec).__name__}')
    model_classes = tuple(str(c) for c in model_classes)
    if not model_classes:
        raise TaxonomyError(f'{source}: the model has no classes')
    if len(model_classes) > 256:
        raise TaxonomyError(f'{source}: {len(model_classes)} model classes; at most 256')
    extra = sorted(set(spec) - set(_FILE_KEYS))
    if extra:
        raise TaxonomyError(f'{source}: unknown top-level key(s) {extra}; valid keys: '
                            f'{", ".join(_FILE_KEYS)}')

    user = spec.get('classes') or {}
    if not isinstance(user, Mapping):
        raise TaxonomyError(f'{source}: "classes" must map functional class names to '
                            '{cost, color, type, inflation}')
    names = list(BUILTINS) + [str(n) for n in user if n not in BUILTINS]
    if len(names) > 255:
        raise TaxonomyError(f'{source}: {len(names)} functional classes; at most 255')
    default_colors = _default_colors(len(names))
    fclasses = []
    for fid, name in enumerate(names):
        if not name or not isinstance(name, str):
            raise TaxonomyError(f'{source}: functional class names must be non-empty strings')
        merged = _check_class_spec(name, user.get(name), source)
        color = merged['color'] if merged['color'] is not None else default_colors[fid]
        fclasses.append(FunctionalClass(fid, name, int(merged['cost']),
                                        tuple(int(v) for v in color),  # type: ignore[arg-type]
                                        merged['type'], float(merged['inflation'])))
    fids = {c.name: c.index for c in fclasses}

    def functional_id(value: Any, where: str) -> int:
        if not isinstance(value, str) or value not in fids:
            raise TaxonomyError(f'{source}: {where} maps to {value!r}, which is not a '
                                f'functional class{_suggest(str(value), names)}; valid: '
                                f'{", ".join(names)} (add new ones under "classes:")')
        return fids[value]

    mapping = spec.get('mapping') or {}
    if not isinstance(mapping, Mapping):
        raise TaxonomyError(f'{source}: "mapping" must map model class names to functional '
                            'class names')
    exact = {c: i for i, c in enumerate(model_classes)}
    loose: dict[str, list[int]] = {}
    for i, c in enumerate(model_classes):
        loose.setdefault(normalised_name(c), []).append(i)
    lut_list: list[Optional[int]] = [None] * len(model_classes)
    for key, value in mapping.items():
        key = str(key)
        if key in exact:
            idx = exact[key]
        elif len(loose.get(normalised_name(key), [])) == 1:
            idx = loose[normalised_name(key)][0]
        else:
            raise TaxonomyError(
                f'{source}: mapping names model class "{key}", which this model does not '
                f"have{_suggest(key, model_classes)}; the model's classes are: "
                f'{", ".join(model_classes)}')
        if lut_list[idx] is not None:
            raise TaxonomyError(f'{source}: model class "{model_classes[idx]}" is mapped twice')
        lut_list[idx] = functional_id(value, f'mapping["{key}"]')

    default = spec.get('default')
    missing = [model_classes[i] for i, v in enumerate(lut_list) if v is None]
    if missing:
        if default is None:
            raise TaxonomyError(
                f'{source}: model class(es) {", ".join(missing)} are not mapped; map each '
                f'to one of {", ".join(names)}, or add "default: unknown"')
        did = functional_id(default, '"default"')
        lut_list = [did if v is None else v for v in lut_list]
    elif default is not None:
        functional_id(default, '"default"')
    lut = np.zeros(256, np.uint8)      # ids the model never emits read as unknown (0)
    lut[:len(model_classes)] = np.array(lut_list, np.uint8)
    return Taxonomy(tuple(fclasses), lut, model_classes, source)


def load(path: Union[str, Path], model_classes: Sequence[str]) -> Taxonomy:
    """Read and validate a taxonomy YAML file against a model's class list."""
    path = Path(path)
    if not path.is_file():
        presets = ', '.join(preset_names()) or '(none installed)'
        raise TaxonomyError(f'taxonomy file not found: {path}; set the "taxonomy" parameter '
                            f'to a YAML file or a preset name ({presets})')
    try:
        spec = yaml.safe_load(path.read_text())
        return build(spec or {}, model_classes, source=str(path))
    except yaml.YAMLError as exc:
        raise TaxonomyError(f'{path}: not valid YAML ({exc})') from exc
    except RecursionError as exc:
        # PyYAML composes nested nodes recursively: thousands of levels exhaust the stack.
        raise TaxonomyError(f'{path}: nested too deeply to read; a taxonomy is a flat mapping of '
                            'class names to functional types') from exc


def preset_dir() -> Path:
    """Return where the presets live: ``config/taxonomy`` in the package's share folder."""
    return share_path('config', 'taxonomy')


def preset_names() -> list[str]:
    """List the preset names (file stems in ``config/taxonomy``)."""
    try:
        d = preset_dir()
    except FileNotFoundError:
        return []
    return sorted(p.stem for p in d.glob('*.yaml'))


def resolve(name_or_path: str) -> Path:
    """Turn the ``taxonomy`` parameter (a path or a preset name like ``camvid``) into a path."""
    p = Path(name_or_path).expanduser()
    if p.is_file() or p.suffix in ('.yaml', '.yml') or '/' in name_or_path:
        return p
    try:
        return share_path('config', 'taxonomy', f'{name_or_path}.yaml')
    except FileNotFoundError:
        return Path(f'{name_or_path}.yaml')  # load() reports it, listing the presets there are


def _default_colors(n: int) -> list[list[int]]:
    from seg_ros.inference.contract import default_palette

    return default_palette(n + 1)[1:].tolist()
