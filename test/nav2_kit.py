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
Nav2's real costmap node (``nav2_costmap_2d``) as a child process, driven from a test.

Where it comes from, in this order:

- ``<venv>/nav2``: what ``scripts/setup_venv.sh`` installs from ``../shared/nav2`` (Nav2's own
  nav2_costmap_2d, Kilted 1.4.2, built against the venv's ROS 2 wheels); its colcon
  ``setup.sh`` is sourced for the child only (``COLCON_CURRENT_PREFIX``: the install was moved);
- a ROS install on ``AMENT_PREFIX_PATH`` (a robot with ``ros-<distro>-nav2-costmap-2d``).

:func:`find` returns the executable and its environment, or why there is none (the tests skip
with that reason). :class:`CostmapProcess` starts it as Nav2 does (``/<name>/<name>``, grid on
``/<name>/costmap``) and takes it through configure and activate with the lifecycle services,
as Nav2's lifecycle manager would.
"""
from __future__ import annotations

import os
from pathlib import Path
import subprocess
import sys
import time
from typing import Any, Optional, Sequence

from lifecycle_msgs.srv import ChangeState, GetState
from seg_ros.ros import process

EXE = Path('lib') / 'nav2_costmap_2d' / 'nav2_costmap_2d'
WARNING_NOT_CURRENT = 'observation buffer has not been updated'
# Costmap2DPublisher's cost translation (costmap_2d_publisher.cpp): 0 free, 253 -> 99,
# 254 -> 100 (lethal), 255 -> -1 (unknown).
FREE, LETHAL, UNKNOWN = 0, 100, -1


def find() -> tuple[Optional[str], dict[str, str], str]:
    """Return ``(executable, environment, '')`` or ``(None, {}, why it is missing)``."""
    env = dict(os.environ)
    install = Path(sys.prefix) / 'nav2'
    if (install / 'setup.sh').is_file():
        script = f'COLCON_CURRENT_PREFIX="{install}" . "{install}/setup.sh" && env -0'
        done = subprocess.run(['bash', '-c', script], env=env, capture_output=True, timeout=60)
        if done.returncode != 0:
            return None, {}, (f'sourcing {install}/setup.sh failed: '
                              f'{done.stderr.decode(errors="replace")[-300:]}')
        env = dict(item.split('=', 1) for item in done.stdout.decode().split('\0') if '=' in item)
    for prefix in env.get('AMENT_PREFIX_PATH', '').split(os.pathsep):
        if prefix and (Path(prefix) / EXE).is_file():
            return str(Path(prefix) / EXE), env, ''
    return None, {}, (f'Nav2 nav2_costmap_2d not found: no {install} (scripts/setup_venv.sh '
                      'installs it from ../shared/nav2) and none on AMENT_PREFIX_PATH (a ROS '
                      'install with ros-<distro>-nav2-costmap-2d)')


class CostmapProcess(process.NodeProcess):
    """``nav2_costmap_2d`` as node ``/<name>/<name>`` with the given params files."""

    def __init__(self, exe: str, env: dict[str, str], name: str,
                 params_files: Sequence[str]) -> None:
        self.node_name = f'/{name}/{name}'
        self.grid_topic = f'/{name}/costmap'
        cmd = [exe, '--ros-args', '-r', f'__ns:=/{name}', '-r', f'__node:={name}']
        for path in params_files:
            cmd += ['--params-file', str(path)]
        env = {**env, 'RCUTILS_LOGGING_BUFFERED_STREAM': '0',
               'RCUTILS_COLORIZED_OUTPUT': '0'}
        super().__init__(cmd, env, name=f'Nav2 costmap {self.node_name}')

    def bring_up(self, node: Any, timeout: float = 60.0) -> None:
        """Configure then activate through the lifecycle services (``node`` is spun elsewhere)."""
        change = node.create_client(ChangeState, f'{self.node_name}/change_state')
        get = node.create_client(GetState, f'{self.node_name}/get_state')
        for transition, label in ((1, 'configure'), (3, 'activate')):
            if not change.wait_for_service(timeout_sec=timeout):
                raise AssertionError(f'no {self.node_name}/change_state\n{self.tail(30)}')
            request = ChangeState.Request()
            request.transition.id = transition
            result = _call(change, request, timeout)
            state = _call(get, GetState.Request(), timeout).current_state.label
            if result is None or not result.success:
                raise AssertionError(f'{self.node_name} {label} failed (state {state})\n'
                                     f'{self.tail(30)}')

    def warnings_since(self, offset: int, text: str = WARNING_NOT_CURRENT) -> list[str]:
        """Return the log lines after character ``offset`` that contain ``text``."""
        return [line for line in self.output()[offset:].splitlines() if text in line]


def _call(client: Any, request: Any, timeout: float) -> Any:
    future = client.call_async(request)
    end = time.monotonic() + timeout
    while not future.done() and time.monotonic() < end:
        time.sleep(0.02)
    return future.result() if future.done() else None
