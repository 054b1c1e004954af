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
config/seg_ros.rviz shows what the launch file's node publishes, under the launch defaults.

Each display's topic must be one the node publishes (or the launch file's default camera
image), resolved with the launch defaults (empty namespace, image:=/camera/image_raw); and
every output a person looks at has a display: the grid, the three clouds, the overlay and the
functional image in the taxonomy's colours (not the raw ids, which are black on black).
"""
import ast
from pathlib import Path

from seg_ros.ros import label_info, outputs
import yaml

ROOT = Path(__file__).resolve().parents[1]


def _displays():
    doc = yaml.safe_load((ROOT / 'config' / 'seg_ros.rviz').read_text())
    return doc['Visualization Manager']['Displays']


def _launch_default(name):
    tree = ast.parse((ROOT / 'launch' / 'segmentation.launch.py').read_text())
    for call in ast.walk(tree):
        if (isinstance(call, ast.Call) and getattr(call.func, 'id', '') == 'DeclareLaunchArgument'
                and ast.literal_eval(call.args[0]) == name):
            for kw in call.keywords:
                if kw.arg == 'default_value':
                    return ast.literal_eval(kw.value)
    raise KeyError(name)


def _node_topics():
    """Return the topics the node publishes on (outputs table, LabelInfo, diagnostics)."""
    names = [*outputs.TOPICS, label_info.TOPIC, '/diagnostics']
    return {name if name.startswith('/') else '/' + name for name in names}


def test_every_display_topic_is_published_under_the_launch_defaults():
    assert _launch_default('namespace') == ''
    published = _node_topics() | {_launch_default('image')}
    for display in _displays():
        topic = display.get('Topic', {}).get('Value')
        if topic is not None:
            assert topic in published, f'{display["Name"]}: {topic} is not published'


def test_the_outputs_people_look_at_are_shown():
    shown = {d.get('Topic', {}).get('Value'): d for d in _displays() if d.get('Enabled')}
    for topic, cls in (('/camera/image_raw', 'rviz_default_plugins/Image'),
                       ('/segmentation/overlay', 'rviz_default_plugins/Image'),
                       ('/segmentation/functional_color', 'rviz_default_plugins/Image'),
                       ('/traversability/grid', 'rviz_default_plugins/Map'),
                       ('/traversability/obstacles', 'rviz_default_plugins/PointCloud2'),
                       ('/traversability/dynamic_obstacles', 'rviz_default_plugins/PointCloud2'),
                       ('/traversability/clearing', 'rviz_default_plugins/PointCloud2')):
        assert topic in shown and shown[topic]['Class'] == cls, topic
    # The grid in RViz's map colour scheme: the colours grid_image and the demo pictures use.
    assert shown['/traversability/grid']['Color Scheme'] == 'map'
