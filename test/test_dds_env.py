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

"""The shared DDS environment: profile found, domain honoured or claimed exclusively."""
import os
import subprocess
import sys

from seg_ros.ros import dds_env


def test_profile_is_the_shm_profile():
    path = dds_env.shm_profile_path()
    assert path.name == 'fastdds_shm.xml' and '<type>SHM</type>' in path.read_text()


def test_isolated_env_honours_the_users_domain():
    env = dds_env.isolated_env(base={'ROS_DOMAIN_ID': '42', 'PATH': '/bin'})
    assert env['ROS_DOMAIN_ID'] == '42' and env['PATH'] == '/bin'
    assert env['FASTDDS_DEFAULT_PROFILES_FILE'] == str(dds_env.shm_profile_path())
    assert env['ROS_AUTOMATIC_DISCOVERY_RANGE'] == 'LOCALHOST'
    assert 'FASTRTPS_DEFAULT_PROFILES_FILE' not in env  # Fast DDS 3 warns when it is set
    legacy = dds_env.isolated_env(7, base={'ROS_DISTRO': 'jazzy'})
    assert legacy['ROS_DOMAIN_ID'] == '7' and 'FASTRTPS_DEFAULT_PROFILES_FILE' in legacy


def test_claimed_domains_are_exclusive_between_processes(tmp_path):
    mine = dds_env.claim_domain(str(tmp_path))
    code = ('import sys; from seg_ros.ros import dds_env; '
            f'print(dds_env.claim_domain({str(tmp_path)!r}))')
    other = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                           env=dict(os.environ), check=True)
    assert int(other.stdout) != mine
    assert dds_env.claim_domain(str(tmp_path)) == mine  # this process keeps its own
