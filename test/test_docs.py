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
Build the documentation (``doc/``, the rosdoc2 layout) with warnings as errors.

A broken cross-reference, a page missing from the toctree or a docstring autodoc cannot
render fails here, so it fails CI rather than the documentation build on the build farm. The
API page must also name every module of the package, so a new module cannot go undocumented.
"""
import importlib.util
from pathlib import Path
import re
import subprocess
import sys

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / 'doc'


def _modules() -> list[str]:
    """Every importable module of the package, as dotted names."""
    names = []
    for path in sorted((ROOT / 'seg_ros').rglob('*.py')):
        parts = list(path.relative_to(ROOT).with_suffix('').parts)
        if parts[-1] == '__init__':
            parts.pop()
        names.append('.'.join(parts))
    return names


def test_api_page_names_every_module():
    documented = set(re.findall(r'^\.\. automodule:: (\S+)$', (DOC / 'api.rst').read_text(),
                                re.MULTILINE))
    missing = [m for m in _modules() if m not in documented]
    assert not missing, f'add ".. automodule:: NAME" to doc/api.rst for: {", ".join(missing)}'


@pytest.mark.slow
def test_docs_build_without_warnings(tmp_path):
    for module in ('sphinx', 'myst_parser'):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f'{module} is not installed (pip install ".[test]")')
    cmd = [sys.executable, '-m', 'sphinx', '-W', '--keep-going', '-q', '-b', 'html',
           '-d', str(tmp_path / 'doctrees'), str(DOC), str(tmp_path / 'html')]
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, (
        ' '.join(cmd) + '\n' + result.stdout[-5000:] + result.stderr[-20000:])
    assert (tmp_path / 'html' / 'api.html').is_file()


def _table_names(text: str, pattern: str) -> set[str]:
    """Backticked names matching ``pattern`` in the first cell of the Markdown table rows."""
    names: set[str] = set()
    for line in text.splitlines():
        if line.startswith('| `'):
            names.update(re.findall(pattern, line.split('|')[1]))
    return names


@pytest.mark.parametrize('page', ['README.md', 'doc/tools.md'])
def test_command_tables_list_every_cli_command(page):
    from seg_ros.tools import cli
    documented = _table_names((ROOT / page).read_text(), r'`seg-ros ([a-z0-9-]+)`')
    missing = sorted(set(cli.COMMANDS) - documented)
    assert not missing, f'{page}: add a "| `seg-ros NAME` | ... |" row for {", ".join(missing)}'
    stale = sorted(documented - set(cli.COMMANDS))
    assert not stale, f'{page}: seg-ros has no command {", ".join(stale)}'


def test_testing_page_names_every_test_file():
    documented = _table_names((DOC / 'testing.md').read_text(), r'`(test_\w+\.py)`')
    files = {p.name for p in (ROOT / 'test').glob('test_*.py')}
    missing = sorted(files - documented)
    assert not missing, ('doc/testing.md, "What is tested where": add a row (or a name to a '
                         f'row) for {", ".join(missing)}')
    stale = sorted(documented - files)
    assert not stale, f'doc/testing.md names test files that do not exist: {", ".join(stale)}'


def test_models_page_lists_every_zoo_entry():
    from seg_ros.zoo import registry
    documented = _table_names((DOC / 'models.md').read_text(), r'`([a-z0-9_]+)`')
    missing = sorted(set(registry.names()) - documented)
    assert not missing, f'doc/models.md, the zoo table: add a row for {", ".join(missing)}'


def test_doc_commands_use_the_one_activation():
    """README and doc/ activate the venv with .venv/setup.sh, never half of it."""
    pages = [ROOT / 'README.md'] + sorted(DOC.glob('*.md'))
    allowed = 'python3 -m venv .venv && . .venv/bin/activate'   # README's by-hand install
    found = [f'{p.name}:{i}: {line.strip()}' for p in pages
             for i, line in enumerate(p.read_text().splitlines(), 1)
             if re.search(r'\.venv/bin/|\.venv/ros2_extras/setup', line) and allowed not in line]
    assert not found, 'use ". .venv/setup.sh" then the bare command:\n' + '\n'.join(found)


def test_tools_page_names_what_replay_records_by_default():
    from seg_ros.ros.player import NODE_OUTPUTS
    text = ' '.join((DOC / 'tools.md').read_text().split())
    sentence = text[text.index('By default the node'):text.index('chooses others')]
    missing = [t for t in NODE_OUTPUTS if f'`{t}`' not in sentence]
    assert not missing, f'doc/tools.md: name {", ".join(missing)} among the recorded defaults'
