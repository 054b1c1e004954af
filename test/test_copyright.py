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

"""ament_copyright, where it is installed (a robot's ROS install; it has no PyPI wheel)."""
import pytest

try:  # a pytestmark, not importorskip: see test_export.py
    from ament_copyright import main as ament_copyright
except ImportError:
    ament_copyright = None
pytestmark = pytest.mark.skipif(ament_copyright is None, reason='ament_copyright is not installed')


@pytest.mark.copyright
@pytest.mark.linter
def test_copyright():
    rc = ament_copyright.main(argv=['.', 'test'])
    assert rc == 0, 'Found errors'
