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
Static checks of the launch file against what the package installs, in a second.

The launch file is read as Python source: its arguments, the executable it starts, the files its
defaults point at and the node name the params file must be keyed by are checked against what
``setup.py`` installs (its ``data_files`` and ``console_scripts`` as setuptools evaluates them,
not their spelling). ``test_launch_segmentation.py`` launches it for real from a colcon install
space (where launch_testing and colcon are installed), ``test_colcon_install.py`` checks that
install's layout.
"""
import ast
import importlib
import os
from pathlib import Path

from seg_ros.ros.parameters import PARAMETERS
import yaml

ROOT = Path(__file__).resolve().parents[1]
LAUNCH = ROOT / 'launch' / 'segmentation.launch.py'


def _install_plan():
    """Return setup.py's installed files ``{share path: source path}`` and console scripts."""
    import setuptools  # noqa: F401 - provides distutils
    from distutils.core import run_setup

    cwd = os.getcwd()
    os.chdir(ROOT)   # setup.py's globs are relative to the package root
    try:
        dist = run_setup('setup.py', stop_after='init')
    finally:
        os.chdir(cwd)
    files = {f'{folder}/{Path(src).name}': src for folder, srcs in dist.data_files
             for src in srcs}
    scripts = dict(tuple(part.strip() for part in spec.split('='))
                   for spec in dist.entry_points['console_scripts'])
    return files, scripts


def _calls(tree, name):
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call)
            and getattr(n.func, 'id', getattr(n.func, 'attr', None)) == name]


def _kw(call, key):
    for kw in call.keywords:
        if kw.arg == key:
            return kw.value
    return None


def _literal_defaults(tree):
    out = {}
    for call in _calls(tree, 'DeclareLaunchArgument'):
        name = ast.literal_eval(call.args[0])
        default = _kw(call, 'default_value')
        out[name] = default
        assert _kw(call, 'description') is not None, f'launch argument {name} has no description'
    return out


def test_launch_file_compiles_and_declares_every_knob():
    tree = ast.parse(LAUNCH.read_text())
    names = set(_literal_defaults(tree))
    assert {'model', 'backend', 'params_file', 'image', 'camera_info', 'namespace',
            'dds_profile', 'node_name', 'log_level', 'managed'} <= names
    funcs = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
    assert 'generate_launch_description' in funcs


def test_launch_defaults_point_at_installed_files():
    tree = ast.parse(LAUNCH.read_text())
    defaults = _literal_defaults(tree)
    files, _ = _install_plan()
    for arg, folder_file in (('params_file', ('config', 'segmentation.yaml')),
                             ('dds_profile', ('config', 'fastdds_shm.xml'))):
        joined = defaults[arg]
        parts = [ast.literal_eval(a) for a in joined.args[1:]]
        assert tuple(parts) == folder_file, f'{arg} default is {parts}'
        assert (ROOT.joinpath(*parts)).is_file()
        # ... and setup.py installs it where the launch file's share lookup finds it.
        assert files.get('share/seg_ros/' + '/'.join(parts)) == '/'.join(parts), files
    assert files.get('share/seg_ros/launch/segmentation.launch.py') == \
        'launch/segmentation.launch.py', 'the launch file is not installed'


def test_node_name_executable_and_params_file_agree():
    tree = ast.parse(LAUNCH.read_text())
    # The Node / LifecycleNode options (one dict for both: managed:=true uses LifecycleNode).
    node = [n for n in ast.walk(tree) if isinstance(n, ast.Dict) and any(
        isinstance(k, ast.Constant) and k.value == 'executable' for k in n.keys)][0]
    options = {k.value: v for k, v in zip(node.keys, node.values)}
    assert {'Node', 'LifecycleNode'} <= {getattr(c.func, 'id', None) for c in _calls(
        tree, 'Node') + _calls(tree, 'LifecycleNode')}
    executable = ast.literal_eval(options['executable'])
    # The executable is a console script of the package, and its target is the node's main.
    _, scripts = _install_plan()
    assert executable in scripts, f'{executable} is not installed; scripts: {scripts}'
    module, func = scripts[executable].split(':')
    from seg_ros.ros import node as node_module
    assert getattr(importlib.import_module(module), func) is node_module.main
    default_name = ast.literal_eval(_literal_defaults(tree)['node_name'])
    assert default_name == 'segmentation_node'
    params = yaml.safe_load((ROOT / 'config' / 'segmentation.yaml').read_text())
    # Keyed for any namespace and node name (namespace:=robot1 must not drop the values).
    assert list(params) == ['/**'], 'params file must be keyed /** (any namespace and name)'
    assert set(params['/**']) == {'ros__parameters'}
    # The overrides the launch file passes are real parameters of the node.
    overrides = [ast.literal_eval(t.elts[1]) for t in ast.walk(tree)
                 if isinstance(t, ast.Tuple) and len(t.elts) == 2
                 and isinstance(t.elts[0], ast.Constant) and t.elts[0].value in ('model',
                                                                                 'backend')]
    assert overrides and set(overrides) <= set(PARAMETERS)
    # managed:=true turns autostart off, and autostart is a real parameter of the node.
    managed = [n for n in ast.walk(tree) if isinstance(n, ast.Subscript)
               and isinstance(n.slice, ast.Constant) and n.slice.value == 'autostart']
    assert managed and 'autostart' in PARAMETERS


def test_dds_profile_is_valid_shm_xml():
    import xml.etree.ElementTree as ET
    root = ET.parse(ROOT / 'config' / 'fastdds_shm.xml').getroot()
    ns = {'f': 'http://www.eprosima.com/XMLSchemas/fastRTPS_Profiles'}
    shm = [t for t in root.iterfind('.//f:transport_descriptor', ns)
           if t.findtext('f:type', namespaces=ns) == 'SHM']
    assert shm and int(shm[0].findtext('f:segment_size', namespaces=ns)) >= 32 * 1024 * 1024
    participant = root.find('.//f:participant', ns)
    assert participant.get('is_default_profile') == 'true'
    used = {e.text for e in participant.iterfind('.//f:transport_id', ns)}
    assert shm[0].findtext('f:transport_id', namespaces=ns) in used
