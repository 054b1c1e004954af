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
doc/tools.md's replay pair, run as written: the node in one shell, ``seg-ros replay`` in another.

The commands are read from the page (the code block with "Terminal 1"), so a default that
changes on one side, or a flag the page forgets, fails here. What differs from a user's shell:
``../shared`` is ``$SEG_ROS_ASSETS``; ``espnet_camvid.onnx`` is the session's export, linked
into the working folder; ``ros2 launch`` (not in the venv) is done by launch's own
LaunchService on the tree's launch file, with the arguments as written.
"""
import json
import os
from pathlib import Path
import re
import signal
import subprocess
import sys
import time

import cv2
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
# `ros2 launch FILE ARG:=VALUE...` without ros2cli: the same LaunchService it runs.
ROS2_LAUNCH = r"""
import sys
from launch import LaunchDescription, LaunchService
from launch.actions import IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
args = [tuple(a.split(':=', 1)) for a in sys.argv[2:]]
service = LaunchService()
service.include_launch_description(LaunchDescription([IncludeLaunchDescription(
    PythonLaunchDescriptionSource(sys.argv[1]), launch_arguments=args)]))
sys.exit(service.run())
"""


def _documented_commands() -> dict[str, str]:
    """Return the pair's commands in tools.md by kind, continuation lines joined."""
    text = (ROOT / 'doc' / 'tools.md').read_text()
    block = next(b for b in re.findall(r'```bash\n(.*?)```', text, re.DOTALL)
                 if 'Terminal 1' in b)
    commands = [c.strip() for c in block.replace('\\\n', ' ').splitlines()
                if c.strip() and not c.strip().startswith('#')]
    kinds = {'export': 'seg-ros export', 'launch': 'ros2 launch', 'venv': 'segmentation_node',
             'replay': 'seg-ros replay'}
    found = {k: next(c for c in commands if c.startswith(p)) for k, p in kinds.items()}
    return {k: ' '.join(c.split()) for k, c in found.items()}


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env['PATH'] = os.pathsep.join([str(Path(sys.executable).parent), env.get('PATH', '')])
    return env


def _launch_available() -> str:
    """Why the launch variant cannot run here ('' when it can)."""
    try:
        import launch  # noqa: F401
        import launch_ros  # noqa: F401
        from ament_index_python.packages import get_package_prefix
        prefix = Path(get_package_prefix('seg_ros'))
    except Exception as exc:  # noqa: B902 - ImportError, PackageNotFoundError
        return f'launch / launch_ros or seg_ros in the ament index missing ({exc})'
    if not (prefix / 'lib' / 'seg_ros' / 'segmentation_node').exists():
        return f'{prefix}/lib/seg_ros/segmentation_node missing (scripts/setup_venv.sh links it)'
    return ''


def test_demo_and_the_documented_camera_agree():
    """config/camvid_camera.yaml is the demo's CamVid geometry."""
    from seg_ros.tools import demo
    params = yaml.safe_load((ROOT / 'config' / 'camvid_camera.yaml').read_text())
    flat = dict(params['/**']['ros__parameters'])
    flat.update({f'grid.{k}': v for k, v in flat.pop('grid').items()})
    expected = {k: yaml.safe_load(v) for k, v in (a.split(':=', 1) for a in demo.DEMO_GEOMETRY)}
    assert flat == expected


@pytest.mark.slow
@pytest.mark.parametrize('variant', ['venv', 'launch'])
def test_replay_pair_as_documented(variant, tmp_path, camvid_onnx, assets):
    if variant == 'launch' and _launch_available():
        pytest.skip(_launch_available())
    commands = _documented_commands()
    assert 'espnet_camvid.onnx' in commands['export']
    (tmp_path / 'espnet_camvid.onnx').symlink_to(camvid_onnx)
    (tmp_path / 'config').symlink_to(ROOT / 'config')
    node_cmd = commands[variant]
    if variant == 'launch':
        script = tmp_path / 'ros2_launch.py'
        script.write_text(ROS2_LAUNCH)
        launch_file = ROOT / 'launch' / 'segmentation.launch.py'
        node_cmd = node_cmd.replace('ros2 launch seg_ros segmentation.launch.py',
                                    f'python {script} {launch_file}')
    replay_cmd = commands['replay'].replace('../shared', str(assets))
    log = open(tmp_path / 'node.log', 'w')
    node = subprocess.Popen(['bash', '-c', node_cmd], cwd=tmp_path, env=_env(), stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        end = time.monotonic() + 90
        while 'loaded' not in (tmp_path / 'node.log').read_text():
            assert node.poll() is None and time.monotonic() < end, (
                (tmp_path / 'node.log').read_text())
            time.sleep(0.5)
        replay = subprocess.run(['bash', '-c', replay_cmd], cwd=tmp_path, env=_env(),
                                capture_output=True, text=True, timeout=180)
    finally:
        os.killpg(node.pid, signal.SIGINT)
        try:
            node.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(node.pid, signal.SIGKILL)
        log.close()
    assert replay.returncode == 0, replay.stdout + replay.stderr
    out = replay.stdout
    summary = json.loads(out[out.index('\n{') + 1:out.index('\n}\n') + 2])
    assert summary['frames_sent'] == 20 and summary['frames_answered'] >= 1, summary
    labels = sorted((tmp_path / 'output' / 'run1_png' / 'segmentation_labels').glob('*.png'))
    grids = sorted((tmp_path / 'output' / 'run1_png' / 'traversability_grid').glob('*.png'))
    assert labels and grids and (tmp_path / 'output' / 'run1' / 'metadata.yaml').is_file()
    # CamVid's camera: a good part of the grid is seen (the default pose leaves it unknown).
    grid = cv2.imread(str(grids[-1]), cv2.IMREAD_COLOR)[..., ::-1].reshape(-1, 3)
    known = 1.0 - (grid == (112, 137, 134)).all(axis=1).mean()
    assert known > KNOWN_FRACTION, known


KNOWN_FRACTION = 0.2
