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
The topic tables in README, doc/node.md and doc/traversability.md against the running node.

The node is asked, over ROS, which publishers and subscriptions it created (with every
optional input and output switched on), so a topic added to the code without a line in the
tables, or a line left behind after a topic went, fails here. Not parsed from the source: the
node's code may be split or renamed without touching this test.
"""
import importlib.util
from pathlib import Path
import re
import time

from node_harness import NodeProcess, Probe
import pytest
from seg_ros.testing.synthetic import save_passthrough

ROOT = Path(__file__).resolve().parents[1]
# Every node has these (rcl's parameter events and log, the lifecycle's transition events).
INFRASTRUCTURE = {'/parameter_events', '/rosout'}
HAVE_VISION_MSGS = importlib.util.find_spec('vision_msgs') is not None
HAVE_TF2_ROS = importlib.util.find_spec('tf2_ros') is not None


def _table_topics(path: Path) -> dict[str, bool]:
    """Return ``{topic: is_input}`` from the rows of the file's topic tables."""
    topics = {}
    for line in path.read_text().splitlines():
        if not line.startswith('| `'):
            continue
        cell = line.split('|')[1]
        names, is_in = cell.partition(' (in')[0], ' (in' in cell
        for name in re.findall(r'`([^`]+)`', names):
            if '/' in name or is_in:
                topics[name.lstrip('/')] = is_in
    return topics


def _endpoints(probe: Probe, name: str, ns: str = '/') -> tuple[set[str], set[str]]:
    """Return the publishers and subscriptions of node ``name`` once they settle."""
    def query() -> tuple[set[str], set[str]]:
        node = probe.node
        pubs = node.get_publisher_names_and_types_by_node(name, ns)
        subs = node.get_subscriber_names_and_types_by_node(name, ns)
        strip = (lambda t: t[len(ns):] if ns != '/' and t.startswith(ns + '/') else t)
        keep = (lambda t: t not in INFRASTRUCTURE and not t.startswith(f'/{name}/'))
        return ({strip(t).lstrip('/') for t, _ in pubs if keep(t)},
                {strip(t).lstrip('/') for t, _ in subs if keep(t)})

    last: tuple[set[str], set[str]] = (set(), set())
    stable_since = time.monotonic()
    end = time.monotonic() + 30
    while time.monotonic() < end:
        try:
            now = query()
        except Exception:  # not discovered yet (NodeNameNonExistentError)
            now = (set(), set())
        if now != last:
            last, stable_since = now, time.monotonic()
        elif 'segmentation/labels' in now[0] and time.monotonic() - stable_since > 1.5:
            return now
        time.sleep(0.2)
    raise AssertionError(f'node {name} never settled; last seen publishers {sorted(last[0])}, '
                         f'subscriptions {sorted(last[1])}')


@pytest.fixture(scope='module')
def node_topics(tmp_path_factory: pytest.TempPathFactory) -> tuple[set[str], set[str]]:
    """Return the outputs and inputs of two nodes: every option on, and compressed input."""
    model = save_passthrough(str(tmp_path_factory.mktemp('topics') / 'm.onnx'),
                             ['road', 'wall', 'person'])
    everything = {'model_path': model, 'fusion.enabled': True, 'depth.enabled': True,
                  'publish_confidence': True}
    probe = Probe('seg_ros_topic_probe')
    nodes = [NodeProcess(everything, {'__node': 'topics_raw'}),
             NodeProcess({**everything, 'input_transport': 'compressed'},
                         {'__node': 'topics_compressed'})]
    try:
        pubs, subs = _endpoints(probe, 'topics_raw')
        pubs2, subs2 = _endpoints(probe, 'topics_compressed')
    finally:
        for n in nodes:
            n.close()
        probe.close()
    return pubs | pubs2, subs | subs2


@pytest.mark.parametrize('page', ['README.md', 'doc/node.md'])
def test_topic_table_lists_every_topic_the_node_creates(page, node_topics):
    pubs, subs = node_topics
    table = _table_topics(ROOT / page)
    documented_out = {t for t, is_in in table.items() if not is_in}
    documented_in = {t for t, is_in in table.items() if is_in}
    if not HAVE_VISION_MSGS:   # the node publishes label_info only where vision_msgs exists
        documented_out.discard('segmentation/label_info')
    if not HAVE_TF2_ROS:       # nor listens to TF
        documented_in -= {'tf', 'tf_static'}
    assert pubs - documented_out == set(), f'{page}: add these outputs to the topic table'
    assert documented_out - pubs == set(), f'{page}: the node has no such outputs'
    assert subs - documented_in == set(), f'{page}: add these inputs, marked "(in)"'
    assert documented_in - subs == set(), f'{page}: the node has no such inputs'


def test_traversability_page_lists_every_traversability_output(node_topics):
    pubs, _ = node_topics
    page = 'doc/traversability.md'
    documented = set(_table_topics(ROOT / page))
    wanted = {t for t in pubs
              if t.startswith('traversability/') or t.startswith('segmentation/functional')}
    assert wanted - documented == set(), f'{page}: add these outputs to the topic table'
    assert documented - pubs == set(), f'{page}: the node has no such outputs'
