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
One table type for every node parameter: default, description, bounds and check.

A :class:`Param` carries what the node declares (default, description, read-only), what
``ros2 param describe`` and ``doc/parameters.rst`` show (the same description and range), and
what :func:`check_value` refuses. Numbers are bounded on both sides, and the bounds are checked
before any arithmetic touches the value, so ``1e308`` or ``5e-324`` are refused with the range
instead of overflowing later. Tables are plain dicts (name -> Param); every subpackage keeps
its own (``seg_ros.traversability.pipeline.PARAMETERS``) and ``seg_ros.ros.parameters``
combines them. No ROS imports, so pure code and tests use the same checks.
"""
from __future__ import annotations

from dataclasses import dataclass
import math
from typing import Any, Callable, Mapping, Optional, Sequence

Check = Callable[[Any], Optional[str]]   # returns an error text, or None when the value is fine


@dataclass(frozen=True)
class Param:
    """
    One parameter: its default (which fixes its type), what it does, and its bounds.

    ``minimum``/``maximum`` bound a number (or every element of a list of numbers), ``choices``
    lists the valid strings, ``length`` fixes a list's length, ``check`` adds any other rule.
    """

    default: Any
    description: str
    check: Optional[Check] = None
    reload_model: bool = False     # changing it at run time reloads the model
    read_only: bool = False        # only read at start-up (subscriptions, QoS)
    minimum: Optional[float] = None
    maximum: Optional[float] = None
    choices: tuple[str, ...] = ()
    length: Optional[int] = None

    @property
    def numeric(self) -> bool:
        """Whether the value is a number or a list of numbers (those need bounds)."""
        d = self.default
        if isinstance(d, (list, tuple)):
            return bool(d) and all(_is_number(v) for v in d)
        return _is_number(d)

    def range_text(self) -> str:
        """Human-readable valid values, for the docs and messages."""
        parts = []
        if self.choices:
            parts.append(' | '.join(self.choices))
        if self.minimum is not None and self.maximum is not None:
            parts.append(f'{self.minimum} .. {self.maximum}')
        elif self.minimum is not None:
            parts.append(f'>= {self.minimum}')
        elif self.maximum is not None:
            parts.append(f'<= {self.maximum}')
        if self.length is not None:
            parts.append(f'{self.length} values')
        return ', '.join(parts)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def type_ok(default: Any, value: Any) -> bool:
    """Match the default's type; ints are fine for floats, but bools are never numbers."""
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float))
    if isinstance(default, (list, tuple)):
        if not isinstance(value, (list, tuple)):
            return False
        if default and _is_number(default[0]):
            return all(_is_number(v) for v in value)
        return all(isinstance(v, type(default[0])) for v in value) if default else True
    return isinstance(value, type(default))


def _bound_problem(spec: Param, value: Any) -> Optional[str]:
    """Check one number against the bounds (finite first: NaN compares false with anything)."""
    if isinstance(value, float) and not math.isfinite(value):
        return f'must be a finite number between {spec.minimum} and {spec.maximum}'
    lo, hi = spec.minimum, spec.maximum
    if lo is not None and hi is not None and not lo <= value <= hi:
        return f'must be between {lo} and {hi}'
    if lo is not None and value < lo:
        return f'must be at least {lo}'
    if hi is not None and value > hi:
        return f'must be at most {hi}'
    return None


def check_value(name: str, value: Any, table: Mapping[str, Param]) -> Optional[str]:
    """Return an error message for one value (type, bounds, choices, own check), or None."""
    spec = table[name]
    default = spec.default
    if not type_ok(default, value):
        return (f'parameter "{name}" = {value!r} has the wrong type: expected '
                f'{type(default).__name__} (e.g. {default!r}). {spec.description}')
    problem: Optional[str] = None
    if spec.length is not None and len(value) != spec.length:
        problem = f'must hold {spec.length} values'
    elif isinstance(value, (list, tuple)) and spec.numeric:
        problem = next((p for p in (_bound_problem(spec, v) for v in value) if p), None)
        if problem:
            problem = 'values ' + problem.replace('must be', 'must each be', 1)
    elif _is_number(value):
        problem = _bound_problem(spec, value)
    if problem is None and spec.choices and value not in spec.choices:
        problem = f'must be one of {", ".join(spec.choices)}'
    if problem is None and spec.check is not None:
        problem = spec.check(value)
    if problem:
        return f'parameter "{name}" = {value!r} {problem}. {spec.description}'
    return None


def unbounded(table: Mapping[str, Param]) -> list[str]:
    """Names of numeric parameters that lack a minimum or a maximum (a test keeps it empty)."""
    return [name for name, spec in table.items()
            if spec.numeric and (spec.minimum is None or spec.maximum is None)]


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, (list, tuple)):
        return '[' + ', '.join(_literal(v) for v in value) + ']'
    return repr(value)


def _type_name(default: Any) -> str:
    if isinstance(default, bool):
        return 'bool'
    if isinstance(default, (list, tuple)):
        inner = _type_name(default[0]) if default else 'string'
        return f'{inner}[]'
    return {int: 'int', float: 'double', str: 'string'}[type(default)]


def render_rst(sections: Sequence[tuple[str, Mapping[str, Param]]], title: str,
               intro: str) -> str:
    """
    Return reStructuredText with one table per section: name, type, default, range, text.

    Deterministic (table order, no dates), so a test can compare the committed file with it.
    """
    def cell(text: str) -> str:
        return text.replace('|', '\\|').replace('*', '\\*').replace('`', "'")

    out = [title, '=' * len(title), '', intro.strip(), '']
    for heading, table in sections:
        out += [heading, '-' * len(heading), '', '.. list-table::', '   :header-rows: 1',
                '   :widths: 22 8 12 14 44', '', '   * - Parameter', '     - Type',
                '     - Default', '     - Valid values', '     - Description']
        for name, spec in table.items():
            notes = []
            if spec.read_only:
                notes.append('Read at start-up only.')
            if spec.reload_model:
                notes.append('Changing it reloads the model.')
            sentence = spec.description if not notes or spec.description.endswith('.') \
                else spec.description + '.'
            text = ' '.join([sentence] + notes)
            out += [f'   * - ``{name}``', f'     - {_type_name(spec.default)}',
                    f'     - ``{_literal(spec.default)}``',
                    f'     - {cell(spec.range_text()) or "any"}', f'     - {cell(text)}']
        out.append('')
    return '\n'.join(out)
