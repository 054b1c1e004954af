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
File writing and hashing that every cache of the package relies on.

Engines, exported models and downloaded weights are all megabytes large and are read by other
processes (a node loading a model while ``seg-ros export`` rewrites it): each is written to a
temporary file beside its destination and renamed into place, so a reader sees the old file or
the new one, never half of one, and an interrupted write leaves nothing behind.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from typing import IO, Iterator, Union

PathLike = Union[str, 'os.PathLike[str]']


def sha256_file(path: PathLike, chunk: int = 1 << 20) -> str:
    """Return the hex sha256 of a file, read in chunks (models and engines are megabytes)."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(chunk), b''):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def atomic_output(path: PathLike) -> Iterator[tuple[IO[bytes], str]]:
    """
    Yield ``(file, temporary path)`` for writing; rename the file to ``path`` on success.

    The caller may check the temporary file (after ``file.flush()``) and raise to abandon it:
    any exception deletes the temporary file and leaves ``path`` as it was.

    The file gets the permissions of any file the process creates (0666 less the umask: 0644
    by default), not ``mkstemp``'s 0600: an engine cache or model built by the installer must
    stay readable by a node running as another user.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = _create_temporary(folder, '.' + os.path.basename(path) + '.')
    try:
        with os.fdopen(fd, 'wb') as f:
            yield f, tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _create_temporary(folder: str, prefix: str) -> tuple[int, str]:
    """Create a new, unique ``PREFIX<random>.part`` in ``folder`` (mode 0666 less the umask)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, 'O_CLOEXEC', 0)
    while True:
        tmp = os.path.join(folder, f'{prefix}{secrets.token_hex(6)}.part')
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:   # 48 random bits: practically never
            continue


def atomic_write(path: PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through :func:`atomic_output`."""
    with atomic_output(path) as (f, _):
        f.write(data)
