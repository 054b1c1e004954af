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

"""Engine cache keys, sidecars, staleness and error texts (no TensorRT needed)."""
import json
import os
import shlex
import stat

import pytest

from seg_ros.inference.tensorrt import engine_cache as ec

ORIN = ec.Platform('10.3.0', 'Orin', '8.7')


def _built(tmp_path, settings=ec.BuildSettings(), platform=ORIN, onnx_bytes=b'onnx v1'):
    """Make an ONNX file and a fake engine with its sidecar, as build-engine leaves them."""
    onnx_path = tmp_path / 'bisenetv2.onnx'
    onnx_path.write_bytes(onnx_bytes)
    engine = ec.engine_path_for(str(onnx_path), settings)
    with open(engine, 'wb') as f:
        f.write(b'serialized plan')
    sidecar = ec.make_sidecar(str(onnx_path), ec.sha256_file(str(onnx_path)),
                              ec.sha256_file(engine), platform, settings,
                              {'seg_ros.classes': '["road", "sky"]'})
    ec.write_sidecar(engine, sidecar)
    return str(onnx_path), engine


def test_engine_path_names_precision_and_dla(tmp_path):
    onnx = str(tmp_path / 'm.onnx')
    assert ec.engine_path_for(onnx, ec.BuildSettings()) == str(tmp_path / 'm.fp16.engine')
    assert ec.engine_path_for(onnx, ec.BuildSettings(precision='int8', calib_dir='c',
                                                     dla_core=1), '/cache') \
        == '/cache/m.int8.dla1.engine'


def test_parse_hw():
    # Written width first like every size on the command line, kept (height, width) inside.
    assert ec.parse_hw('640x480') == (480, 640)
    assert ec.parse_hw(' 1280X720 ') == (720, 1280)
    for bad in ('640', '0x10', 'axb', '480x640x3'):
        with pytest.raises(ValueError, match='WIDTHxHEIGHT'):
            ec.parse_hw(bad)
    with pytest.raises(ValueError, match=r'--opt 480: expected WIDTHxHEIGHT .*e\.g\. 640x480'):
        ec.parse_hw('480', '--opt')
    assert ec.cli_size((480, 640)) == '640x480'


