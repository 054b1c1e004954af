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
The parameter table as ROS ``ParameterDescriptor`` s: description, read-only flag and range.

A bounded number is described with a real ``FloatingPointRange`` (step 0.0: any value in
between) or ``IntegerRange`` (step 1), so ``ros2 param describe`` and rqt_reconfigure show the
range and size their sliders; the range text stays in ``additional_constraints`` for lists and
choices, which have no range field.

The node *stores* the descriptor without the range (:func:`declared`) and *describes* it with
the range (:func:`described`). rclpy enforces a stored range itself, before the node's own
check and with its own wording, and refuses an out-of-range override at declaration; the node's
check (:func:`seg_ros.ros.parameters.check_value`, the same bounds from the same table) gives
every violation one message naming the parameter, its value, the range and what it does, at
start-up and through ``ros2 param set`` alike, and a bad start-up value keeps its documented
effect (default kept, or traversability off until fixed).
"""
from __future__ import annotations

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from seg_ros.common.params import Param


def declared(spec: Param) -> ParameterDescriptor:
    """Return the descriptor the node declares: description, read-only, range as text."""
    return ParameterDescriptor(description=spec.description, read_only=spec.read_only,
                               additional_constraints=spec.range_text())


def described(stored: ParameterDescriptor, spec: Param) -> ParameterDescriptor:
    """Return ``stored`` (rclpy's, with name and type) plus the range of a bounded number."""
    out = ParameterDescriptor(
        name=stored.name, type=stored.type, description=stored.description,
        additional_constraints=stored.additional_constraints, read_only=stored.read_only,
        dynamic_typing=stored.dynamic_typing)
    default, lo, hi = spec.default, spec.minimum, spec.maximum
    if lo is None or hi is None or isinstance(default, bool):
        return out
    if isinstance(default, float):
        out.floating_point_range = [FloatingPointRange(from_value=float(lo), to_value=float(hi),
                                                       step=0.0)]
    elif isinstance(default, int):
        out.integer_range = [IntegerRange(from_value=int(lo), to_value=int(hi), step=1)]
    return out
