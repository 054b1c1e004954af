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
launch_testing: ``namespace:=robot1`` with a params file; its values reach the node.

rcl applies a params file's section only to the nodes its key matches. The shipped
``config/segmentation.yaml`` is keyed ``/**`` so that it applies to
``/robot1/segmentation_node`` as well (a plain ``segmentation_node:`` key matches only
``/segmentation_node``, and the values would be silently ignored). This launches the installed
launch file from a colcon install space with ``namespace:=robot1`` and a copy of the shipped
params file, keeping its top key, with values that differ from the defaults, then reads them
back from the running node over its parameter service.
"""
import os
import tempfile
import time

import colcon_ws
import pytest
from rcl_interfaces.srv import GetParameters
import rclpy
from seg_ros.testing.synthetic import save_passthrough
import yaml

pytestmark = pytest.mark.skipif(not colcon_ws.HAVE_LAUNCH_TESTING,
                                reason='launch_testing is not installed')
TMP = tempfile.mkdtemp(prefix='seg_ros_launch_ns_')
MODEL = os.path.join(TMP, 'passthrough.onnx')
PARAMS = os.path.join(TMP, 'robot1.yaml')
CHANGED = {'overlay_alpha': 0.25, 'diagnostics_period': 0.5, 'taxonomy': 'camvid',
           'grid.max_range': 6.5, 'tf_tolerance': 0.3}


def _write_params(shipped):
    doc = yaml.safe_load(open(shipped).read())
    (key,) = doc
    params = doc[key]['ros__parameters']
    for dotted, value in CHANGED.items():
        node = params
        *parents, leaf = dotted.split('.')
        for p in parents:
            node = node[p]
        assert leaf in node, dotted
        node[leaf] = value
    params['model_path'] = MODEL
    with open(PARAMS, 'w') as f:
        yaml.safe_dump(doc, f)
    return key


@colcon_ws.launch_test
def generate_test_description():
    save_passthrough(MODEL, ['ground', 'thing', 'other'])
    share = colcon_ws.installed_share()
    key = _write_params(os.path.join(share, 'config', 'segmentation.yaml'))
    assert key == '/**', key
    return colcon_ws.segmentation_launch(namespace='robot1', params_file=PARAMS)


class TestNamespacedParams(colcon_ws.NodeTestCase):

    node_name = 'seg_ros_launch_ns_probe'

    def test_params_file_values_reach_the_namespaced_node(self, proc_output):
        proc_output.assertWaitFor(f'loaded {MODEL}', timeout=30)
        client = self.node.create_client(GetParameters,
                                         '/robot1/segmentation_node/get_parameters')
        self.assertTrue(client.wait_for_service(timeout_sec=20),
                        'no /robot1/segmentation_node')
        names = list(CHANGED) + ['model_path']
        future = client.call_async(GetParameters.Request(names=names))
        end = time.time() + 20
        while not future.done() and time.time() < end:
            rclpy.spin_once(self.node, timeout_sec=0.1)
        values = future.result().values
        got = {}
        for name, v in zip(names, values):
            got[name] = {1: v.bool_value, 2: v.integer_value, 3: v.double_value,
                         4: v.string_value}.get(v.type)
        self.assertEqual(got, {**CHANGED, 'model_path': MODEL})