@pytest.mark.parametrize('kwargs, message', [
    ({'precision': 'int4'}, 'precision "int4"'),
    ({'min_hw': (500, 160)}, 'min <= opt <= max'),
    ({'max_hw': (1080, 600)}, 'min <= opt <= max'),
    ({'precision': 'int8'}, '--calib DIR'),
    ({'precision': 'fp32', 'dla_core': 0}, 'DLA runs only FP16 or INT8'),
    ({'workspace_mb': -1}, '--workspace'),
    ({'precision': 'fp16', 'dla_core': 0}, 'DLA needs static shapes'),
    ({'precision': 'int8', 'calib_dir': 'c', 'calib_limit': -2}, '--calib-count'),
])
def test_bad_settings_name_the_option(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ec.BuildSettings(**kwargs).validate()
    ec.BuildSettings().validate()


def test_fresh_engine_is_reused(tmp_path):
    onnx, engine = _built(tmp_path)
    assert ec.stale_reasons(engine, ec.sha256_file(onnx), ORIN, ec.BuildSettings()) == []
    sidecar = ec.read_sidecar(engine)
    assert sidecar['metadata'] == {'seg_ros.classes': '["road", "sky"]'}
    assert sidecar['tensorrt_version'] == '10.3.0' and sidecar['compute_capability'] == '8.7'
    assert sidecar['opt'] == [480, 640] and sidecar['precision'] == 'fp16'


def test_missing_engine_or_sidecar_is_stale(tmp_path):
    onnx, engine = _built(tmp_path)
    sha = ec.sha256_file(onnx)
    other = ec.BuildSettings(precision='int8', calib_dir='calib')
    assert 'no engine at' in ec.stale_reasons(ec.engine_path_for(onnx, other), sha, ORIN,
                                              other)[0]
    os.unlink(ec.sidecar_path(engine))
    assert 'not found' in ec.stale_reasons(engine, sha, ORIN, ec.BuildSettings())[0]
    with open(ec.sidecar_path(engine), 'w') as f:
        f.write('{"seg_ros_engine": 1')
    assert 'unreadable' in ec.stale_reasons(engine, sha, ORIN, ec.BuildSettings())[0]


def test_changed_onnx_platform_or_settings_make_it_stale(tmp_path):
    onnx, engine = _built(tmp_path)
    sha = ec.sha256_file(onnx)
    with open(onnx, 'wb') as f:
        f.write(b'onnx v2')
    reasons = ec.stale_reasons(engine, ec.sha256_file(onnx), ORIN, ec.BuildSettings())
    assert len(reasons) == 1 and 'ONNX file changed' in reasons[0]
    newer = ec.Platform('10.7.0', 'NVIDIA GeForce RTX 3060', '8.6')
    reasons = ec.stale_reasons(engine, sha, newer, ec.BuildSettings())
    assert reasons == ['TensorRT 10.3.0 (engine) vs 10.7.0 (here)',
                       'GPU Orin (engine) vs NVIDIA GeForce RTX 3060 (here)',
                       'compute capability 8.7 (engine) vs 8.6 (here)']
    bigger = ec.BuildSettings(max_hw=(2160, 3840))
    assert ec.stale_reasons(engine, sha, ORIN, bigger) == [
        'max 1920x1080 (engine) vs 3840x2160 (wanted)']
    # Workspace and timing cache change how long a build takes, not the engine's validity.
    assert ec.stale_reasons(engine, sha, ORIN, ec.BuildSettings(workspace_mb=512,
                                                                timing_cache='t')) == []


def test_an_engine_from_another_orin_module_is_rebuilt(tmp_path):
    """
    Issue 17 defect 5: every Orin module reports "Orin" and 8.7; SMs and memory differ.

    Figures of NVIDIA's module data sheets: AGX Orin 64GB 16 SMs, Orin NX 16GB 8 SMs, Orin
    Nano 8GB 8 SMs; totalGlobalMem is the shared RAM (about 61 / 15 / 7.4 GiB).
    """
    agx = ec.Platform('10.3.0', 'Orin', '8.7', 16, ec.memory_gib(int(61.4 * 2 ** 30)))
    nx16 = ec.Platform('10.3.0', 'Orin', '8.7', 8, ec.memory_gib(int(15.3 * 2 ** 30)))
    nano8 = ec.Platform('10.3.0', 'Orin', '8.7', 8, ec.memory_gib(int(7.4 * 2 ** 30)))
    onnx, engine = _built(tmp_path, platform=agx)
    sha = ec.sha256_file(onnx)
    assert ec.stale_reasons(engine, sha, agx, ec.BuildSettings()) == []
    assert ec.stale_reasons(engine, sha, nx16, ec.BuildSettings()) == [
        'multiprocessors 16 (engine) vs 8 (here)', 'GiB of GPU memory 61 (engine) vs 15 (here)']
    assert ec.stale_reasons(engine, sha, nano8, ec.BuildSettings())[1:] == [
        'GiB of GPU memory 61 (engine) vs 7 (here)']
    with pytest.raises(ec.EngineCacheError, match='multiprocessors 16 .engine. vs 8 .here.'):
        ec.check_engine(engine, nano8)
    # A few MB more or less after a JetPack update is the same module.
    assert ec.memory_gib(int(7.4 * 2 ** 30)) == ec.memory_gib(int(7.45 * 2 ** 30)) == 7


def test_engine_replaced_by_hand_is_stale(tmp_path):
    onnx, engine = _built(tmp_path)
    with open(engine, 'wb') as f:
        f.write(b'another plan')
    reasons = ec.stale_reasons(engine, ec.sha256_file(onnx), ORIN, ec.BuildSettings())
    assert reasons == ['the engine file does not match its sidecar (replaced by hand?)']


def test_check_engine_accepts_matching_platform(tmp_path):
    _, engine = _built(tmp_path)
    assert ec.check_engine(engine, ORIN)['gpu_name'] == 'Orin'


def test_foreign_engine_error_says_what_differs_and_how_to_rebuild(tmp_path):
    settings = ec.BuildSettings(precision='int8', calib_dir=str(tmp_path / 'calib'),
                                opt_hw=(720, 1280), dla_core=0, workspace_mb=1024)
    onnx, engine = _built(tmp_path, settings)
    with pytest.raises(ec.EngineCacheError) as err:
        ec.check_engine(engine, ec.Platform('10.7.0', 'Orin', '8.7'))
    text = str(err.value)
    assert 'TensorRT 10.3.0 (engine) vs 10.7.0 (here)' in text
    assert '(engine) vs' not in text.replace('TensorRT 10.3.0 (engine) vs', '')
    command = text.split('Rebuild with: ')[1].split(' (or set')[0]
    assert shlex.split(command) == [
        'seg-ros', 'build-engine', onnx, '-o', engine, '--int8', '--calib',
        str(tmp_path / 'calib'), '--min', '160x120', '--opt', '1280x720', '--max', '1920x1080',
        '--workspace', '1024', '--dla', '0']


def test_engine_without_sidecar_fails_with_rebuild_hint(tmp_path):
    engine = tmp_path / 'foreign.engine'
    engine.write_bytes(b'plan from trtexec')
    with pytest.raises(ec.EngineCacheError, match=r'not found.*Rebuild on this machine with: '
                                                  r'seg-ros build-engine MODEL.onnx -o '):
        ec.check_engine(str(engine), ORIN)


def test_sidecar_of_another_format_is_refused(tmp_path):
    _, engine = _built(tmp_path)
    sidecar = json.loads(open(ec.sidecar_path(engine)).read())
    sidecar['seg_ros_engine'] = 99
    ec.write_sidecar(engine, sidecar)
    with pytest.raises(ec.EngineCacheError, match='format 99'):
        ec.check_engine(engine, ORIN)
    del sidecar['metadata']
    ec.write_sidecar(engine, sidecar)
    with pytest.raises(ec.EngineCacheError, match='lacks metadata'):
        ec.read_sidecar(engine)


def test_profile_error_suggests_a_profile_that_fits(tmp_path):
    onnx, engine = _built(tmp_path)
    sidecar = ec.read_sidecar(engine)
    assert ec.profile_error(480, 640, sidecar) is None
    assert ec.profile_error(120, 1920, sidecar) is None
    text = ec.profile_error(2048, 2448, sidecar, engine)
    assert 'frame 2448x2048 (WxH) is outside' in text and 'max 1920x1080' in text
    assert '--opt 2448x2048 --max 2448x2048' in text and onnx in text
    assert '--min 160x100' in ec.profile_error(100, 200, sidecar)


def test_atomic_write_leaves_no_temporaries(tmp_path):
    target = tmp_path / 'sub' / 'x.engine'
    ec.atomic_write(str(target), b'abc')
    ec.atomic_write(str(target), b'def')
    assert target.read_bytes() == b'def'
    assert os.listdir(tmp_path / 'sub') == ['x.engine']


@pytest.mark.parametrize('umask, mode', [(0o022, 0o644), (0o027, 0o640)])
def test_engine_and_sidecar_follow_the_umask(tmp_path, umask, mode):
    """
    Issue 17 defect 6: readable by a node running as another user (not mkstemp's 0600).

    The engine and its sidecar go through the writers engine_builder.build_engine uses.
    """
    engine = str(tmp_path / 'cache' / 'm.fp16.engine')
    old = os.umask(umask)
    try:
        ec.atomic_write(engine, b'plan')
        ec.write_sidecar(engine, {'seg_ros_engine': ec.SIDECAR_FORMAT})
    finally:
        os.umask(old)
    for path in (engine, ec.sidecar_path(engine)):
        assert stat.S_IMODE(os.stat(path).st_mode) == mode, path


def _frames(folder, n, seed=0):
    folder.mkdir(exist_ok=True)
    for i in range(n):
        (folder / f'f{i:02d}.png').write_bytes(bytes([seed, i]) * 16)
    return sorted(str(p) for p in folder.iterdir())


def test_int8_cache_key_covers_calibration_frames_and_count(tmp_path):
    """Defect 3: other frames, a replaced frame or another count rebuild the engine."""
    files = _frames(tmp_path / 'calib', 4)
    digest = ec.calibration_digest(files)
    assert digest == ec.calibration_digest(list(files))
    assert digest != ec.calibration_digest(files[:3])                 # count
    (tmp_path / 'calib' / 'f01.png').write_bytes(b'another frame')
    assert digest != ec.calibration_digest(files)                     # content
    settings = ec.BuildSettings(precision='int8', calib_dir=str(tmp_path / 'calib'),
                                calib_digest=digest)
    onnx, engine = _built(tmp_path, settings)
    sha = ec.sha256_file(onnx)
    assert ec.stale_reasons(engine, sha, ORIN, settings) == []
    other = ec.BuildSettings(precision='int8', calib_dir=str(tmp_path / 'calib'),
                             calib_digest=ec.calibration_digest(files[:2]))
    reasons = ec.stale_reasons(engine, sha, ORIN, other)
    assert len(reasons) == 1 and reasons[0].startswith('calibration '), reasons
    typed = ec.BuildSettings(precision='int8', typed=True)
    assert 'calibration' not in typed.key()       # a Q/DQ model was calibrated at export
    assert '--calib' not in ec.build_command('m.onnx', 'm.engine', typed)
    assert '--calib-count 2' in ec.build_command(
        'm.onnx', 'm.engine', ec.BuildSettings(precision='int8', calib_dir='c', calib_limit=2))


def test_calibration_cache_is_ignored_after_an_onnx_or_frame_change(tmp_path):
    """Defect 3: TensorRT would apply a stale table silently; its key file prevents that."""
    cache = str(tmp_path / 'model.calib')
    assert ec.read_calibration_cache(cache, 'sha-a', 'frames-1') is None
    ec.write_calibration_cache(cache, b'TRT-1003-EntropyCalibration2', 'sha-a', 'frames-1')
    assert ec.read_calibration_cache(cache, 'sha-a', 'frames-1') == \
        b'TRT-1003-EntropyCalibration2'
    assert ec.read_calibration_cache(cache, 'sha-b', 'frames-1') is None   # ONNX changed
    assert ec.read_calibration_cache(cache, 'sha-a', 'frames-2') is None   # frames changed
    os.remove(cache + '.json')        # a table from an older seg_ros or another tool
    assert ec.read_calibration_cache(cache, 'sha-a', 'frames-1') is None


def test_profile_error_keeps_dla_engines_static(tmp_path):
    settings = ec.BuildSettings(min_hw=(480, 640), opt_hw=(480, 640), max_hw=(480, 640),
                                dla_core=0)
    onnx, engine = _built(tmp_path, settings)
    message = ec.profile_error(720, 1280, ec.read_sidecar(engine), engine)
    assert '--min 1280x720 --opt 1280x720 --max 1280x720' in message
    assert '--dla 0' in message
