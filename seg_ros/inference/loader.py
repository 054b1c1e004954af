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
Pick and load a backend by name: the one place that knows every runtime.

Kept apart from :mod:`seg_ros.inference.backend` (the interface the runtimes implement) so that
the interface imports no runtime and no runtime imports the loader. The runtimes are imported
only when chosen: ONNX Runtime and TensorRT are both optional at install time.
"""
from __future__ import annotations

import os
import stat
from typing import Optional

from seg_ros.common.share import share_path
from seg_ros.inference.backend import Backend, BackendError, BackendOptions, BACKENDS


def resolve_model_path(path: str) -> str:
    """
    Find a model given as an absolute path, relative to the working directory, or by file name.

    A bare name (``espnet_camvid.onnx``) is also looked up in the installed package's
    ``share/seg_ros/engines/``, where built engines live on a robot, so launch files can name
    models without knowing the install prefix.
    """
    if not path or os.path.isabs(path) or os.path.exists(path):
        return path
    try:
        return str(share_path('engines', path))
    except FileNotFoundError:
        return path


def _not_a_regular_file(path: str) -> str:
    """Name what ``path`` is when it exists but is no regular file (reading it would hang)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return ''
    for test, what in ((stat.S_ISDIR, 'a directory'), (stat.S_ISFIFO, 'a FIFO (named pipe)'),
                       (stat.S_ISCHR, 'a character device'), (stat.S_ISBLK, 'a block device'),
                       (stat.S_ISSOCK, 'a socket')):
        if test(mode):
            return what
    return ''


def create_backend(kind: str, model_path: str,
                   options: Optional[BackendOptions] = None) -> Backend:
    """Load ``model_path`` with the named backend; errors say which file or option is wrong."""
    options = options or BackendOptions()
    if kind not in BACKENDS:
        raise BackendError(f'unknown backend "{kind}"; choose one of {", ".join(BACKENDS)}')
    if not model_path:
        raise BackendError('no model given: set the "model_path" parameter to a .onnx file '
                           '(make one with "seg-ros export espnet_camvid -o model.onnx")')
    not_a_file = _not_a_regular_file(model_path)
    if not_a_file:
        raise BackendError(f'model_path {model_path} is {not_a_file}, not a model file; check '
                           'the "model_path" parameter (make one with "seg-ros export NAME -o '
                           'FILE.onnx")')
    if not os.path.isfile(model_path):
        raise BackendError(f'model file not found: {model_path}; check the "model_path" '
                           'parameter (make one with "seg-ros export NAME -o FILE.onnx")')
    if kind == 'onnxruntime':
        if model_path.endswith('.engine'):
            raise BackendError(f'{model_path} is a TensorRT engine; set backend: tensorrt')
        from seg_ros.inference.onnxruntime_backend import OnnxRuntimeBackend
        return OnnxRuntimeBackend(model_path, options)
    from seg_ros.inference.tensorrt.backend import TensorRTBackend
    return TensorRTBackend(model_path, options)
