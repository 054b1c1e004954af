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
Find the package's share folder (``config/``, ``launch/``, ``engines/``), however it was installed.

Three installs exist and each puts the data files somewhere else: a source checkout (tests,
``PYTHONPATH=.``) has them beside the package; ``colcon build`` puts them under
``<install>/share/seg_ros``, found through the ament index (``AMENT_PREFIX_PATH``); and
``pip install .`` into a venv puts them under ``<venv>/share/seg_ros``, where no ament index
may be set at all. A source checkout wins so that code and data files always match; otherwise
the ament index, then the interpreter's prefix.
"""
from __future__ import annotations

import os
from pathlib import Path
import sys
from typing import Optional

PACKAGE = 'seg_ros'
_SOURCE_ROOT = Path(__file__).resolve().parents[2]


def candidates() -> list[Path]:
    """Return the share folders to look in, best first (those that may not exist included)."""
    found = []
    if (_SOURCE_ROOT / 'package.xml').is_file() and (_SOURCE_ROOT / 'config').is_dir():
        found.append(_SOURCE_ROOT)
    try:
        from ament_index_python.packages import get_package_share_directory
        found.append(Path(get_package_share_directory(PACKAGE)))
    # ImportError: no ament_index_python; LookupError: not in the index; OSError/ValueError:
    # AMENT_PREFIX_PATH unset or empty (a venv with no ROS overlay sourced).
    except (ImportError, LookupError, OSError, ValueError):
        pass
    found.append(Path(sys.prefix) / 'share' / PACKAGE)
    return found


def share_path(*parts: str) -> Path:
    """
    Return ``<share>/<parts...>`` from the first share folder that has it.

    ``FileNotFoundError`` lists every folder looked in, so a broken install says where the file
    was expected rather than which environment variable happened to be unset.
    """
    looked = []
    for root in candidates():
        path = root.joinpath(*parts)
        if path.exists():
            return path
        looked.append(str(path))
    raise FileNotFoundError(f'{"/".join(parts)} not found (looked in {", ".join(looked)}); '
                            'reinstall seg_ros (pip install . or colcon build)')


def assets_dir() -> Optional[Path]:
    """
    Return the real weights and data: ``$SEG_ROS_ASSETS``, else an existing ``../shared``.

    ``../shared`` is looked for relative to the working directory (a clone beside its assets)
    and beside the source checkout this module runs from. None when neither exists.
    """
    env = os.environ.get('SEG_ROS_ASSETS')
    if env:
        return Path(env)
    for guess in (Path('..') / 'shared', _SOURCE_ROOT.parent / 'shared'):
        if guess.is_dir():
            return guess
    return None
