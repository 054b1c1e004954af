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
The node (or another process under test) as a child process: start it, watch it, stop it.

``seg-ros demo``, ``seg-ros benchmark`` and the tests all run ``python -m seg_ros.ros.node``
beside an rclpy node of their own that feeds it. One command builder, one process wrapper and
one liveness check make them start it alike (the module ``ros2 run`` starts), stop it alike
(SIGINT, as ``ros2 launch`` does, then SIGKILL) and report a crash alike: at once, with the
exit code and the end of its output, instead of as a time-out.
"""
from __future__ import annotations

import os
from pathlib import Path
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable, Mapping, Optional, Sequence

NODE_MODULE = 'seg_ros.ros.node'

# A liveness check: returns why the peer is gone (an error text), or None while it runs.
Alive = Callable[[], Optional[str]]


def ros_arg(value: Any) -> str:
    """Format a parameter value for ``-p name:=value`` (YAML syntax)."""
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, str):
        return f"'{value}'" if value == '' else value
    return str(value)


def node_command(params: Mapping[str, Any], remaps: Optional[Mapping[str, str]] = None,
                 ros_args: Sequence[str] = (), module: str = NODE_MODULE) -> list[str]:
    """
    Return the command line that runs ``module`` with these parameters and remappings.

    ``ros_args`` follow the parameters (e.g. more ``-p name:=value``: a later one wins).
    """
    cmd = [sys.executable, '-m', module, '--ros-args']
    for name, value in params.items():
        cmd += ['-p', f'{name}:={ros_arg(value)}']
    for src, dst in (remaps or {}).items():
        cmd += ['-r', f'{src}:={dst}']
    return cmd + list(ros_args)


def raise_if_dead(alive: Optional[Alive], error: Callable[[str], Exception]) -> None:
    """Raise ``error(why)`` when ``alive()`` says the peer is gone; the waits call it per turn."""
    if alive is not None:
        why = alive()
        if why:
            raise error(why)


class NodeProcess:
    """
    A child process whose output (stdout and stderr) goes to a log file.

    ``log`` names the file to keep (the demo's ``node.log``); without it a temporary file is
    used and removed by :meth:`close`. ``new_session`` puts the child in a session of its own,
    so Ctrl-C in the terminal reaches the parent only, which then stops the child itself after
    recording what is still in flight.
    """

    def __init__(self, cmd: Sequence[str], env: Optional[Mapping[str, str]] = None,
                 log: Optional[Path] = None, new_session: bool = False,
                 name: str = 'the node') -> None:
        self.name = name
        self._own_log = log is None
        if log is None:
            handle, tmp = tempfile.mkstemp(suffix='.log', prefix='seg_ros_node_')
            os.close(handle)
            log = Path(tmp)
        self.log_path = Path(log)
        self._log = open(self.log_path, 'w')
        self.proc = subprocess.Popen(list(cmd), env=None if env is None else dict(env),
                                     stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=new_session)

    def output(self) -> str:
        """Return everything the process has written so far."""
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors='replace')

    def tail(self, lines: int = 15) -> str:
        """Return the end of the output, indented to stand out in an error message."""
        text = self.output().strip().splitlines()
        return '\n'.join('  | ' + line for line in text[-lines:])

    def dead(self) -> Optional[str]:
        """Return why the process is gone (exit code, end of its output), or None while it runs."""
        rc = self.proc.poll()
        if rc is None:
            return None
        where = 'its last output' if self._own_log else f'the end of {self.log_path}'
        return f'{self.name} exited with code {rc}; {where}:\n{self.tail()}'

    def wait_for_output(self, text: str, timeout: float = 20.0) -> bool:
        """Wait until ``text`` appears in the output; False on time-out or exit without it."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if text in self.output():
                return True
            if self.proc.poll() is not None:
                return text in self.output()
            time.sleep(0.05)
        return False

    def stop(self, timeout: float = 10.0) -> int:
        """Stop as ros2 launch does: SIGINT, then SIGKILL if it does not exit in time."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode

    def close(self, timeout: float = 10.0) -> int:
        """Stop the process and remove its log if it is a temporary file."""
        rc = self.stop(timeout)
        if self._own_log:
            self.log_path.unlink(missing_ok=True)
        return rc

    def __enter__(self) -> 'NodeProcess':
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
