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

"""The child-process helper the demo, the benchmark and the node tests start the node with."""
import sys

from seg_ros.ros import process


def test_node_command_is_the_ros2_run_module_with_yaml_values():
    cmd = process.node_command({'model_path': '/m.onnx', 'threads': 2, 'grid.enabled': False,
                                'taxonomy': ''}, {'image': '/cam/image'}, ['-p', 'a:=1'])
    assert cmd == [sys.executable, '-m', 'seg_ros.ros.node', '--ros-args',
                   '-p', 'model_path:=/m.onnx', '-p', 'threads:=2', '-p', 'grid.enabled:=false',
                   '-p', "taxonomy:=''", '-r', 'image:=/cam/image', '-p', 'a:=1']


def test_a_crash_is_reported_with_exit_code_and_output(tmp_path):
    code = 'import sys; print("loading model"); print("bad model", file=sys.stderr); sys.exit(3)'
    with process.NodeProcess([sys.executable, '-c', code]) as proc:
        log = proc.log_path
        assert proc.wait_for_output('bad model', timeout=30)
        proc.proc.wait(timeout=30)
        why = proc.dead()
        assert why.startswith('the node exited with code 3; its last output:')
        assert '  | loading model\n  | bad model' in why
    assert not log.exists()                          # a temporary log is removed


def test_stop_interrupts_a_running_child_and_keeps_a_named_log(tmp_path):
    code = ('import signal, sys, time\n'
            'signal.signal(signal.SIGINT, lambda *a: (print("stopping", flush=True), '
            'sys.exit(0)))\n'
            'print("ready", flush=True)\n'
            'time.sleep(60)\n')
    log = tmp_path / 'node.log'
    proc = process.NodeProcess([sys.executable, '-c', code], log=log, new_session=True,
                               name='the child')
    assert proc.wait_for_output('ready', timeout=30)
    assert proc.dead() is None
    assert proc.stop() == 0
    assert 'stopping' in log.read_text()
    assert proc.dead().startswith(f'the child exited with code 0; the end of {log}:')
    proc.close()
    assert log.exists()


def test_raise_if_dead_raises_the_callers_error():
    process.raise_if_dead(None, RuntimeError)
    process.raise_if_dead(lambda: None, RuntimeError)
    try:
        process.raise_if_dead(lambda: 'gone', TimeoutError)
    except TimeoutError as exc:
        assert str(exc) == 'gone'
    else:
        raise AssertionError('raise_if_dead did not raise')
