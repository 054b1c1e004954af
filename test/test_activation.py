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
The venv's one activation, ``. .venv/setup.sh``, as the README and every doc page use it.

Sourced in a bare bash (no variables of this test's shell), it must give what a sourced ROS
install gives: the venv's Python and commands, tf2_ros and vision_msgs (built into
``.venv/ros2_extras`` when ``../shared/ros2`` was there), and seg_ros in the ament index, which
is how ``launch_ros`` finds the package's executables and launch files.
"""
import os
from pathlib import Path
import subprocess
import sys

import pytest

VENV = Path(sys.prefix)
SETUP = VENV / 'setup.sh'

CHECK = r"""
import sys
from ament_index_python.packages import get_package_prefix, get_package_share_directory
print('prefix', sys.prefix)
print('share', get_package_share_directory('seg_ros'))
print('package_prefix', get_package_prefix('seg_ros'))
try:
    import tf2_ros  # noqa: F401
    from vision_msgs.msg import LabelInfo  # noqa: F401
    print('extras ok')
except ImportError as exc:
    print('extras missing', exc)
"""


def _bare_bash(script: str) -> str:
    """Run ``script`` in bash with only HOME and a system PATH (no venv, no ROS)."""
    env = {'HOME': os.environ.get('HOME', '/tmp'), 'PATH': '/usr/local/bin:/usr/bin:/bin'}
    result = subprocess.run(['bash', '-c', script], env=env, cwd='/', capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.mark.skipif(not SETUP.is_file(), reason=f'{SETUP} is missing: this Python is not a venv '
                    'made by scripts/setup_venv.sh (on a robot, the ROS install does this)')
def test_setup_sh_gives_python_ros_extras_and_the_ament_index():
    out = _bare_bash(f'. {SETUP} && command -v seg-ros segmentation_node && '
                     f'python - <<"EOF"\n{CHECK}\nEOF')
    lines = dict(line.split(' ', 1) for line in out.splitlines() if ' ' in line)
    assert out.splitlines()[:2] == [str(VENV / 'bin' / 'seg-ros'),
                                    str(VENV / 'bin' / 'segmentation_node')], out
    assert lines['prefix'] == str(VENV)
    share = Path(lines['share'])
    assert (share / 'launch' / 'segmentation.launch.py').is_file(), out
    assert lines['package_prefix'] == str(VENV)
    # The launch file's executable, where launch_ros looks for it.
    assert (VENV / 'lib' / 'seg_ros' / 'segmentation_node').exists()
    if (VENV / 'ros2_extras' / 'setup.sh').is_file():
        assert 'extras ok' in out, out


@pytest.mark.skipif(not SETUP.is_file(), reason=f'{SETUP} is missing (see above)')
def test_setup_sh_twice_adds_the_venv_once():
    out = _bare_bash(f'. {SETUP} && . {SETUP} && echo "$AMENT_PREFIX_PATH"')
    assert out.strip().split(':').count(str(VENV)) == 1, out
