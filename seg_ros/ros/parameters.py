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
The node's parameters: one table of names, defaults, descriptions, bounds and checks.

The node declares exactly these tables (so ``ros2 param describe`` shows the descriptions):
``PARAMETERS`` (segmentation, inference, QoS, stream matching, watchdog) and
``seg_ros.traversability.PARAMETERS``, both of the one table type
:class:`seg_ros.common.params.Param`; ``ALL_PARAMETERS`` joins them. The launch-file test
checks ``config/segmentation.yaml`` against them, :func:`validate` turns raw values into a
typed :class:`Settings` or a list of messages naming each bad value and its valid range, and
``python -m seg_ros.ros.parameters`` writes ``doc/parameters.rst`` from them (a test fails when
the committed page differs). No ROS imports here.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
import sys
from typing import Any, Iterable, Mapping, Optional, Sequence

from seg_ros.common import params as _params
from seg_ros.common.params import Check, Param
from seg_ros.inference.backend import BackendOptions, BACKENDS
from seg_ros.traversability.pipeline import from_parameters as traversability_config
from seg_ros.traversability.pipeline import MAX_GRID_CELLS
from seg_ros.traversability.pipeline import PARAMETERS as TRAVERSABILITY_PARAMETERS

__all__ = ['ALL_PARAMETERS', 'Check', 'check_value', 'Param', 'PARAMETERS', 'reloads_model',
           'Settings', 'validate', 'render_doc']

PARAMETERS: dict[str, Param] = {
    'autostart': Param(True, 'Configure and activate at start-up (ros2 run / ros2 launch without '
                       'a lifecycle manager); false: wait for lifecycle transitions.',
                       read_only=True),
    'model_path': Param('', 'Model file (.onnx in the seg_ros contract; .engine for tensorrt).',
                        reload_model=True),
    'backend': Param('onnxruntime', f'Inference runtime: {" | ".join(BACKENDS)}.',
                     choices=tuple(BACKENDS), reload_model=True),
    'device': Param('cpu', 'cpu | cuda (onnxruntime-gpu CUDA/TensorRT providers).',
                    choices=('cpu', 'cuda'), reload_model=True),
    'device_id': Param(0, 'GPU index for cuda / tensorrt.', minimum=0, maximum=63,
                       reload_model=True),
    'threads': Param(0, 'CPU intra-op threads (0 = runtime default).', minimum=0, maximum=256,
                     reload_model=True),
    'fp16': Param(True, 'Half precision for TensorRT (backend or ORT provider).',
                  reload_model=True),
    'engine_cache_dir': Param('', 'Where built TensorRT engines are cached ("" = beside the '
                              'model).', reload_model=True),
    'dla_core': Param(-1, 'Jetson Orin DLA core for TensorRT (layers it lacks fall back to the '
                      'GPU); -1 = GPU only.', minimum=-1, maximum=7, reload_model=True),
    'input_transport': Param('raw', 'raw: sensor_msgs/Image on "image"; compressed: '
                             'sensor_msgs/CompressedImage on "image/compressed".',
                             choices=('raw', 'compressed'), read_only=True),
    'overlay_alpha': Param(0.5, 'Weight of the class colours in the overlay (0..1).',
                           minimum=0.0, maximum=1.0),
    'publish_confidence': Param(True, 'Publish segmentation/confidence (mono8, 0..255) when '
                                'the model has a confidence output and someone subscribes; '
                                'false skips its computation (about 13% of an ESPNet frame).',
                                reload_model=True),
    'diagnostics_period': Param(1.0, 'Seconds between /diagnostics messages.',
                                minimum=0.05, maximum=60.0, read_only=True),
    'qos.reliability': Param('best_effort', 'Image subscription reliability: best_effort '
                             '(sensor data) | reliable.', choices=('best_effort', 'reliable'),
                             read_only=True),
    'qos.depth': Param(1, 'Image subscription queue depth (1 keeps latency bounded).',
                       minimum=1, maximum=100, read_only=True),
    'sync.tolerance': Param(0.05, 'Depth belongs to a frame only when its stamp is within this '
                            'many seconds of the image stamp (the nearest of the last few '
                            'depth images is taken).', minimum=0.0, maximum=10.0),
    'sync.max_age': Param(1.0, 'camera_info stamped more than this many seconds from the image '
                          'no longer describes the camera (the stream stopped or uses another '
                          'clock): no grid, and a WARN.', minimum=0.01, maximum=3600.0),
    'sync.equivalent_frames': Param('', "Comma-separated frame ids that count as the image's "
                                    'frame for depth and camera_info (e.g. a registered depth '
                                    'stream that keeps its own frame id).'),
    'sync.fallback': Param('monocular', 'When depth.enabled and no matching depth: monocular '
                           '(ground-plane projection for that frame) | none (no grid).',
                           choices=('monocular', 'none')),
    'watchdog.timeout': Param(10.0, 'ERROR on /diagnostics when the worker thread is dead or '
                              'has been on one frame longer than this many seconds.',
                              minimum=0.1, maximum=3600.0),
    'input_timeout': Param(3.0, 'Seconds without a publisher on the input topic, or with one '
                           'but without frames, before /diagnostics says so.',
                           minimum=0.1, maximum=3600.0, read_only=True),
    'tf_tolerance': Param(0.1, 'Seconds the newest TF transform of the camera may be away '
                          "from the image's stamp when TF has none at the stamp itself; "
                          'beyond it the camera_pose parameter is used (and reported).',
                          minimum=0.0, maximum=10.0),
}

