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
Sphinx configuration (the rosdoc2 layout: ``doc/conf.py`` beside ``doc/index.rst``).

Pages are MyST Markdown (``.md``) or reStructuredText; ``api.rst`` is generated from the
docstrings by autodoc, which imports every module, so the build needs the package's
dependencies (the venv of ``scripts/setup_venv.sh``, or a ROS install). TensorRT and the CUDA
bindings exist only on a GPU machine; they are mocked so their modules can still be documented.
``test/test_docs.py`` builds with ``-W``: a broken reference fails the test suite.
"""
import os
import sys
import xml.etree.ElementTree as ElementTree

DOC = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(DOC)
sys.path.insert(0, ROOT)

project = 'seg_ros'
author = 'seg_ros maintainers'
copyright = '2026, seg_ros maintainers'  # noqa: A001 (the name Sphinx reads)
# One version, the one package.xml declares (setup.py carries the same).
release = ElementTree.parse(os.path.join(ROOT, 'package.xml')).getroot().findtext('version')
version = release

extensions = [
    'myst_parser',
    'sphinx.ext.autodoc',
]
source_suffix = {'.rst': 'restructuredtext', '.md': 'markdown'}
root_doc = 'index'
exclude_patterns = ['_build']
# Anchors for level-1..3 headings, so [text](page.md#heading) links resolve.
myst_heading_anchors = 3

autodoc_default_options = {'members': True, 'show-inheritance': True}
autodoc_member_order = 'bysource'
autodoc_typehints = 'description'
autodoc_mock_imports = ['tensorrt', 'pycuda', 'cuda']

html_theme = 'alabaster'
html_title = f'seg_ros {release}'
