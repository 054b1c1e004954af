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
Type-check the whole package; the TensorRT modules against tensorrt-stubs (no TensorRT on CI).

The stubs (``pip install --no-deps tensorrt-stubs``) install ``tensorrt/__init__.pyi`` without a
``py.typed`` marker, so mypy ignores them in site-packages, and the generated 10.x stubs have a
few lines Python cannot parse (a parameter named ``in``; a parameter without a default after
defaulted ones). The test copies them to a temporary folder, repairs those lines mechanically,
and points ``MYPYPATH`` there; the API being checked is otherwise the stubs' own.
"""
import ast
import importlib.util
import os
from pathlib import Path
import re
import shutil
import subprocess
import sys

import pytest

ROOT = Path(__file__).resolve().parents[1]
STUB_PACKAGES = ('tensorrt', 'tensorrt_bindings')


def _stub_dirs() -> list[Path]:
    """Return the installed stub folders, skipping the test when they are absent."""
    if importlib.util.find_spec('mypy') is None:
        pytest.skip('mypy is not installed (pip install mypy)')
    dirs = []
    for spec_name in STUB_PACKAGES:
        spec = importlib.util.find_spec(spec_name)
        locations = list(spec.submodule_search_locations or []) if spec else []
        found = [Path(p) for p in locations if (Path(p) / '__init__.pyi').is_file()]
        if not found:
            pytest.skip(f'{spec_name} stubs not installed (pip install --no-deps tensorrt-stubs)')
        dirs.append(found[0])
    return dirs


def _fix_defaults(line: str) -> str:
    """Give ``= ...`` to parameters that follow a defaulted one in a one-line ``def``."""
    head, sep, rest = line.partition('(')
    params, close, tail = rest.rpartition(')')
    out, seen_default, depth, start = [], False, 0, 0
    pieces = []
    for i, ch in enumerate(params + ','):
        depth += ch in '[(' and 1 or (-1 if ch in '])' else 0)
        if ch == ',' and depth == 0:
            pieces.append(params[start:i])
            start = i + 1
    for piece in pieces:
        if '=' in piece:
            seen_default = True
        elif seen_default and piece.strip() and not piece.strip().startswith('*'):
            piece += ' = ...'
        out.append(piece)
    return head + sep + ','.join(out) + close + tail


def repair_stub(text: str) -> str:
    """Return ``text`` with the stubs' unparsable lines repaired; everything else unchanged."""
    text = re.sub(r'([(,]\s*)in:', r'\1in_:', text)
    lines = text.split('\n')
    for _ in range(100):
        try:
            ast.parse('\n'.join(lines))
            return '\n'.join(lines)
        except SyntaxError as exc:
            index = (exc.lineno or 1) - 1
            fixed = _fix_defaults(lines[index])
            if fixed == lines[index]:
                raise
            lines[index] = fixed
    raise AssertionError('too many unparsable lines in the TensorRT stubs')


def test_repair_stub_fixes_only_the_broken_lines():
    broken = ('def f(self, in: list[int], out: list[int]) -> int: ...\n'
              'def g(a: int, b: W = None, c: int, *args: int) -> None: ...\n'
              'def h(a: int = 1) -> None: ...\n')
    repaired = repair_stub(broken)
    ast.parse(repaired)
    assert repaired.splitlines() == [
        'def f(self, in_: list[int], out: list[int]) -> int: ...',
        'def g(a: int, b: W = None, c: int = ..., *args: int) -> None: ...',
        'def h(a: int = 1) -> None: ...']


@pytest.mark.mypy
@pytest.mark.linter
def test_package_type_checks(tmp_path):
    """Run mypy (configured by mypy.ini: ``files = seg_ros``) over the whole package."""
    for src in _stub_dirs():
        dst = tmp_path / 'stubs' / src.name
        dst.mkdir(parents=True)
        for stub in src.glob('*.pyi'):
            (dst / stub.name).write_text(repair_stub(stub.read_text()))
    env = dict(os.environ, MYPYPATH=str(tmp_path / 'stubs'))
    cache = tmp_path / 'mypy_cache'
    result = subprocess.run(
        [sys.executable, '-m', 'mypy', '--config-file', str(ROOT / 'mypy.ini'),
         '--cache-dir', str(cache)], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    shutil.rmtree(cache, ignore_errors=True)
