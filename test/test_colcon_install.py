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
Build the package with colcon as on a robot and use its install space.

colcon (from PyPI here, from the ROS install on a robot) runs setup.py the ament_python way:
executables in ``lib/seg_ros`` (what ``ros2 run`` and launch_ros look in), data files under
``share/seg_ros``, the ament resource marker. The node is then started from the install space.
"""
import signal
import subprocess
import sys
import time

import colcon_ws
import pytest
from seg_ros.testing.synthetic import save_passthrough

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not colcon_ws.available(), reason='colcon is not installed')]


@pytest.fixture(scope='module')
def install_space():
    return colcon_ws.install_space()


def test_install_layout(install_space):
    pkg = install_space / 'seg_ros'
    for rel in ['lib/seg_ros/segmentation_node', 'lib/seg_ros/seg-ros',
                'share/seg_ros/package.xml', 'share/seg_ros/launch/segmentation.launch.py',
                'share/seg_ros/config/segmentation.yaml', 'share/seg_ros/config/fastdds_shm.xml',
                'share/seg_ros/engines/README.md',
                'share/ament_index/resource_index/packages/seg_ros']:
        assert (pkg / rel).exists(), rel


def _sourced(install_space, command):
    return colcon_ws.sourced(command)


def test_ament_index_finds_installed_share(install_space):
    out = _sourced(install_space, f'{sys.executable} -c "from ament_index_python.packages '
                   'import get_package_share_directory as g; print(g(\'seg_ros\'))"')
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(install_space / 'seg_ros' / 'share' / 'seg_ros')


def test_installed_node_starts_and_loads_a_model(install_space, tmp_path):
    model = save_passthrough(str(tmp_path / 'p.onnx'), ['a', 'b'])
    exe = install_space / 'seg_ros' / 'lib' / 'seg_ros' / 'segmentation_node'
    script = (f'. {install_space}/setup.sh && exec {sys.executable} {exe} '
              f'--ros-args -p model_path:={model}')
    proc = subprocess.Popen(['bash', '-c', script], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=colcon_ws.clean_env(),
                            cwd=install_space)
    lines = []
    end = time.monotonic() + 30
    try:
        while time.monotonic() < end:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if 'loaded' in line:
                break
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(10)
    text = ''.join(lines)
    assert 'loaded' in text and 'passthrough' in text, text
    assert str(install_space) in _sourced(install_space, f'{sys.executable} -c "import seg_ros; '
                                          'print(seg_ros.__file__)"').stdout


# What a maintainer runs before a release: colcon test on the built package, then
# colcon test-result. The linters and one node test keep it to about a minute.
COLCON_TESTS = ['test/test_copyright.py', 'test/test_flake8.py', 'test/test_pep257.py',
                'test/test_node.py::test_labels_headers_overlay_and_diagnostics']


def test_colcon_test_and_test_result(install_space):
    ws = install_space.parent
    colcon = colcon_ws.COLCON
    tested = subprocess.run(
        [colcon, 'test', '--base-paths', 'src', '--packages-select', 'seg_ros',
         '--event-handlers', 'console_direct+', '--pytest-args', *COLCON_TESTS, '-p',
         'no:cacheprovider'],
        cwd=ws, capture_output=True, text=True, timeout=600, env=colcon_ws.clean_env())
    assert tested.returncode == 0, tested.stdout[-6000:] + tested.stderr[-3000:]
    result = subprocess.run([colcon, 'test-result', '--all', '--verbose'], cwd=ws,
                            capture_output=True, text=True, timeout=60,
                            env=colcon_ws.clean_env())
    assert result.returncode == 0, result.stdout + result.stderr
    # e.g. "Summary: 4 tests, 0 errors, 0 failures, 0 skipped"
    summary = [line for line in result.stdout.splitlines() if line.startswith('Summary:')]
    assert summary, result.stdout
    counts = dict(reversed(part.split()) for part in summary[-1][len('Summary:'):].split(','))
    assert int(counts['tests']) == len(COLCON_TESTS), summary
    assert counts['errors'] == counts['failures'] == counts['skipped'] == '0', summary
