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

"""``seg-ros soak`` in a short run: its printed rows and summary, not its speed."""
import json
import os
from pathlib import Path
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]


def test_soak_smoke(camvid_onnx, camvid_val, tmp_path):
    out = tmp_path / 'soak.json'
    cmd = [sys.executable, '-m', 'seg_ros.tools.cli', 'soak', '--model', camvid_onnx,
           '--images', str(camvid_val[0]), '--duration', '12', '--interval', '4',
           '--spike', '1280x960', '--spike-frames', '3', '--spike-at', '2',
           '--spike-encoding', 'rgb8', '--json', str(out)]
    proc = subprocess.run(cmd, cwd=ROOT, env=dict(os.environ), capture_output=True, text=True,
                          timeout=240)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    header = [ln for ln in lines if ln.startswith('# interval')]
    assert header == ['# interval t_end_s frames_in frames_out dropped age_p50_ms age_p95_ms '
                      'age_max_ms rss_mb anon_mb shm_mb overlays grids']
    # The spike stream goes out once, at the start of interval 2, with its own camera_info.
    assert lines.count('# sent 3 1280x960 rgb8 frame(s), then 3 s without frames') == 1, \
        proc.stdout
    columns = header[0][2:].split()
    rows = [ln.split() for ln in lines[lines.index(header[0]) + 1:] if ln.startswith('  ')]
    assert [r[0] for r in rows] == ['1', '2', '3'], proc.stdout
    for row in rows:
        values = dict(zip(columns, row))
        assert len(row) == len(columns)
        assert int(values['frames_in']) > 0 and int(values['frames_out']) > 0
        # A row may answer frames sent just before it began: the one in inference and the one
        # waiting in the mailbox at the boundary, at most.
        assert int(values['frames_out']) <= int(values['frames_in']) + 2
        assert float(values['age_p50_ms']) <= float(values['age_max_ms'])
        assert float(values['rss_mb']) > 50
        # The split of the resident set: parts of it, both present (the node maps Fast DDS's
        # shared-memory segment).
        assert 0 < float(values['anon_mb']) < float(values['rss_mb'])
        assert 0 < float(values['shm_mb']) < float(values['rss_mb'])
        # Every output is subscribed: overlay and grid are computed for the answered frames.
        assert int(values['overlays']) > 0 and int(values['grids']) > 0
    summary = dict(ln[len('summary: '):].split(' = ') for ln in lines
                   if ln.startswith('summary: '))
    assert set(summary) == {'rss_growth_after_warmup_mb', 'age_p50_trend_ms', 'rss_max_mb',
                            'frames_in', 'frames_out', 'dropped'}
    # Over the run, every answer is one of the sent frames (the spike frames count as sent).
    assert int(summary['frames_out']) <= int(summary['frames_in'])
    doc = json.loads(out.read_text())
    assert len(doc['rows']) == 3 and doc['summary']['frames_in'] == int(summary['frames_in'])
    assert doc['settings']['spike_frames'] == 3 and doc['settings']['spike_at'] == [2]


@pytest.mark.parametrize('args, message', [
    (['--spike-at', 'two'], '--spike-at: a comma list of interval numbers'),
    (['--spike', '640x480', '--spike-frames', '0'], '--spike-frames must be at least 1'),
])
def test_soak_refuses_bad_spike_options(camvid_onnx, args, message):
    cmd = [sys.executable, '-m', 'seg_ros.tools.cli', 'soak', '--model', camvid_onnx] + args
    proc = subprocess.run(cmd, cwd=ROOT, env=dict(os.environ), capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 1 and message in proc.stderr, proc.stdout + proc.stderr
