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
One colcon workspace with seg_ros built in it, shared by every test in this pytest process.

It is what a user has after ``git clone`` into ``ws/src`` and ``colcon build``: the tracked
files copied into ``src/seg_ros`` (so untracked files in the checkout do not leak in) and an
install space whose ``setup.sh`` puts the package on the ament index. Built once (about
20 s on two cores) and reused by the install-layout, ``colcon test`` and launch_testing tests.
"""
from __future__ import annotations

import atexit
import os
from pathlib import Path
import shutil
import subprocess
import sys
import tempfile
from typing import Any, Callable, Optional
import unittest

import pytest
import rclpy

try:   # not on PyPI; a ROS install (or ../shared/ros2/install.sh) has them
    from ament_index_python.packages import get_package_share_directory
    from launch import LaunchDescription
    from launch.actions import IncludeLaunchDescription
    from launch.launch_description_sources import PythonLaunchDescriptionSource
    import launch_testing.actions
    HAVE_LAUNCH_TESTING = True
except ImportError:
    HAVE_LAUNCH_TESTING = False

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
COLCON = shutil.which('colcon') or str(BIN / 'colcon')
_WS: Optional[Path] = None


def available() -> bool:
    """Whether colcon is installed."""
    return os.path.exists(COLCON)


def workspace() -> Path:
    """Build the workspace on first use; return it (``src/``, ``build/``, ``install/``)."""
    global _WS
    if _WS is not None:
        return _WS
    ws = Path(tempfile.mkdtemp(prefix='seg_ros_ws_'))
    atexit.register(shutil.rmtree, ws, True)
    src = ws / 'src' / 'seg_ros'
    tracked = subprocess.run(['git', 'ls-files'], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    for rel in tracked:
        if (ROOT / rel).is_file():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, src / rel)
    done = subprocess.run([COLCON, 'build', '--base-paths', 'src'], cwd=ws,
                          capture_output=True, text=True, timeout=300, env=clean_env())
    if done.returncode != 0:
        raise RuntimeError('colcon build failed:\n' + done.stdout + done.stderr)
    _WS = ws
    return ws


def install_space() -> Path:
    """Return the install space of :func:`workspace`."""
    return workspace() / 'install'


def clean_env() -> dict[str, str]:
    """Return the environment without the source tree on PYTHONPATH (set by conftest)."""
    env = dict(os.environ)
    env.pop('PYTHONPATH', None)
    env['PATH'] = f'{BIN}{os.pathsep}{env.get("PATH", "")}'
    return env


def sourced(command: str, timeout: float = 60.0, **kwargs: object) -> subprocess.CompletedProcess:
    """Run ``command`` in bash after sourcing the install space's ``setup.sh``."""
    install = install_space()
    script = f'. {install}/setup.sh && {command}'
    return subprocess.run(['bash', '-c', script], capture_output=True, text=True,
                          timeout=timeout, env=clean_env(), cwd=install, **kwargs)


def use_in_this_process() -> Path:
    """Put the install space on the ament index of this process (for launch_testing)."""
    prefix = install_space() / 'seg_ros'
    paths = [str(prefix)] + [p for p in os.environ.get('AMENT_PREFIX_PATH', '').split(
        os.pathsep) if p and p != str(prefix)]
    os.environ['AMENT_PREFIX_PATH'] = os.pathsep.join(paths)
    # What setup.sh adds for an ament_python package: its site-packages (after the source
    # tree that conftest puts first, so the code under test is this checkout's).
    site = next(prefix.glob('lib/python3*/site-packages'), None)
    if site is not None:
        parts = os.environ.get('PYTHONPATH', '').split(os.pathsep)
        if str(site) not in parts:
            os.environ['PYTHONPATH'] = os.pathsep.join([p for p in parts if p] + [str(site)])
    return prefix


def launch_test(generate_test_description: Callable[[], Any]) -> Callable[[], Any]:
    """
    Mark a launch test's entry point (marks there are the launch test's marks).

    It runs where launch_testing and colcon are installed, and is slow (it builds the
    workspace on first use).
    """
    marks = [pytest.mark.skipif(not HAVE_LAUNCH_TESTING, reason='launch_testing is not installed'),
             pytest.mark.skipif(not available(), reason='colcon is not installed'),
             pytest.mark.slow, pytest.mark.launch_test]
    for mark in marks:
        generate_test_description = mark(generate_test_description)
    return generate_test_description


def installed_share() -> str:
    """Put the install space on this process's ament index; return seg_ros's share folder."""
    use_in_this_process()
    share = get_package_share_directory('seg_ros')
    assert share.startswith(str(install_space())), share
    return share


def segmentation_launch(**arguments: str) -> Any:
    """Return the installed ``segmentation.launch.py`` with ``arguments``, then ReadyToTest."""
    include = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(os.path.join(installed_share(), 'launch',
                                                   'segmentation.launch.py')),
        launch_arguments=arguments.items())
    return LaunchDescription([include, launch_testing.actions.ReadyToTest()])


class NodeTestCase(unittest.TestCase):
    """
    A launch test's unittest class with one rclpy node of its own (``cls.node``).

    In the whole suite an earlier test's probe may have initialised rclpy already: the class
    then borrows that context and leaves it up.
    """

    node_name = 'seg_ros_launch_probe'

    @classmethod
    def setUpClass(cls) -> None:
        cls.own_context = not rclpy.ok()
        if cls.own_context:
            rclpy.init()
        cls.node = rclpy.create_node(cls.node_name)

    @classmethod
    def tearDownClass(cls) -> None:
        cls.node.destroy_node()
        if cls.own_context:
            rclpy.shutdown()
