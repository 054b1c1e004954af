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

"""``seg-ros benchmark``: JSON schema, statistics and the naive baseline, on a tiny model."""
import copy
import json
import os
from pathlib import Path
import time

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from seg_ros.inference.loader import create_backend
from seg_ros.offline import benchmarking as bm
from seg_ros.testing import synthetic
from seg_ros.tools import cli
from seg_ros.zoo import CAMVID_CLASSES

CLASSES = [f'c{i}' for i in range(12)]


@pytest.fixture
def tiny_model(tmp_path: Path) -> str:
    return synthetic.save_passthrough(str(tmp_path / 'pt.onnx'), CLASSES)


def spin_events_name() -> str:
    """Name the executor seg_ros.ros.spin gives for 'events' with this rclpy."""
    try:
        from rclpy.experimental import EventsExecutor  # noqa: F401
    except ImportError:
        return 'SingleThreadedExecutor'
    return 'EventsExecutor'


def _bench(model: str, out: Path, *extra: str) -> dict:
    rc = cli.main(['benchmark', '--model', model, '--sizes', '64x48', '--json', str(out),
                   *extra])
    doc = json.loads(out.read_text())
    assert rc == 0, json.dumps(doc['results'], indent=1)
    assert bm.validate(doc) == []
    return doc


def test_backend_scenario_json(tiny_model, tmp_path, capsys):
    doc = _bench(tiny_model, tmp_path / 'b.json', '--scenarios', 'backend', '--frames', '7',
                 '--backends', 'onnxruntime:cpu')
    assert doc['schema_version'] == bm.SCHEMA_VERSION
    assert doc['model']['classes'] == 12
    assert doc['machine']['cpu_count'] >= 1
    [row] = doc['results']
    assert (row['scenario'], row['width'], row['height'], row['status']) == ('backend', 64, 48,
                                                                             'ok')
    assert row['frames_in'] == row['frames_out'] == 7
    lat = row['latency_ms']
    assert 0 < lat['p50'] <= lat['p95'] <= lat['p99'] <= lat['max']
    out = capsys.readouterr().out
    assert 'backend' in out
    # It says which seg_ros ran: the package imported here (the node processes import it too).
    assert doc['machine']['seg_ros'] == str(Path(bm.__file__).resolve().parents[1])
    assert out.startswith(f"seg_ros: {doc['machine']['seg_ros']} (")


def test_a_commit_is_credited_only_to_a_checkouts_own_package(tmp_path):
    """A copy installed into a venv inside a checkout is not that checkout's commit."""
    import subprocess

    def git(*args):
        return subprocess.run(['git', '-c', 'user.email=t@example.com', '-c', 'user.name=t',
                               *args], cwd=repo, check=True, capture_output=True,
                              text=True).stdout.strip()

    repo = tmp_path / 'repo'
    (repo / 'seg_ros').mkdir(parents=True)
    (repo / 'seg_ros' / 'x.py').write_text('x = 1\n')
    git('init', '-q')
    git('add', '.')
    git('commit', '-q', '-m', 'x')
    assert bm.checkout_commit(repo) == (git('rev-parse', '--short', 'HEAD'), False)
    (repo / 'seg_ros' / 'x.py').write_text('x = 2\n')
    assert bm.checkout_commit(repo)[1] is True
    assert 'with changes' in bm.describe_code({'seg_ros': str(repo / 'seg_ros'),
                                               'git_commit': 'abc', 'git_dirty': True})
    installed = repo / '.venv' / 'lib' / 'site-packages'
    (installed / 'seg_ros').mkdir(parents=True)
    assert bm.checkout_commit(installed) == (None, None)
    assert 'an installed copy' in bm.describe_code({'seg_ros': str(installed / 'seg_ros'),
                                                    'git_commit': None, 'git_dirty': None})


