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

"""Parameter table: validation messages, fallbacks, and the shipped YAML against the table."""
from pathlib import Path

import pytest
from seg_ros import traversability
from seg_ros.ros.parameters import check_value, PARAMETERS, validate
import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_defaults_are_valid():
    settings, errors = validate({})
    assert errors == []
    assert settings.backend == 'onnxruntime' and settings.qos_depth == 1
    assert settings.qos_reliability == 'best_effort'


@pytest.mark.parametrize('name, value, expected', [
    ('overlay_alpha', 1.5, 'must be between 0.0 and 1.0'),
    ('backend', 'tflite', 'must be one of onnxruntime, tensorrt'),
    ('qos.depth', 0, 'must be between 1 and 100'),
    ('qos.reliability', 'sometimes', 'must be one of best_effort, reliable'),
    ('input_transport', 'theora', 'must be one of raw, compressed'),
    ('threads', -2, 'must be between 0 and 256'),
    ('device', 'tpu', 'must be one of cpu, cuda'),
    ('overlay_alpha', 'half', 'wrong type: expected float'),
    ('publish_confidence', 1, 'wrong type: expected bool'),
    ('qos.depth', 2.5, 'wrong type: expected int'),
])
def test_bad_values_are_named_and_replaced(name, value, expected):
    assert expected in check_value(name, value)
    settings, errors = validate({name: value})
    assert len(errors) == 1
    assert f'"{name}"' in errors[0] and expected in errors[0] and 'Using the default' in errors[0]


def test_ints_accepted_for_floats():
    assert check_value('overlay_alpha', 1) is None
    settings, _ = validate({'overlay_alpha': 1})
    assert settings.overlay_alpha == 1.0 and isinstance(settings.overlay_alpha, float)


def test_backend_options_follow_parameters():
    settings, errors = validate({'threads': 2, 'device': 'cuda', 'fp16': False,
                                 'engine_cache_dir': '/tmp/x'})
    assert not errors
    opts = settings.backend_options
    assert (opts.threads, opts.device, opts.fp16) == (2, 'cuda', False)
    assert opts.engine_cache_dir == '/tmp/x'


def _flatten(d, prefix=''):
    for key, value in d.items():
        if isinstance(value, dict):
            yield from _flatten(value, prefix + key + '.')
        else:
            yield prefix + key, value


def test_shipped_params_file_matches_tables():
    """Every key of config/segmentation.yaml is a declared parameter, at its default value."""
    doc = yaml.safe_load((ROOT / 'config' / 'segmentation.yaml').read_text())
    assert list(doc) == ['/**']   # any namespace and node name
    params = dict(_flatten(doc['/**']['ros__parameters']))
    declared = {name: spec.default for name, spec in PARAMETERS.items()}
    declared.update({name: default for name, (default, _) in traversability.PARAMETERS.items()})
    unknown = set(params) - set(declared)
    assert not unknown, f'params file sets parameters the node does not declare: {unknown}'
    missing = set(declared) - set(params)
    assert not missing, f'params file lacks {missing}'
    for name, value in params.items():
        if name in PARAMETERS:
            assert check_value(name, value) is None, name
        assert value == declared[name], f'{name}: file and table defaults differ'
    traversability.from_parameters({k: v for k, v in params.items()
                                    if k in traversability.PARAMETERS})
