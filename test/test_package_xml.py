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
package.xml as colcon, rosdep and bloom read it (catkin_pkg), with no network needed.

test_xmllint validates against the XSD where the schema can be downloaded; this test runs the
parser the ROS tools themselves use, which enforces the format-3 rules, everywhere.
"""
from pathlib import Path
import re

from catkin_pkg.package import parse_package

ROOT = Path(__file__).resolve().parents[1]


def test_package_xml_is_a_valid_format_3_manifest():
    package = parse_package(str(ROOT / 'package.xml'))   # raises InvalidPackage on errors
    package.validate()
    assert package.package_format == 3 and package.name == 'seg_ros'
    assert package.get_build_type() == 'ament_python'
    assert list(package.licenses) == ['Apache-2.0']
    setup_version = re.search(r"version='([^']+)'", (ROOT / 'setup.py').read_text()).group(1)
    assert package.version == setup_version, 'package.xml and setup.py versions differ'