@pytest.mark.slow
def test_all_scenarios_over_ros(tmp_path):
    # A CamVid model (as the zoo's exports say): the node loads its taxonomy, so node-trav's
    # frames get their grids.
    proto = synthetic.passthrough_model(CAMVID_CLASSES)
    onnx.helper.set_model_props(proto, {**{p.key: p.value for p in proto.metadata_props},
                                        'seg_ros.dataset': 'camvid'})
    model = str(tmp_path / 'camvid_pt.onnx')
    onnx.save(proto, model)
    doc = _bench(model, tmp_path / 'all.json', '--frames', '10', '--rate', '20',
                 '--warmup', '0.2', '--backends', 'onnxruntime:cpu',
                 '--domain-id', os.environ['ROS_DOMAIN_ID'])
    rows = {r['scenario']: r for r in doc['results']}
    assert set(rows) == set(bm.SCENARIOS)
    for name in ('node', 'transport', 'naive'):
        r = rows[name]
        assert r['status'] == 'ok', r
        assert r['frames_in'] == 10 and 0 < r['frames_out'] <= 10
        assert r['latency_ms']['p50'] > 0
        assert r['peak_rss_mb'] > 10 and r['cpu_percent'] is not None
    assert {o['scenario'] for o in doc['overhead']} == {'node', 'node-trav', 'naive'}
    # node-trav: a camera_info with each frame, so a grid comes back for the frames labelled.
    assert 0 < rows['node-trav']['grids_out'] <= rows['node-trav']['frames_out']
    assert 'grids_out' not in rows['node']
    for name in ('transport', 'naive'):   # they report nothing of themselves on /diagnostics
        assert 'node_age_ms' not in rows[name] and 'node_inference_ms' not in rows[name]
    # The feeding process times the outputs in its callbacks: it spins with the cheaper executor.
    assert doc['settings']['client_executor'] == spin_events_name()


@pytest.mark.slow
def test_rounds_interleave_and_the_rate_follows_the_bare_backend(tiny_model, tmp_path):
    # 1.5 s windows: the node's /diagnostics (1 Hz) reports its own timings within each.
    doc = _bench(tiny_model, tmp_path / 'rounds.json', '--scenarios', 'backend,node',
                 '--duration', '1.5', '--rounds', '2', '--rate-factor', '0.01', '--warmup', '0.2',
                 '--backends', 'onnxruntime:cpu', '--domain-id', os.environ['ROS_DOMAIN_ID'])
    order = [(r['scenario'], r['round']) for r in doc['results']]
    assert order == [('backend', 0), ('node', 0), ('backend', 1), ('node', 1)]
    for bare, node in zip(doc['results'][::2], doc['results'][1::2]):
        assert node['status'] == 'ok', node
        assert node['rate_hz'] == round(0.01 * bare['fps'], 2)   # of its own round's rate
        # The node's age at its publish, beside the age at arrival the client measured.
        assert 0 < node['node_age_ms']['p50'] <= node['node_age_ms']['p95']
        assert 0 < node['node_inference_ms']['p50'] <= node['node_inference_ms']['p95']
    assert [o['round'] for o in doc['overhead']] == [0, 1]


def test_validate_catches_schema_errors():
    good = {'schema_version': 1, 'created': 'x', 'command': 'seg-ros benchmark',
            'machine': {}, 'model': {'path': 'm'}, 'settings': {}, 'overhead': [],
            'results': [
                {'scenario': 'backend', 'backend': 'onnxruntime', 'device': 'cpu',
                 'width': 4, 'height': 3, 'status': 'ok', 'frames_in': 1, 'frames_out': 1,
                 'duration_s': 0.1, 'fps': 10, 'cpu_percent': None, 'peak_rss_mb': None,
                 'latency_ms': bm.summarize_ms([1.0])},
                {'scenario': 'node', 'backend': 'onnxruntime', 'device': 'cpu', 'width': 4,
                 'height': 3, 'status': 'skipped', 'reason': 'no node'}]}
    assert bm.validate(good) == []
    good['results'][0]['node_age_ms'] = {'p50': 2.0, 'p95': 3}
    assert bm.validate(good) == []
    bad = copy.deepcopy(good)
    bad['schema_version'] = 2
    del bad['results'][0]['latency_ms']['p99']
    bad['results'][1]['status'] = 'maybe'
    bad['results'][1]['scenario'] = 'other'
    bad['results'][0]['node_age_ms'] = {'p50': 'n/a', 'p95': 3.0}
    problems = bm.validate(bad)
    assert any('results[0].node_age_ms' in p for p in problems)
    assert any('schema_version' in p for p in problems)
    assert any('latency_ms.p99' in p for p in problems)
    assert any('results[1].status' in p for p in problems)
    assert any('results[1].scenario' in p for p in problems)


