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
The DDS environment every seg_ros process on one host should share.

Large images between processes only arrive reliably over Fast DDS's shared-memory transport
(``config/fastdds_shm.xml``), and a demo or test must not see (or disturb) another run's
topics, so it takes a ROS domain of its own and keeps discovery on this host. The launch file,
the tests, the benchmark and the demo all build their environment here, so they agree.
"""
from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO, Mapping, Optional

from seg_ros.common.share import share_path

PROFILE_NAME = 'fastdds_shm.xml'
LEGACY_DISTROS = ('humble', 'iron', 'jazzy')  # Fast DDS 2.x: reads FASTRTPS_* only
DOMAIN_RANGE = range(1, 101)  # ROS_DOMAIN_ID values that are safe on every platform
_held_locks: dict[tuple[str, int], IO[str]] = {}


def shm_profile_path() -> Path:
    """Return the shared-memory Fast DDS profile from the package's share folder."""
    return share_path('config', PROFILE_NAME)


def claim_domain(lock_dir: str = '/tmp') -> int:
    """
    Return a ROS_DOMAIN_ID no other seg_ros run on this host holds, and hold it.

    A lock file per id (released when this process exits) is cheaper and more certain than
    probing the network for participants, which needs discovery time and misses idle domains.
    """
    start = os.getpid() % len(DOMAIN_RANGE)
    for i in range(len(DOMAIN_RANGE)):
        domain = DOMAIN_RANGE[(start + i) % len(DOMAIN_RANGE)]
        if (lock_dir, domain) in _held_locks:
            return domain
        f = open(os.path.join(lock_dir, f'seg_ros_domain_{domain}.lock'), 'w')
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            continue
        _held_locks[(lock_dir, domain)] = f
        return domain
    raise RuntimeError(f'every ROS_DOMAIN_ID in {DOMAIN_RANGE.start}..{DOMAIN_RANGE.stop - 1} '
                       'is held by another seg_ros run; set ROS_DOMAIN_ID yourself')


def profile_variable(env: Optional[Mapping[str, str]] = None) -> str:
    """
    Return the variable this distro's Fast DDS reads the XML profile from.

    Only one is set: Fast DDS 3 warns that FASTRTPS_* is deprecated whenever it is present.
    """
    distro = (os.environ if env is None else env).get('ROS_DISTRO', '')
    return ('FASTRTPS_DEFAULT_PROFILES_FILE' if distro in LEGACY_DISTROS
            else 'FASTDDS_DEFAULT_PROFILES_FILE')


def isolated_env(domain: Optional[int] = None,
                 base: Optional[Mapping[str, str]] = None) -> dict[str, str]:
    """
    Return ``base`` (default ``os.environ``) with the SHM profile and a private domain set.

    ``domain`` None honours a ``ROS_DOMAIN_ID`` the user already exported (they may want to
    watch the demo in RViz) and otherwise claims a free one.
    """
    env = dict(os.environ if base is None else base)
    if domain is None:
        user = env.get('ROS_DOMAIN_ID', '').strip()
        domain = int(user) if user.isdigit() else claim_domain()
    env['ROS_DOMAIN_ID'] = str(domain)
    env[profile_variable(env)] = str(shm_profile_path())
    env.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    return env
