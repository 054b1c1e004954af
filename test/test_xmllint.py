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
ament_xmllint over the package's XML files, as ROS 2 packages carry it.

ament_xmllint runs the ``xmllint`` executable (Debian/Ubuntu package ``libxml2-utils``; CI's
``.ci/run`` installs it) and validates ``package.xml`` against the schema its ``xml-model`` line
names, ``http://download.ros.org/schema/package_format3.xsd``. xmllint downloads that schema, so
on a machine without network the test is skipped with the reason, unless ``XML_CATALOG_FILES``
maps the URL to local copies of the schema files (an XML catalog ``rewriteURI``).
"""
import os
import shutil
import urllib.error
import urllib.request

import pytest

try:  # a pytestmark, not importorskip: see test_export.py
    import ament_xmllint.main as ament_xmllint
except ImportError:
    ament_xmllint = None
pytestmark = pytest.mark.skipif(ament_xmllint is None, reason='ament_xmllint is not installed')

SCHEMA = 'http://download.ros.org/schema/package_format3.xsd'


def _schema_unreachable() -> str:
    """Return why the package.xml schema cannot be loaded here, or '' when it can."""
    if os.environ.get('XML_CATALOG_FILES'):
        return ''
    try:
        with urllib.request.urlopen(SCHEMA, timeout=10) as response:
            response.read(1)
    except (OSError, urllib.error.URLError) as exc:
        return f'{SCHEMA} cannot be downloaded here ({exc})'
    return ''


@pytest.mark.xmllint
@pytest.mark.linter
def test_xmllint():
    if shutil.which('xmllint') is None:
        pytest.skip('xmllint is not installed (apt-get install libxml2-utils)')
    reason = _schema_unreachable()
    if reason:
        pytest.skip(reason + '; set XML_CATALOG_FILES to a catalog with local copies')
    rc = ament_xmllint.main(argv=[])
    assert rc == 0, 'Found errors'
