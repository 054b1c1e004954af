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
The TensorRT backend: sizing, engine selection and errors everywhere; the real engine on a GPU.

TensorRT and a GPU are absent on CI, so the TensorRT calls are covered by mypy against the stubs
(test_mypy.py) and by ``test_real_engine_*``, which run only where ``tensorrt`` really imports
and a CUDA device exists. Everything that decides *what* to run is plain Python, tested here.
"""
import os
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto
import pytest

from seg_ros.inference import contract
from seg_ros.inference.backend import BackendError, BackendOptions
from seg_ros.inference.loader import create_backend
from seg_ros.inference.onnxruntime_backend import _providers
from seg_ros.inference.tensorrt import engine_cache as ec
from seg_ros.inference.tensorrt.backend import buffers_to_grow, resolve_engine, tensor_nbytes
from seg_ros.inference.tensorrt.engine_builder import (calibration_batches, EngineBuildError,
                                                       list_images)
from seg_ros.tools import cli
import trt_doubles

ORIN = ec.Platform('10.3.0', 'Orin', '8.7')
CLASSES = [f'c{i}' for i in range(5)]


def _has_tensorrt() -> bool:
    try:
        import tensorrt
    except ImportError:
        return False
    return hasattr(tensorrt, 'Builder')


def _has_gpu() -> bool:
    from seg_ros.inference.tensorrt import cuda_api

    try:
        driver = cuda_api.open_driver(0)   # cuda-python first, pycuda second
        with driver.current():
            driver.device_info()
        driver.release()
        return True
    except Exception:  # no binding, no driver, or no device
        return False


def _strongly_typed_only() -> bool:
    """Return True where the installed TensorRT has no FP16/INT8 builder flags (11.x)."""
    from seg_ros.inference.tensorrt import trt_api

    import tensorrt
    return trt_api.strongly_typed_only(tensorrt)


HAS_TRT = _has_tensorrt()
needs_gpu = pytest.mark.skipif(not (HAS_TRT and _has_gpu()),
                               reason='needs TensorRT, cuda-python or pycuda, and a GPU')
TRT_11 = HAS_TRT and _strongly_typed_only()


def trt_passthrough(path: Path, with_confidence: bool = True) -> str:
    """
    Write a contract model TensorRT can parse: labels = R channel, Cast first and last.

    Unlike seg_ros.testing.synthetic.passthrough_model (confidence 1.0 everywhere), its
    confidence is red / 4, so a test can tell that confidence really comes through the runtime.
    """
    nodes = [helper.make_node('Cast', ['image'], ['i32'], to=TensorProto.INT32),
             helper.make_node('Gather', ['i32', 'zero'], ['red'], axis=3),
             helper.make_node('Cast', ['red'], ['redf'], to=TensorProto.FLOAT),
             helper.make_node('Cast', ['redf'], ['labels'], to=TensorProto.UINT8)]
    outputs = [helper.make_tensor_value_info('labels', TensorProto.UINT8, [1, 'H', 'W'])]
    inits = [numpy_helper.from_array(np.array(0, np.int64), 'zero')]
    if with_confidence:
        nodes += [helper.make_node('Mul', ['redf', 'quarter'], ['confidence'])]
        inits.append(numpy_helper.from_array(np.array(0.25, np.float32), 'quarter'))
        outputs.append(helper.make_tensor_value_info('confidence', TensorProto.FLOAT,
                                                     [1, 'H', 'W']))
    graph = helper.make_graph(
        nodes, 'trt_passthrough',
        [helper.make_tensor_value_info('image', TensorProto.UINT8, [1, 'H', 'W', 3])],
        outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 17)])
    model.ir_version = 8
    helper.set_model_props(model, contract.encode_metadata(
        CLASSES, contract.default_palette(len(CLASSES)), name='trt_passthrough'))
    onnx.save(model, str(path))
    return str(path)


def test_bytes_on_the_bus_per_frame():
    """uint8 in, uint8 out: 4 bytes per pixel, 1.2 MB for a 640x480 frame."""
    frame = tensor_nbytes((1, 480, 640, 3), 1)
    labels = tensor_nbytes((1, 480, 640), 1)
    assert frame + labels == 4 * 480 * 640 == 1_228_800
    assert tensor_nbytes((1, 480, 640), 4) == 4 * 480 * 640    # int32 labels cost 3x more


def test_unresolved_shape_names_the_tensor():
    with pytest.raises(BackendError, match=r'shape of "labels" unresolved \(\[1, -1, 640\]\)'):
        tensor_nbytes((1, -1, 640), 1, 'labels')


def test_buffers_grow_only_when_a_frame_needs_more():
    capacity: dict[str, int] = {}
    sizes = [(480, 640), (480, 640), (240, 320), (720, 1280), (480, 640)]
    reallocations = []
    for h, w in sizes:
        needed = {'image': tensor_nbytes((1, h, w, 3), 1), 'labels': tensor_nbytes((1, h, w), 1)}
        grow = buffers_to_grow(capacity, needed)
        capacity.update(grow)
        reallocations.append(sorted(grow))
    assert reallocations == [['image', 'labels'], [], [], ['image', 'labels'], []]
    assert capacity == {'image': 720 * 1280 * 3, 'labels': 720 * 1280}


class _Builds:
    """Stand-in for engine_builder.build_engine (needs a GPU): writes what it would write."""

    def __init__(self, platform: ec.Platform = ORIN) -> None:
        self.platform = platform
        self.calls: list[tuple[str, str, ec.BuildSettings]] = []

    def __call__(self, onnx_path: str, engine_path: str, settings: ec.BuildSettings) -> dict:
        self.calls.append((onnx_path, engine_path, settings))
        data = f'plan {len(self.calls)}'.encode()
        ec.atomic_write(engine_path, data)
        sidecar = ec.make_sidecar(onnx_path, ec.sha256_file(onnx_path), ec.sha256_file(
            engine_path), self.platform, settings, contract.check_onnx(onnx_path).metadata)
        ec.write_sidecar(engine_path, sidecar)
        return sidecar


def test_onnx_builds_once_then_reuses_then_rebuilds_when_stale(tmp_path):
    model = trt_passthrough(tmp_path / 'm.onnx')
    build = _Builds()
    options = BackendOptions(fp16=True)
    engine, sidecar = resolve_engine(model, options, ORIN, build)
    assert engine == str(tmp_path / 'm.fp16.engine') and len(build.calls) == 1
    assert sidecar['metadata'][contract.KEY_CLASSES] == contract.encode_metadata(
        CLASSES, contract.default_palette(5))[contract.KEY_CLASSES]
    assert resolve_engine(model, options, ORIN, build)[0] == engine
    assert len(build.calls) == 1                      # reused
    trt_passthrough(tmp_path / 'm.onnx', with_confidence=False)   # re-exported model
    resolve_engine(model, options, ORIN, build)
    assert len(build.calls) == 2
    upgraded = ec.Platform('10.7.0', 'Orin', '8.7')   # JetPack upgrade
    resolve_engine(model, options, upgraded, _Builds(upgraded))
    assert ec.read_sidecar(engine)['tensorrt_version'] == '10.7.0'


def test_precision_dla_and_cache_dir_choose_the_engine_file(tmp_path):
    model = trt_passthrough(tmp_path / 'm.onnx')
    build = _Builds()
    cache = tmp_path / 'cache'
    engine, _ = resolve_engine(model, BackendOptions(fp16=False, engine_cache_dir=str(cache)),
                               ORIN, build)
    assert engine == str(cache / 'm.fp32.engine')
    engine, sidecar = resolve_engine(model, BackendOptions(dla_core=1), ORIN, build)
    assert engine == str(tmp_path / 'm.fp16.dla1.engine') and sidecar['dla_core'] == 1
    assert [c[2].precision for c in build.calls] == ['fp32', 'fp16']


def test_typed_onnx_brings_its_own_precision(tmp_path):
    """An export --precision int8/fp16 model: its types decide, whatever fp16 says."""
    model_path = trt_passthrough(tmp_path / 'q.onnx')
    model = onnx.load(model_path)
    model.metadata_props.add(key=contract.KEY_PRECISION, value='int8')
    onnx.save(model, model_path)
    build = _Builds()
    engine, sidecar = resolve_engine(model_path, BackendOptions(fp16=True), ORIN, build)
    assert engine == str(tmp_path / 'q.int8.engine')
    settings = build.calls[0][2]
    assert settings.typed and settings.precision == 'int8' and settings.calib_dir == ''
    assert 'calibration' not in sidecar and sidecar['typed'] is True
    assert ec.rebuild_command(engine, sidecar).split()[2:5] == [model_path, '-o', engine]


def test_engine_from_another_machine_fails_with_the_rebuild_command(tmp_path):
    model = trt_passthrough(tmp_path / 'm.onnx')
    engine, _ = resolve_engine(model, BackendOptions(), ORIN, _Builds())
    desktop = ec.Platform('10.3.0', 'NVIDIA GeForce RTX 4090', '8.9')
    with pytest.raises(BackendError) as err:
        resolve_engine(engine, BackendOptions(), desktop, _Builds())
    text = str(err.value)
    assert 'GPU Orin (engine) vs NVIDIA GeForce RTX 4090 (here)' in text
    assert 'compute capability 8.7 (engine) vs 8.9 (here)' in text
    assert f'Rebuild with: seg-ros build-engine {model} -o {engine} --fp16' in text
    assert resolve_engine(engine, BackendOptions(), ORIN, _Builds())[0] == engine


def test_other_model_files_are_refused(tmp_path):
    path = tmp_path / 'model.pt'
    path.write_bytes(b'x')
    with pytest.raises(BackendError, match=r'takes a \.onnx .* or a \.engine'):
        resolve_engine(str(path), BackendOptions(), ORIN, _Builds())


@pytest.mark.skipif(HAS_TRT, reason='TensorRT is installed here')
def test_backend_without_tensorrt_says_how_to_get_it(tmp_path):
    model = trt_passthrough(tmp_path / 'm.onnx')
    with pytest.raises(BackendError, match=r'JetPack.*backend: onnxruntime'):
        create_backend('tensorrt', model)


@pytest.mark.skipif(HAS_TRT, reason='TensorRT is installed here')
def test_cli_without_tensorrt_fails_cleanly(tmp_path, capsys):
    model = trt_passthrough(tmp_path / 'm.onnx')
    assert cli.main(['build-engine', model, '-o', str(tmp_path / 'm.engine')]) == 1
    assert 'not importable' in capsys.readouterr().err
    assert not (tmp_path / 'm.engine').exists()


@pytest.mark.parametrize('argv, message', [
    (['--min', '480'], '--min 480: expected WIDTHxHEIGHT'),
    (['--opt', '2000x640'], 'min <= opt <= max'),
    (['--int8'], '--calib DIR'),
    (['--calib', 'somewhere'], '--calib is only used with --int8'),
    (['--fp32', '--dla', '0'], 'DLA runs only FP16 or INT8'),
    (['--fp16', '--dla', '0', '--max', '1080x1920'], 'DLA needs static shapes'),
    (['--int8', '--calib', 'no/such/folder'], 'does not exist'),
])
def test_cli_rejects_bad_options_before_building(tmp_path, capsys, argv, message):
    model = trt_passthrough(tmp_path / 'm.onnx')
    assert cli.main(['build-engine', model] + argv) == 1
    assert message in capsys.readouterr().err


def test_cli_check_reports_the_tensorrt_verdict(tmp_path, capsys, trt_ops_table):
    """``--check`` reads the parser table from ``$SEG_ROS_ASSETS`` (no model asset needed)."""
    from seg_ros.testing import synthetic

    good = trt_passthrough(tmp_path / 'good.onnx')
    # The synthetic model with its first Cast removed: Gather then reads the uint8 image.
    model = synthetic.passthrough_model(CLASSES)
    del model.graph.node[0]
    model.graph.node[0].input[0] = 'image'
    bad = str(tmp_path / 'bad.onnx')
    onnx.save(model, bad)
    assert cli.main(['build-engine', '--check', good]) == 0
    assert 'no TensorRT 10 parser problems found' in capsys.readouterr().out
    assert cli.main(['build-engine', '--check', bad]) == 1
    out = capsys.readouterr().out
    assert 'Gather "labels_raw" reads uint8' in out


def test_cli_check_names_a_missing_model(tmp_path, capsys):
    assert cli.main(['build-engine', '--check', str(tmp_path / 'nope.onnx')]) == 1
    assert 'model file not found' in capsys.readouterr().err


def test_calibration_batches_are_uint8_frames_at_the_opt_size(assets):
    folder = str(assets / 'data' / 'camvid' / 'calib')
    assert len(list_images(folder)) == 32
    batches = list(calibration_batches(folder, (240, 320), limit=3))
    assert len(batches) == 3
    for b in batches:
        assert b.shape == (1, 240, 320, 3) and b.dtype == np.uint8 and b.flags.c_contiguous
    full = next(calibration_batches(folder, (360, 480)))        # native size: no resize
    import cv2
    first = cv2.imread(list_images(folder)[0])[:, :, ::-1]
    np.testing.assert_array_equal(full[0], first)


def test_calibration_folder_errors(tmp_path):
    with pytest.raises(EngineBuildError, match='does not exist'):
        list_images(str(tmp_path / 'none'))
    with pytest.raises(EngineBuildError, match='holds no images'):
        list_images(str(tmp_path))
    (tmp_path / 'broken.png').write_bytes(b'not a png')
    with pytest.raises(EngineBuildError, match='not a readable image'):
        list(calibration_batches(str(tmp_path), (10, 10)))


def test_ort_tensorrt_provider_gets_the_same_parameters(tmp_path):
    options = BackendOptions(device='cuda', device_id=1, fp16=False,
                             engine_cache_dir=str(tmp_path), dla_core=0)
    available = ['TensorrtExecutionProvider', 'CUDAExecutionProvider', 'CPUExecutionProvider']
    trt, cuda, cpu = _providers(options, available)
    assert trt == ('TensorrtExecutionProvider', {
        'device_id': 1, 'trt_fp16_enable': False, 'trt_engine_cache_enable': True,
        'trt_engine_cache_path': str(tmp_path), 'trt_timing_cache_enable': True,
        'trt_timing_cache_path': str(tmp_path), 'trt_dla_enable': True, 'trt_dla_core': 0})
    assert cuda == ('CUDAExecutionProvider', {'device_id': 1}) and cpu == 'CPUExecutionProvider'
    assert 'trt_dla_enable' not in _providers(BackendOptions(device='cuda'), available)[0][1]


@needs_gpu
def test_real_engine_matches_onnxruntime_and_is_cached(tmp_path):
    model = trt_passthrough(tmp_path / 'm.onnx')
    rng = np.random.default_rng(0)
    backend = create_backend('tensorrt', model, BackendOptions(fp16=True))
    reference = create_backend('onnxruntime', model)
    try:
        assert backend.info.classes == tuple(CLASSES) and backend.info.has_confidence
        engine = backend.engine_path
        for h, w in [(480, 640), (480, 640), (240, 320), (720, 1280)]:
            frame = rng.integers(0, 5, (h, w, 3), dtype=np.uint8)
            got, want = backend.infer(frame), reference.infer(frame)
            np.testing.assert_array_equal(got.labels, want.labels)
            np.testing.assert_allclose(got.confidence, want.confidence)
            assert got.labels.dtype == np.uint8 and got.labels.shape == (h, w)
        with pytest.raises(BackendError, match='outside the optimisation profile'):
            backend.infer(np.zeros((2000, 640, 3), np.uint8))
        assert 'tensorrt' in backend.describe()
    finally:
        backend.close()
    built = os.path.getmtime(engine)
    again = create_backend('tensorrt', model, BackendOptions(fp16=True))
    again.close()
    assert os.path.getmtime(engine) == built       # reused, not rebuilt
    direct = create_backend('tensorrt', engine)
    direct.close()
    sidecar = ec.read_sidecar(engine)
    sidecar['tensorrt_version'] = '9.9.9'
    ec.write_sidecar(engine, sidecar)
    with pytest.raises(BackendError, match='Rebuild with: seg-ros build-engine'):
        create_backend('tensorrt', engine)


@needs_gpu
@pytest.mark.skipif(TRT_11, reason='TensorRT 11 has no implicit INT8 calibration (no INT8 '
                    'builder flag, no calibrators): build-engine --int8 on a float32 ONNX is an '
                    'error there (test_precision_plan_per_version); INT8 comes from a Q/DQ '
                    'export (seg-ros export --precision int8)')
def test_real_cli_builds_int8_with_calibration_and_timing_cache(tmp_path, assets, capsys):
    model = trt_passthrough(tmp_path / 'm.onnx')
    engine = tmp_path / 'engines' / 'm.engine'
    argv = ['build-engine', model, '-o', str(engine), '--int8',
            '--calib', str(assets / 'data' / 'camvid' / 'calib'), '--calib-count', '4',
            '--opt', '480x360', '--timing-cache', str(tmp_path / 'm.timing')]
    assert cli.main(argv) == 0
    sidecar = ec.read_sidecar(str(engine))
    assert sidecar['precision'] == 'int8' and sidecar['opt'] == [360, 480]
    assert (tmp_path / 'm.timing').stat().st_size > 0
    assert cli.main(argv) == 0
    assert 'is up to date' in capsys.readouterr().out


def test_unwritable_cache_dir_says_which_parameter_to_set(tmp_path):
    model = trt_passthrough(tmp_path / 'm.onnx')
    blocker = tmp_path / 'cache'
    blocker.write_bytes(b'a file where the cache folder should be')
    with pytest.raises(BackendError, match='set engine_cache_dir to a writable folder'):
        resolve_engine(model, BackendOptions(engine_cache_dir=str(blocker)), ORIN, _Builds())


def test_confidence_is_fetched_only_when_asked(tmp_path):
    """The node passes publish_confidence as BackendOptions.confidence (ONNX Runtime here)."""
    model = trt_passthrough(tmp_path / 'm.onnx')
    frame = np.full((4, 6, 3), 3, np.uint8)
    with_conf = create_backend('onnxruntime', model).infer(frame)
    np.testing.assert_allclose(with_conf.confidence, 0.75)
    without = create_backend('onnxruntime', model, BackendOptions(confidence=False))
    assert without.info.has_confidence
    result = without.infer(frame)
    assert result.confidence is None and (result.labels == 3).all()


@pytest.mark.parametrize('version, precision', [('10.3.0', 'fp16'), ('11.4.0.106', 'fp32')])
def test_cli_default_precision_is_what_the_tensorrt_builds(tmp_path, monkeypatch, capsys,
                                                           version, precision):
    """
    Issue 17 defect 3: with no flag, TensorRT 11 builds a float32 ONNX as FP32, so it says so.

    Before, it recorded fp16, built FP32 (strongly typed) into ``*.fp16.engine`` and rebuilt it
    on every run. The stand-in TensorRT comes from each version's listing; the build itself
    (which needs a GPU) is recorded instead.
    """
    from seg_ros.inference.tensorrt import engine_builder

    listing = trt_doubles.load_listing(version)
    if listing is None:
        pytest.skip(f'TensorRT {version} API listing not found; set SEG_ROS_ASSETS')
    trt = trt_doubles.tensorrt_module(listing, version, trt_doubles.FakeGpu(1 << 30))
    monkeypatch.setattr(engine_builder, 'import_tensorrt', lambda: trt)
    builds = []
    monkeypatch.setattr(engine_builder, 'build_engine',
                        lambda onnx, out, settings, **kw: builds.append((out, settings)))
    model = trt_passthrough(tmp_path / 'm.onnx')
    assert cli.main(['build-engine', model]) == 0
    (engine, settings), = builds
    assert engine == str(tmp_path / f'm.{precision}.engine')
    assert settings.precision == precision and settings.key()['precision'] == precision
    # The DLA check still applies: on 11 a float32 ONNX has no DLA precision by default.
    code = cli.main(['build-engine', model, '--dla', '0'])
    if precision == 'fp32':
        assert code == 1 and 'DLA runs only FP16 or INT8' in capsys.readouterr().err
    else:
        assert code == 0 and builds[-1][1].precision == 'fp16'


def test_cli_dla_profile_defaults_to_the_opt_size(tmp_path):
    """DLA builds are static: without --min/--max the profile is --opt alone."""
    import argparse

    from seg_ros.tools import build_engine

    parser = argparse.ArgumentParser()
    build_engine.add_arguments(parser)
    model = trt_passthrough(tmp_path / 'm.onnx')
    settings = build_engine.settings_from_args(
        parser.parse_args([model, '--fp16', '--dla', '1', '--opt', '480x360']))
    assert settings.min_hw == settings.opt_hw == settings.max_hw == (360, 480)
    assert settings.precision == 'fp16' and settings.dla_core == 1
    gpu = build_engine.settings_from_args(parser.parse_args([model]))
    assert (gpu.min_hw, gpu.max_hw) == (ec.DEFAULT_MIN, ec.DEFAULT_MAX)


def test_implicit_int8_settings_carry_the_calibration_digest(tmp_path, assets):
    from seg_ros.inference.tensorrt import engine_builder

    model = trt_passthrough(tmp_path / 'm.onnx')
    calib = str(assets / 'data' / 'camvid' / 'calib')
    settings = engine_builder.prepare_settings(
        model, ec.BuildSettings(precision='int8', calib_dir=calib, calib_limit=4))
    files = engine_builder.list_images(calib)[:4]
    assert settings.calib_digest == ec.calibration_digest(files) and not settings.typed
    assert settings.key()['calibration'] == settings.calib_digest
    all_frames = engine_builder.prepare_settings(
        model, ec.BuildSettings(precision='int8', calib_dir=calib))
    assert all_frames.calib_digest != settings.calib_digest     # count is part of the key
    assert ec.engine_path_for(model, settings) == str(tmp_path / 'm.int8.engine')


# -- The backend end to end on stand-ins: a GPU of a given size and TensorRT from its listing --

STAND_IN_CLASSES = [f'k{i}' for i in range(19)]
GPU_MEMORY = 100_000_000     # fits 640x480 (26.9 MB in all), not 1920x1080 (158.6 MB activation)


def _stand_in_backend(tmp_path, monkeypatch, version='10.3.0', gpu_memory=GPU_MEMORY,
                      fail_context=False):
    """Load a TensorRTBackend on trt_doubles: engine + sidecar as build-engine writes them."""
    from seg_ros.inference.tensorrt import engine_builder
    from seg_ros.inference.tensorrt.backend import TensorRTBackend

    listing = trt_doubles.load_listing(version)
    if listing is None:
        pytest.skip(f'TensorRT {version} API listing not found; set SEG_ROS_ASSETS')
    gpu = trt_doubles.FakeGpu(gpu_memory)
    trt = trt_doubles.tensorrt_module(listing, version, gpu, fail_context=fail_context)
    monkeypatch.setattr(engine_builder, 'import_tensorrt', lambda: trt)
    model = trt_passthrough(tmp_path / 'm.onnx')
    engine = str(tmp_path / 'm.fp16.engine')
    ec.atomic_write(engine, trt_doubles.engine_bytes(len(STAND_IN_CLASSES)))
    platform = ec.Platform(version, 'Orin', '8.7', 8, ec.memory_gib(gpu_memory))
    ec.write_sidecar(engine, ec.make_sidecar(
        model, ec.sha256_file(model), ec.sha256_file(engine), platform, ec.BuildSettings(),
        contract.encode_metadata(STAND_IN_CLASSES,
                                 contract.default_palette(len(STAND_IN_CLASSES)))))
    backend = TensorRTBackend(engine, BackendOptions(), driver_factory=lambda device_id: gpu)
    return backend, gpu, trt


def _check_frame(backend, h, w, seed=0):
    frame = np.random.default_rng(seed).integers(0, 19, (h, w, 3), dtype=np.uint8)
    result = backend.infer(frame)
    np.testing.assert_array_equal(result.labels, frame[:, :, 0])
    np.testing.assert_array_equal(result.confidence, frame[:, :, 0].astype(np.float32) / 4)


@pytest.mark.parametrize('version', ['10.3.0', '10.13.0.35', '11.4.0.106'])
def test_activation_memory_follows_the_frame_size(tmp_path, monkeypatch, version):
    """
    Issue 17 defect 2: a USER_MANAGED context, sized per frame shape, on every version.

    The stand-in GPU has 100 MB: a static context (the profile max 1920x1080 of a 19-class
    model: 158.6 MB of activation memory) does not fit, 640x480 frames (24.4 MB) do. The
    description (which the node publishes on /diagnostics) reports both figures.
    """
    backend, gpu, trt = _stand_in_backend(tmp_path, monkeypatch, version)
    try:
        assert trt.engines[0].contexts[0].user_managed
        assert backend.describe().endswith(
            'activation memory allocated per frame size (up to 158.6 MB at the profile max '
            '1920x1080)')
        hardware = backend.hardware()
        _check_frame(backend, 480, 640)
        assert backend.describe().endswith(
            'activation memory 24.4 MB for 640x480 frames (158.6 MB at the profile max '
            '1920x1080)')
        # /diagnostics: the figure is a value of its own; hardware_id stays the same.
        assert backend.memory() == ('activation memory 24.4 MB for 640x480 frames (158.6 MB '
                                    'at the profile max 1920x1080)')
        assert backend.hardware() == hardware and 'MB' not in hardware
        assert gpu.used() == 24_395_776 + 640 * 480 * (3 + 1 + 4)
        _check_frame(backend, 240, 320, seed=1)          # smaller: nothing reallocated
        assert 'activation memory 6.9 MB for 320x240 frames' in backend.describe()
        assert backend.hardware() == hardware
        assert gpu.used() == 24_395_776 + 640 * 480 * (3 + 1 + 4)
        _check_frame(backend, 480, 640, seed=2)
    finally:
        backend.close()
    assert gpu.live == {} and gpu.hosts == {}            # close() freed everything


def test_a_failed_grow_keeps_the_backend_at_its_previous_size(tmp_path, monkeypatch):
    """
    Issue 17 defect 1: allocate first, swap, then free; never touch freed memory.

    A 1920x1080 frame does not fit the 100 MB GPU: the error names the size and the fix, the
    half-made allocation is freed and the next 640x480 frame runs on the old buffers (the
    stand-in GPU raises on any use of freed memory). The same for pinned host memory failing.
    """
    backend, gpu, trt = _stand_in_backend(tmp_path, monkeypatch)
    try:
        _check_frame(backend, 480, 640)
        used = gpu.used()
        with pytest.raises(BackendError) as err:
            backend.infer(np.zeros((1080, 1920, 3), np.uint8))
        text = str(err.value)
        assert text.startswith('TensorRT 10.3.0: out of memory for a 1920x1080 frame')
        assert '158.6 MB of activation memory' in text and 'cudaErrorMemoryAllocation' in text
        assert 'it keeps running at 640x480' in text and 'Send smaller frames' in text
        _check_frame(backend, 480, 640, seed=1)            # on the old buffers, all live
        assert trt.engines[0].contexts[0].shape == (1, 480, 640, 3)
        assert gpu.used() == used                          # the half-made allocation freed
        gpu.fail_host = True                               # cudaMallocHost fails on demand
        with pytest.raises(BackendError, match='cudaMallocHost failed'):
            backend.infer(np.zeros((600, 800, 3), np.uint8))
        assert gpu.used() == used
        _check_frame(backend, 480, 640, seed=2)
        gpu.fail_host = False
        _check_frame(backend, 600, 800, seed=3)             # and it can still grow
        _check_frame(backend, 480, 640, seed=4)
        assert 'activation memory 24.4 MB for 640x480' in backend.describe()
    finally:
        backend.close()
    assert gpu.live == {} and gpu.hosts == {}


def test_a_refused_binding_makes_the_backend_say_it_is_unusable(tmp_path, monkeypatch):
    """After the swap there is no way back: the backend refuses frames instead of guessing."""
    backend, gpu, trt = _stand_in_backend(tmp_path, monkeypatch)
    try:
        _check_frame(backend, 240, 320)
        trt.engines[0].contexts[0].refuse_addresses = True
        with pytest.raises(BackendError, match="refused the device buffer of 'image', "
                           "'labels', 'confidence' for .*; reload the model"):
            backend.infer(np.zeros((480, 640, 3), np.uint8))
        trt.engines[0].contexts[0].refuse_addresses = False
        for h, w in ((240, 320), (480, 640)):
            with pytest.raises(BackendError, match='reload the model'):
                backend.infer(np.zeros((h, w, 3), np.uint8))
    finally:
        backend.close()
    assert gpu.live == {} and gpu.hosts == {}            # the old buffers were freed once


def test_a_context_tensorrt_cannot_create_is_a_memory_error(tmp_path, monkeypatch):
    """Issue 17 defect 2: create_execution_context() -> None names the size and the fix."""
    with pytest.raises(BackendError) as err:
        _stand_in_backend(tmp_path, monkeypatch, fail_context=True)
    text = str(err.value)
    assert text.startswith('TensorRT 10.3.0 could not create an execution context for ')
    assert '(out of GPU memory)' in text and 'lacks an API' not in text
    assert '158.6 MB of activation memory at its profile max 1920x1080' in text
    assert 'full-frame float logits alone are 157.6 MB' in text
    assert '--min 160x120 --opt 640x480 --max 640x480' in text
