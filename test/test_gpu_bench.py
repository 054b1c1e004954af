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
import json
from pathlib import Path
import subprocess
import sys

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_gpu_bench_smoke_prints_the_json_the_lead_collects():
    pytest.importorskip('torch')
    result = subprocess.run([sys.executable, str(ROOT / 'scripts' / 'gpu_bench.py'), '--smoke'],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    assert report['smoke'] is True and report['size'] == '128x96'
    assert {'torch', 'cuda', 'gpu', 'device', 'wall_s'} <= set(report)
    for name in ('bisenetv2_fp32', 'segformer_b0_fp32'):
        stats = report['pytorch'][name]
        assert stats['runs'] == 3 and 0 < stats['min_ms'] <= stats['median_ms']
    ort = report['onnxruntime_cuda']
    if 'skipped' not in ort:   # onnxruntime here: the contract exports ran on its CPU provider
        assert ort['bisenetv2_fp32']['runs'] == 3 and ort['segformer_b0_fp16']['runs'] == 3


def test_gpu_bench_refuses_fewer_than_100_runs():
    pytest.importorskip('torch')
    result = subprocess.run([sys.executable, str(ROOT / 'scripts' / 'gpu_bench.py'),
                             '--runs', '10'], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    # --runs is checked before the device: the same refusal with or without a GPU.
    assert '--runs must be at least 100' in result.stderr, result.stderr
