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

"""Parameter table: validation messages, bounds, the shipped YAML and the generated doc page."""
import math
from pathlib import Path
import re

import pytest
from seg_ros import traversability
from seg_ros.common import params
from seg_ros.ros import parameters
from seg_ros.ros.parameters import ALL_PARAMETERS, check_value, PARAMETERS, validate
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
    declared.update({name: spec.default for name, spec in traversability.PARAMETERS.items()})
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


def test_one_table_type_and_every_number_bounded():
    """Node and traversability parameters share the Param type; no number lacks a bound."""
    assert all(isinstance(spec, params.Param) for spec in ALL_PARAMETERS.values())
    assert set(traversability.PARAMETERS) <= set(ALL_PARAMETERS)
    assert params.unbounded(ALL_PARAMETERS) == []
    for name, spec in ALL_PARAMETERS.items():
        assert check_value(name, spec.default) is None, name


@pytest.mark.parametrize('name, value, expected', [
    ('grid.x_max', 1e308, 'must be between -1000.0 and 1000.0'),
    ('grid.resolution', 5e-324, 'must be between 0.001 and 100.0'),
    ('grid.resolution', math.inf, 'must be a finite number'),
    ('grid.max_range', math.nan, 'must be a finite number'),
    ('overlay_alpha', -1e308, 'must be between 0.0 and 1.0'),
    ('camera_pose', [0.0, 0.0, 1e308, 0.0, 0.0, 0.0], 'values must each be between'),
    ('camera_pose', [0.0, 0.0, 1.0], 'must hold 6 values'),
    ('sync.tolerance', 1e308, 'must be between 0.0 and 10.0'),
    ('watchdog.timeout', 5e-324, 'must be between 0.1 and 3600.0'),
    ('sync.fallback', 'guess', 'must be one of monocular, none'),
    ('grid.sample_step', 10**30, 'must be between 1 and 64'),
])
def test_extreme_values_refused_before_any_arithmetic(name, value, expected):
    problem = check_value(name, value)
    assert problem is not None and expected in problem and f'"{name}"' in problem
    if name in traversability.PARAMETERS:
        with pytest.raises(ValueError, match=re.escape(expected)):
            traversability.from_parameters({name: value})


def test_grid_cell_count_is_bounded():
    """grid.resolution 0.002 is in range alone, but the 4000 x 4000 grid is refused by name."""
    assert check_value('grid.resolution', 0.002) is None
    with pytest.raises(ValueError) as err:
        traversability.from_parameters({'grid.resolution': 0.002})
    text = str(err.value)
    assert '4000 x 4000' in text and f'{traversability.pipeline.MAX_GRID_CELLS} cells' in text
    assert 'raise grid.resolution or shrink the extent' in text
    # The same resolution over a small extent is fine.
    cfg = traversability.from_parameters({'grid.resolution': 0.002, 'grid.x_max': 1.0,
                                          'grid.y_min': -0.5, 'grid.y_max': 0.5})
    assert cfg.grid.width * cfg.grid.height <= traversability.pipeline.MAX_GRID_CELLS


def test_sync_settings_parsed():
    settings, errors = validate({'sync.equivalent_frames': ' depth_optical, ,ir_optical',
                                 'sync.fallback': 'none', 'sync.tolerance': 0.02})
    assert not errors
    assert settings.equivalent_frames == ('depth_optical', 'ir_optical')
    assert settings.sync_fallback == 'none' and settings.sync_tolerance == 0.02


def test_generated_parameter_page_is_committed():
    """doc/parameters.rst is the tables' text: regenerate with python -m seg_ros.ros.parameters."""
    page = ROOT / 'doc' / 'parameters.rst'
    assert page.is_file(), 'run: python -m seg_ros.ros.parameters'
    assert page.read_text() == parameters.render_doc(), (
        'doc/parameters.rst differs from the parameter tables; regenerate it with '
        '"python -m seg_ros.ros.parameters"')
    text = page.read_text()
    for name in ALL_PARAMETERS:
        assert f'``{name}``' in text


def test_doc_command_check_mode(tmp_path):
    out = tmp_path / 'p.rst'
    assert parameters.main([str(out), '--check']) == 1
    assert parameters.main([str(out)]) == 0
    assert parameters.main([str(out), '--check']) == 0
    out.write_text(out.read_text() + 'edited by hand\n')
    assert parameters.main([str(out), '--check']) == 1


def test_fused_window_cell_count_is_bounded():
    """A 200 m window at 0.001 m was accepted and the next model load died (37 GiB)."""
    small = {'grid.resolution': 0.001, 'grid.x_max': 0.5, 'grid.y_min': -0.25,
             'grid.y_max': 0.25, 'fusion.enabled': True}
    for resolution, side in ((0.001, 200000), (0.05, 4000)):
        with pytest.raises(ValueError) as err:
            traversability.from_parameters({**small, 'grid.resolution': resolution,
                                            'fusion.window_size': 200.0})
        text = str(err.value)
        assert f'{side} x {side} fused grid' in text and 'fusion.window_size' in text
        assert f'{traversability.pipeline.MAX_GRID_CELLS} cells' in text
    # Within the bound (or with fusion off) the same values are taken.
    assert traversability.from_parameters({**small, 'fusion.window_size': 1.0}).fusion.enabled
    traversability.from_parameters({**small, 'fusion.enabled': False,
                                    'fusion.window_size': 200.0})
    cfg = traversability.from_parameters({'fusion.enabled': True, 'fusion.window_size': 50.0})
    assert traversability.fusion.window_cells(50.0, cfg.grid.resolution) ** 2 <= \
        traversability.pipeline.MAX_GRID_CELLS
