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
``rosdep install`` of package.xml resolves on every supported distro, as a user runs it.

``../shared/ros2/rosdep.sh`` runs the real rosdep offline against a rosdistro snapshot: the
same resolution a robot does for ``rosdep install --from-paths src --ignore-src -y``, with
``--simulate`` printing the commands instead of running them. A key without a definition for
the distro and OS (as ``python3-onnx-pip`` was) fails it, naming the key.
"""
import os
from pathlib import Path
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest
from seg_ros.common.share import assets_dir

ROOT = Path(__file__).resolve().parents[1]
ASSETS = assets_dir()
ROSDEP_SH = (ASSETS / 'ros2' / 'rosdep.sh') if ASSETS is not None else None
# Only the tests that run rosdep need it; the package.xml check below reads a file.
needs_rosdep = [
    pytest.mark.skipif(ROSDEP_SH is None or not ROSDEP_SH.exists(),
                       reason='no ../shared/ros2/rosdep.sh (set SEG_ROS_ASSETS)'),
    pytest.mark.skipif(shutil.which('rosdep') is None,
                       reason='rosdep is not installed (pip install rosdep)'),
]


def _needs_rosdep(test):
    for mark in needs_rosdep:
        test = mark(test)
    return test


DISTROS = [('humble', 'ubuntu:jammy'), ('jazzy', 'ubuntu:noble'), ('kilted', 'ubuntu:noble')]


def _rosdep(distro, os_name, *args):
    # As on a robot before the install: --ignore-src would otherwise count the packages
    # this machine built from source (tf2_ros_py, vision_msgs in .venv/ros2_extras) as present.
    env = {k: v for k, v in os.environ.items()
           if k not in ('AMENT_PREFIX_PATH', 'ROS_PACKAGE_PATH', 'CMAKE_PREFIX_PATH')}
    return subprocess.run([str(ROSDEP_SH), distro, os_name, *args], capture_output=True,
                          text=True, timeout=300, env=env)


@pytest.fixture(scope='module')
def package_only(tmp_path_factory):
    """Return a folder holding only package.xml (rosdep reads nothing else)."""
    folder = tmp_path_factory.mktemp('pkg') / 'seg_ros'
    folder.mkdir()
    shutil.copy2(ROOT / 'package.xml', folder / 'package.xml')
    return folder


@_needs_rosdep
@pytest.mark.parametrize('distro,os_name', DISTROS, ids=[d for d, _ in DISTROS])
def test_rosdep_install_resolves_every_key(package_only, distro, os_name):
    # --reinstall: list every command, also for what this machine already has (pip wheels).
    done = _rosdep(distro, os_name, 'install', '--simulate', '--reinstall', '--from-paths',
                   str(package_only), '--ignore-src', '-y')
    assert done.returncode == 0, done.stdout + done.stderr
    # The onnxruntime wheel comes through pip; ROS packages through apt.
    assert 'pip3 install -U -I onnxruntime' in done.stdout, done.stdout
    assert f'ros-{distro}-tf2-ros-py' in done.stdout, done.stdout


@_needs_rosdep
def test_gpu_machines_skip_the_cpu_onnxruntime_wheel(package_only):
    """What doc/robot.md tells a machine with onnxruntime-gpu: skip the CPU wheel's key."""
    skipped = _rosdep('kilted', 'ubuntu:noble', 'install', '--simulate', '--reinstall',
                      '--from-paths', str(package_only), '--ignore-src', '-y',
                      '--skip-keys', 'python3-onnxruntime-pip')
    assert skipped.returncode == 0, skipped.stdout + skipped.stderr
    assert 'onnxruntime' not in skipped.stdout and 'ros-kilted-rclpy' in skipped.stdout


def test_package_xml_declares_what_is_imported():
    """ROS packages imported by seg_ros are declared; declared ROS packages are imported."""
    root = ET.parse(ROOT / 'package.xml').getroot()
    run = {e.text for e in root.iter('exec_depend')}
    for ros_pkg in ('rclpy', 'rcl_interfaces', 'sensor_msgs', 'nav_msgs', 'std_msgs',
                    'diagnostic_msgs', 'tf2_ros_py', 'vision_msgs', 'launch', 'launch_ros',
                    'ament_index_python'):
        assert ros_pkg in run, ros_pkg
    sources = '\n'.join(p.read_text() for p in list((ROOT / 'seg_ros').rglob('*.py'))
                        + list((ROOT / 'launch').glob('*.py')))
    for ros_pkg in run:
        if ros_pkg.startswith('python3-'):
            continue
        module = {'tf2_ros_py': 'tf2_ros'}.get(ros_pkg, ros_pkg)
        assert (f'import {module}' in sources or f'from {module}' in sources), \
            f'package.xml declares {ros_pkg} but nothing imports {module}'
    assert 'tf2_ros' not in run and 'python3-onnx-pip' not in run
