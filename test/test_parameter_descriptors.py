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
The node's parameter descriptors as tools read them: over the real /describe_parameters service.

``ros2 param describe`` and rqt_reconfigure call that service; a bounded number must come back
with a real range (rclpy's rules: from, to and step; step 0.0 for a continuous double, 1 for
an integer, the default on a step), the rest with their description and range text. The
node's own check still refuses a value out of range, with its one message.
"""
from __future__ import annotations

from node_harness import call_service, NodeProcess, Probe, set_parameter
import pytest
from rcl_interfaces.msg import ParameterType
from rcl_interfaces.srv import DescribeParameters
from seg_ros.ros.parameters import ALL_PARAMETERS

NODE = '/segmentation_node'


@pytest.fixture(scope='module')
def described():
    """Return {name: descriptor} of every table parameter, read from a running node."""
    probe = Probe('seg_ros_describe_probe')
    try:
        with NodeProcess({'autostart': False}):
            response = call_service(probe, DescribeParameters, f'{NODE}/describe_parameters',
                                    DescribeParameters.Request(names=list(ALL_PARAMETERS)),
                                    retry=True)
            refused = set_parameter(probe, 'overlay_alpha', 2.0)
            accepted = set_parameter(probe, 'overlay_alpha', 0.25)
            yield ({d.name: d for d in response.descriptors}, refused, accepted)
    finally:
        probe.close()


def test_every_parameter_is_described(described):
    descriptors, _, _ = described
    assert sorted(descriptors) == sorted(ALL_PARAMETERS)
    for name, spec in ALL_PARAMETERS.items():
        d = descriptors[name]
        assert d.description == spec.description, name
        assert d.read_only == spec.read_only, name
        assert d.additional_constraints == spec.range_text(), name


def test_bounded_numbers_carry_a_real_range(described):
    descriptors, _, _ = described
    for name, spec in ALL_PARAMETERS.items():
        d = descriptors[name]
        default = spec.default
        scalar = isinstance(default, (int, float)) and not isinstance(default, bool)
        if not scalar or spec.minimum is None or spec.maximum is None:
            assert not d.floating_point_range and not d.integer_range, name
            continue
        if isinstance(default, float):
            assert d.type == ParameterType.PARAMETER_DOUBLE and not d.integer_range, name
            (r,) = d.floating_point_range
            assert (r.from_value, r.to_value, r.step) == (spec.minimum, spec.maximum, 0.0), name
        else:
            assert d.type == ParameterType.PARAMETER_INTEGER and not d.floating_point_range, name
            (r,) = d.integer_range
            assert (r.from_value, r.to_value, r.step) == (spec.minimum, spec.maximum, 1), name
            assert (default - r.from_value) % r.step == 0, name
        assert r.from_value <= default <= r.to_value, name


def test_some_ranges_by_hand(described):
    """A few written out, so a table and a descriptor that both go wrong do not agree."""
    descriptors, _, _ = described
    alpha = descriptors['overlay_alpha'].floating_point_range[0]
    assert (alpha.from_value, alpha.to_value, alpha.step) == (0.0, 1.0, 0.0)
    depth = descriptors['qos.depth'].integer_range[0]
    assert (depth.from_value, depth.to_value, depth.step) == (1, 100, 1)
    dla = descriptors['dla_core'].integer_range[0]
    assert (dla.from_value, dla.to_value, dla.step) == (-1, 7, 1)
    assert not descriptors['camera_pose'].floating_point_range     # a list: text only
    assert not descriptors['model_path'].floating_point_range


def test_out_of_range_is_refused_with_the_nodes_own_message(described):
    _, refused, accepted = described
    assert not refused.successful
    assert 'parameter "overlay_alpha" = 2.0 must be between 0.0 and 1.0' in refused.reason
    assert accepted.successful
