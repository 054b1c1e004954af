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
