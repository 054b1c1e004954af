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
Test-wide environment: an isolated ROS 2 domain, the shared-memory DDS profile, asset paths.

Set before any test imports rclpy, so every node a test starts (in this process or a child)
sees the same settings. Each pytest process takes a ROS_DOMAIN_ID no other seg_ros run on the
machine holds (``seg_ros.ros.dds_env``: a lock file per id, shared with the demo and benchmark), so
parallel runs never see each other's topics.
"""
import os
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
from seg_ros.ros import dds_env

ROOT = Path(__file__).resolve().parents[1]

# Always a domain of our own (never the user's ROS_DOMAIN_ID), held until this process exits.
os.environ.update(dds_env.isolated_env(domain=dds_env.claim_domain()))
os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
os.environ.setdefault('SEG_ROS_ASSETS', str((ROOT.parent / 'shared').resolve()))
# Child processes (the node under test) import this tree, not a stale installed copy.
os.environ['PYTHONPATH'] = os.pathsep.join(
    [str(ROOT)] + [p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p])


@pytest.fixture
def probe(request: pytest.FixtureRequest) -> Iterator[Any]:
    """
    Return a ``node_harness.Probe`` for one test, closed after it.

    A test module may set ``PROBE_TOPICS`` (``(topic, message type)`` pairs the probe records
    from the start) and ``PROBE_NAME``.
    """
    from node_harness import Probe

    p = Probe(getattr(request.module, 'PROBE_NAME', 'seg_ros_probe'))
    try:
        for topic, msg_type in getattr(request.module, 'PROBE_TOPICS', ()):
            p.subscribe(msg_type, topic)
        yield p
    finally:
        p.close()


@pytest.fixture(scope='session')
def assets() -> Path:
    """Return the shared models and data (``$SEG_ROS_ASSETS``, by default ``../shared``)."""
    path = Path(os.environ['SEG_ROS_ASSETS'])
    if not (path / 'models').is_dir():
        pytest.skip(f'assets not found at {path}; set SEG_ROS_ASSETS to the shared/ folder')
    return path


@pytest.fixture(scope='session')
def trt_ops_table() -> Path:
    """
    Return the TensorRT 10 parser table (``$SEG_ROS_ASSETS/tensorrt10_onnx_ops.json``).

    ``seg-ros build-engine --check`` reads it from there; it is the only asset those tests need.
    """
    path = Path(os.environ['SEG_ROS_ASSETS']) / 'tensorrt10_onnx_ops.json'
    if not path.is_file():
        pytest.skip(f'no TensorRT operator table at {path}; set SEG_ROS_ASSETS to the shared/ '
                    'folder')
    return path


@pytest.fixture(scope='session')
def camvid_val(assets: Path) -> tuple[Path, Path]:
    """Return the CamVid val frame folder and its label-map folder."""
    return assets / 'data' / 'camvid' / 'val', assets / 'data' / 'camvid' / 'valannot'


def _torch_missing() -> bool:
    import importlib.util

    return importlib.util.find_spec('torch') is None


@pytest.fixture(scope='session')
def zoo_export(request: pytest.FixtureRequest) -> Callable[..., str]:
    """
    Return ``export(name, **options)``: a zoo model exported once, kept in pytest's cache.

    Skips only where exporting cannot run here: PyTorch is not installed and no export is
    cached. Any other ``ExportError`` (a real export bug) fails the test that asked.
    """
    from seg_ros.zoo.export import cached_export, ExportError

    cache = getattr(request.config, 'cache', None)  # absent with -p no:cacheprovider
    folder = (cache.mkdir('seg_ros_onnx') if cache is not None
              else request.getfixturevalue('tmp_path_factory').mktemp('seg_ros_onnx'))

    def export(name: str, **options: object) -> str:
        try:
            return cached_export(name, folder, **options)  # type: ignore[arg-type]
        except ExportError as exc:
            if _torch_missing():   # nothing cached (it would have been returned) and no torch
                pytest.skip(f'cannot export {name} without PyTorch: {exc}')
            raise

    return export


@pytest.fixture(scope='session')
def camvid_onnx(zoo_export: Callable[..., str], assets: Path) -> str:
    """Return the path of ``espnet_camvid`` in the seg_ros contract (network 480x360)."""
    return zoo_export('espnet_camvid')


@pytest.fixture(scope='session')
def camvid_onnx_confidence(zoo_export: Callable[..., str], assets: Path) -> str:
    """Return ``espnet_camvid`` exported with the optional ``confidence`` output."""
    return zoo_export('espnet_camvid', confidence=True)


@pytest.fixture(scope='session')
def cityscapes_onnx(zoo_export: Callable[..., str], assets: Path) -> str:
    """Return the path of ``espnet_cityscapes`` in the seg_ros contract (network 1024x512)."""
    return zoo_export('espnet_cityscapes')
