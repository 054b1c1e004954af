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
The node's parameters: one table of names, defaults, descriptions and checks.

The node declares exactly this table (so ``ros2 param describe`` shows the descriptions), the
launch-file test checks ``config/segmentation.yaml`` against it, and :func:`validate` turns raw
values into a typed :class:`Settings` or a list of messages naming each bad value and its valid
range. No ROS imports here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional

from seg_ros.inference.backend import BackendOptions, BACKENDS

Check = Callable[[Any], Optional[str]]   # returns an error text, or None when the value is fine


def _one_of(*choices: str) -> Check:
    return lambda v: None if v in choices else f'must be one of {", ".join(choices)}'


def _between(lo: float, hi: float) -> Check:
    return lambda v: None if lo <= v <= hi else f'must be between {lo} and {hi}'


def _at_least(lo: float) -> Check:
    return lambda v: None if v >= lo else f'must be at least {lo}'


@dataclass(frozen=True)
class Param:
    """One parameter: its default (which fixes its type), what it does, and its check."""

    default: Any
    description: str
    check: Optional[Check] = None
    reload_model: bool = False     # changing it at run time reloads the model
    read_only: bool = False        # only read at start-up (subscriptions, QoS)


PARAMETERS: dict[str, Param] = {
    'autostart': Param(True, 'Configure and activate at start-up (ros2 run / ros2 launch without '
                       'a lifecycle manager); false: wait for lifecycle transitions.',
                       read_only=True),
    'model_path': Param('', 'Model file (.onnx in the seg_ros contract; .engine for tensorrt).',
                        reload_model=True),
    'backend': Param('onnxruntime', f'Inference runtime: {" | ".join(BACKENDS)}.',
                     _one_of(*BACKENDS), reload_model=True),
    'device': Param('cpu', 'cpu | cuda (onnxruntime-gpu CUDA/TensorRT providers).',
                    _one_of('cpu', 'cuda'), reload_model=True),
    'device_id': Param(0, 'GPU index for cuda / tensorrt.', _at_least(0), reload_model=True),
    'threads': Param(0, 'CPU intra-op threads (0 = runtime default).', _between(0, 256),
                     reload_model=True),
    'fp16': Param(True, 'Half precision for TensorRT (backend or ORT provider).',
                  reload_model=True),
    'engine_cache_dir': Param('', 'Where built TensorRT engines are cached ("" = beside the '
                              'model).', reload_model=True),
    'dla_core': Param(-1, 'Jetson Orin DLA core for TensorRT (layers it lacks fall back to the '
                      'GPU); -1 = GPU only.', _between(-1, 7), reload_model=True),
    'input_transport': Param('raw', 'raw: sensor_msgs/Image on "image"; compressed: '
                             'sensor_msgs/CompressedImage on "image/compressed".',
                             _one_of('raw', 'compressed'), read_only=True),
    'overlay_alpha': Param(0.5, 'Weight of the class colours in the overlay (0..1).',
                           _between(0.0, 1.0)),
    'publish_confidence': Param(True, 'Publish segmentation/confidence (mono8, 0..255) when '
                                'the model has a confidence output and someone subscribes; '
                                'false skips its computation (about 13% of an ESPNet frame).',
                                reload_model=True),
    'diagnostics_period': Param(1.0, 'Seconds between /diagnostics messages.',
                                _between(0.05, 60.0), read_only=True),
    'qos.reliability': Param('best_effort', 'Image subscription reliability: best_effort '
                             '(sensor data) | reliable.', _one_of('best_effort', 'reliable'),
                             read_only=True),
    'qos.depth': Param(1, 'Image subscription queue depth (1 keeps latency bounded).',
                       _between(1, 100), read_only=True),
    'tf_tolerance': Param(0.1, 'Seconds the newest TF transform of the camera may be away '
                          "from the image's stamp when TF has none at the stamp itself; "
                          'beyond it the camera_pose parameter is used (and reported).',
                          _between(0.0, 10.0)),
}


@dataclass(frozen=True)
class Settings:
    """Validated parameter values, typed."""

    model_path: str
    backend: str
    backend_options: BackendOptions
    input_transport: str
    overlay_alpha: float
    publish_confidence: bool
    diagnostics_period: float
    qos_reliability: str
    qos_depth: int
    tf_tolerance: float
    autostart: bool = True


def _type_ok(default: Any, value: Any) -> bool:
    """Match the default's type; ints are fine for floats, but bools are never numbers."""
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float))
    return isinstance(value, type(default))


def check_value(name: str, value: Any, table: Mapping[str, Param] = PARAMETERS) -> Optional[str]:
    """Return an error message for one value (type or range), or None."""
    spec = table[name]
    default = spec.default
    ok_type = _type_ok(default, value)
    if not ok_type:
        return (f'parameter "{name}" = {value!r} has the wrong type: expected '
                f'{type(default).__name__} (e.g. {default!r}). {spec.description}')
    if spec.check is not None:
        problem = spec.check(value)
        if problem:
            return f'parameter "{name}" = {value!r} {problem}. {spec.description}'
    return None


def validate(values: Mapping[str, Any]) -> tuple[Settings, list[str]]:
    """
    Check every value; bad ones are reported and replaced by their default.

    The node keeps running with defaults rather than exiting, so a typo in one parameter does
    not take the robot's perception down; the messages go to the log and to /diagnostics.
    """
    errors = []
    good: dict[str, Any] = {}
    for name, spec in PARAMETERS.items():
        value = values.get(name, spec.default)
        problem = check_value(name, value)
        if problem:
            errors.append(problem + f' Using the default {spec.default!r}.')
            value = spec.default
        good[name] = float(value) if isinstance(spec.default, float) else value
    options = BackendOptions(threads=good['threads'], device=good['device'],
                             device_id=good['device_id'], fp16=good['fp16'],
                             engine_cache_dir=good['engine_cache_dir'],
                             dla_core=good['dla_core'],
                             # Skip fetching the float confidence map unless it is published.
                             confidence=good['publish_confidence'])
    settings = Settings(
        model_path=good['model_path'], backend=good['backend'], backend_options=options,
        input_transport=good['input_transport'], overlay_alpha=good['overlay_alpha'],
        publish_confidence=good['publish_confidence'],
        diagnostics_period=good['diagnostics_period'],
        qos_reliability=good['qos.reliability'], qos_depth=good['qos.depth'],
        tf_tolerance=good['tf_tolerance'], autostart=good['autostart'])
    return settings, errors
