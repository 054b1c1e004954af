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

"""scripts/gpu_bench.py end to end in its --smoke mode (CPU here; figures not asserted)."""
import importlib.util
import json
import os
from pathlib import Path
import subprocess
import sys

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.parametrize('converter', ['installed', 'missing'])
def test_gpu_bench_smoke_prints_the_json_the_lead_collects(tmp_path, converter):
    """
    The JSON the lead collects, with or without the float16 converter (issue 17 defect 7).

    The ONNX Runtime rows run on whatever provider there is (the CPU one in --smoke when it
    has no CUDA provider, as on the lent H200); a row that cannot run says why instead of
    timings, which the H200 run tripped over (KeyError 'runs'). FP32 rows run with TF32 off.
    """
    pytest.importorskip('torch')
    env = dict(os.environ)
    if converter == 'missing':       # as on a GPU machine without onnxconverter-common
        blocker = tmp_path / 'onnxconverter_common'
        blocker.mkdir()
        (blocker / '__init__.py').write_text("raise ImportError('blocked by the test')\n")
        env['PYTHONPATH'] = os.pathsep.join(filter(None, [str(tmp_path),
                                                          env.get('PYTHONPATH')]))
    elif importlib.util.find_spec('onnxconverter_common') is None:
        pytest.skip('onnxconverter-common not installed (the export extra)')
    result = subprocess.run([sys.executable, str(ROOT / 'scripts' / 'gpu_bench.py'), '--smoke'],
                            capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    assert report['smoke'] is True and report['size'] == '128x96'
    assert {'torch', 'cuda', 'gpu', 'device', 'wall_s'} <= set(report)
    for name in ('bisenetv2_fp32', 'segformer_b0_fp32'):
        stats = report['pytorch'][name]
        assert stats['runs'] == 3 and 0 < stats['min_ms'] <= stats['median_ms']
        assert stats['tf32'] is False
    ort = report['onnxruntime_cuda']   # onnxruntime is a dependency: it always runs in --smoke
    assert ort['provider'] in ('CUDAExecutionProvider', 'CPUExecutionProvider')
    for name in ('bisenetv2', 'segformer_b0'):
        assert ort[f'{name}_fp32']['runs'] == 3
        if converter == 'installed':
            assert ort[f'{name}_fp16']['runs'] == 3
        else:
            assert 'onnxconverter-common' in ort[f'{name}_fp16']['skipped']


def test_gpu_bench_refuses_fewer_than_100_runs():
    pytest.importorskip('torch')
    result = subprocess.run([sys.executable, str(ROOT / 'scripts' / 'gpu_bench.py'),
                             '--runs', '10'], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    # --runs is checked before the device: the same refusal with or without a GPU.
    assert '--runs must be at least 100' in result.stderr, result.stderr