ALL_PARAMETERS: dict[str, Param] = {**PARAMETERS, **TRAVERSABILITY_PARAMETERS}


def reloads_model(names: Iterable[str]) -> bool:
    """Whether changing any of ``names`` at run time reloads the model (``reload_model``)."""
    return any(ALL_PARAMETERS[n].reload_model for n in names if n in ALL_PARAMETERS)


def check_value(name: str, value: Any,
                table: Mapping[str, Param] = ALL_PARAMETERS) -> Optional[str]:
    """Return an error message for one value (type, bounds, choices), or None."""
    return _params.check_value(name, value, table)


def refusal(changed: Mapping[str, Any], traversability: Mapping[str, Any]) -> Optional[str]:
    """
    Return the one message refusing a parameter request, or None to accept it.

    ``changed`` maps the requested names to their values; ``traversability`` is the
    traversability parameters as they would be after the request: each value must pass on its
    own (type, bounds, choices), and a traversability value also in combination with the rest
    (extent, cell counts, heights in order), so the node never takes a set it cannot build.
    """
    for name, value in changed.items():
        if name in ALL_PARAMETERS:
            problem = check_value(name, value)
            if problem:
                return problem
    if any(name in TRAVERSABILITY_PARAMETERS for name in changed):
        try:
            traversability_config(dict(traversability))
        except ValueError as exc:
            return str(exc)
    return None


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
    sync_tolerance: float
    sync_max_age: float
    equivalent_frames: tuple[str, ...]
    sync_fallback: str
    watchdog_timeout: float
    input_timeout: float
    autostart: bool = True


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
        problem = check_value(name, value, PARAMETERS)
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
        tf_tolerance=good['tf_tolerance'],
        sync_tolerance=good['sync.tolerance'], sync_max_age=good['sync.max_age'],
        equivalent_frames=tuple(f.strip() for f in good['sync.equivalent_frames'].split(',')
                                if f.strip()),
        sync_fallback=good['sync.fallback'], watchdog_timeout=good['watchdog.timeout'],
        input_timeout=good['input_timeout'], autostart=good['autostart'])
    return settings, errors


DOC_TITLE = 'Parameters'
DOC_INTRO = f"""
Generated from the parameter tables in the code (``seg_ros.ros.parameters`` and
``seg_ros.traversability.pipeline``) by ``python -m seg_ros.ros.parameters``; do not edit by
hand (``test/test_parameters.py`` fails when this page and the tables differ).

Every parameter is checked before the node uses it: a value of the wrong type, outside its
range or not among its choices is reported as an ERROR on ``/diagnostics`` (and the default
kept) at start-up, and refused with the same message by ``ros2 param set``. The traversability
parameters are also checked together (a non-empty extent, at most {MAX_GRID_CELLS} grid
cells, as many in the fused window when fusion is enabled, obstacle heights in order); a bad
combination turns traversability off until it is fixed.
"""


def render_doc() -> str:
    """Return the text of ``doc/parameters.rst``."""
    return _params.render_rst([('Segmentation, inference and streams', PARAMETERS),
                               ('Traversability', TRAVERSABILITY_PARAMETERS)],
                              DOC_TITLE, DOC_INTRO)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Write (or with ``--check``, compare) the generated parameter page."""
    parser = argparse.ArgumentParser(description='Write doc/parameters.rst from the tables.')
    parser.add_argument('output', nargs='?',
                        default=str(Path(__file__).resolve().parents[2] / 'doc' /
                                    'parameters.rst'))
    parser.add_argument('--check', action='store_true',
                        help='exit 1 when the file differs from the tables instead of writing')
    args = parser.parse_args(argv)
    text = render_doc()
    out = Path(args.output)
    if args.check:
        same = out.is_file() and out.read_text() == text
        print(f'{out}: {"up to date" if same else "differs from the tables; regenerate"}')
        return 0 if same else 1
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(f'wrote {out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
