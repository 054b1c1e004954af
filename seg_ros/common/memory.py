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
Give memory back to the system after an outlier: one huge frame must not raise RSS for good.

The node allocates per frame (image, labels, overlay, grid) and frees it again, but after a
frame several times larger than usual glibc keeps the freed pages in its heaps (its mmap
threshold rises to the largest block freed, up to 32 MB, so later blocks come from the heap).
``malloc_trim`` returns them. :class:`SizeJump` says when a frame's size changed enough (2x or
more either way) to be worth it; a steady stream never calls it.
"""
from __future__ import annotations

import ctypes
import ctypes.util
from typing import Any, Optional

_libc: Optional[Any] = None
_looked = False


def trim_heap() -> bool:
    """Return freed heap memory to the system (glibc ``malloc_trim``); False where absent."""
    global _libc, _looked
    if not _looked:
        _looked = True
        name = ctypes.util.find_library('c')
        try:
            lib = ctypes.CDLL(name) if name else None
            _libc = lib if lib is not None and hasattr(lib, 'malloc_trim') else None
        except OSError:
            _libc = None
    if _libc is None:
        return False
    _libc.malloc_trim(0)
    return True


class SizeJump:
    """Remembers the last frame size; ``changed(pixels)`` is True when it jumped 2x or more."""

    def __init__(self) -> None:
        self._last = 0

    def changed(self, pixels: int) -> bool:
        last, self._last = self._last, pixels
        return bool(last) and not (pixels < 2 * last and last < 2 * pixels)