def test_summary_statistics_and_overhead_pairing():
    s = bm.summarize_ms(list(range(1, 101)))
    assert s['p50'] == pytest.approx(50.5) and s['max'] == 100 and s['mean'] == 50.5
    assert s['p99'] == pytest.approx(99.01)
    assert bm.summarize_ms([])['p50'] is None
    base = {'backend': 'onnxruntime', 'device': 'cpu', 'width': 4, 'height': 3, 'status': 'ok'}
    rows = [dict(base, scenario='backend', fps=100.0, latency_ms={'p50': 2.0}),
            dict(base, scenario='node', fps=50.0, latency_ms={'p50': 5.5}),
            dict(base, scenario='node', width=8, fps=50.0, latency_ms={'p50': 5.5})]
    assert bm.overhead_rows(rows) == [{
        'scenario': 'node', 'backend': 'onnxruntime', 'device': 'cpu', 'width': 4, 'height': 3,
        'round': 0, 'p50_over_backend_ms': 3.5, 'fps_ratio': 0.5}]
    # With --rounds, each row is paired with the bare backend of its own round.
    rounds = [dict(base, scenario='backend', fps=100.0, latency_ms={'p50': 2.0}, round=0),
              dict(base, scenario='node-trav', fps=90.0, latency_ms={'p50': 4.0}, round=0),
              dict(base, scenario='backend', fps=50.0, latency_ms={'p50': 3.0}, round=1),
              dict(base, scenario='node-trav', fps=40.0, latency_ms={'p50': 7.0}, round=1)]
    assert [(o['round'], o['fps_ratio'], o['p50_over_backend_ms'])
            for o in bm.overhead_rows(rounds)] == [(0, 0.9, 2.0), (1, 0.8, 4.0)]


def test_naive_pipeline_gives_the_same_labels_as_the_contract_model(tiny_model, tmp_path):
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (24, 32, 3), np.uint8)
    rgb[..., 0] %= len(CLASSES)
    path = tmp_path / 'naive.onnx'
    path.write_bytes(bm.naive_passthrough_model(len(CLASSES), bm.IMAGENET_MEAN,
                                                bm.IMAGENET_STD).SerializeToString())
    session = ort.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    x = bm.naive_normalize(rgb, bm.IMAGENET_MEAN, bm.IMAGENET_STD, 1.0)
    assert x.dtype == np.float32 and x.shape == (1, 3, 24, 32)
    naive = np.argmax(session.run(None, {'input': x})[0][0], axis=0)
    contract = create_backend('onnxruntime', tiny_model).infer(rgb).labels
    np.testing.assert_array_equal(naive, contract)


def test_process_accounting_reads_proc():
    pid = os.getpid()
    assert bm.process_cpu_seconds(pid) > 0
    assert bm.process_peak_rss_mb(pid) > 10
    meter = bm.CpuMeter(pid)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    while time.process_time() - cpu0 < 0.3:   # busy: 0.3 s of CPU, however loaded the machine
        sum(i * i for i in range(20000))
    expected = 100 * (time.process_time() - cpu0) / (time.perf_counter() - wall0)
    # /proc counts in clock ticks (10 ms): a few ticks over at least 0.3 s of wall time. Other
    # threads of this process (DDS, in the whole suite) may add to it, never take away.
    assert expected - 10 <= meter.percent() <= 100 * (os.cpu_count() or 1) + 10
    assert bm.process_cpu_seconds(2 ** 22 + 12345) is None


def test_bad_arguments_are_named(tiny_model, capsys):
    assert cli.main(['benchmark', '--model', tiny_model, '--scenarios', 'backend,warp']) == 1
    assert "unknown scenario(s) ['warp']" in capsys.readouterr().err
    assert cli.main(['benchmark', '--model', tiny_model, '--sizes', '640by480']) == 1
    assert '--sizes 640by480: expected WIDTHxHEIGHT' in capsys.readouterr().err
    assert cli.main(['benchmark', '--model', tiny_model, '--scenarios', 'node',
                     '--rate-factor', '1.5']) == 1
    assert '--rate-factor needs the backend scenario' in capsys.readouterr().err
    assert cli.main(['benchmark', '--model', 'missing.onnx']) == 1
    assert 'model file not found: missing.onnx' in capsys.readouterr().err
