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

"""The demo end to end: the real node as a process, frames over ROS 2, outputs on disk."""
import argparse
import dataclasses
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from rosbags.rosbag2 import Reader
from seg_ros.offline import replay
from seg_ros.testing import synthetic
from seg_ros.tools import cli


def _demo(tmp_path: Path, *args: str) -> tuple[int, Path]:
    out = tmp_path / 'demo'
    rc = cli.main(['demo', '--output', str(out), '--gif-frames', '3', *args])
    return rc, out


@pytest.mark.slow
def test_demo_passthrough_model_on_camvid(tmp_path, camvid_val, capsys):
    # Passthrough model: labels = R channel, so every saved label image is checkable.
    model = synthetic.save_passthrough(str(tmp_path / 'pt.onnx'),
                                       [f'c{i}' for i in range(256)])
    rc, out = _demo(tmp_path, '--model-path', model, '--images', str(camvid_val[0]),
                    '--limit', '4', '--rate', '10')
    printed = capsys.readouterr().out
    assert rc == 0, printed
    assert f'Output written to {out.resolve()}/ (overlay/, labels/' in printed
    assert 'overlay.gif, overlay.mp4, outputs/ bag' in printed
    summary = json.loads((out / 'summary.json').read_text())
    assert summary['frames_sent'] == 4
    assert 1 <= summary['frames_answered'] <= 4
    assert summary['age_ms']['p50'] is not None
    assert summary['model'] == 'passthrough' and summary['node_exit_code'] == 0
    # The node's own status, read back from /diagnostics (1 Hz; the node runs for seconds).
    assert 'inference time p50 (ms)' in summary['node_diagnostics']
    frames = replay.list_images(camvid_val[0])
    labels = sorted((out / 'labels').glob('*.png'))
    assert len(labels) == summary['frames_answered']
    for path in labels:
        index = int(path.stem)
        expected = replay.read_image(frames[index])[:, :, 0]
        assert np.array_equal(cv2.imread(str(path), cv2.IMREAD_UNCHANGED), expected)
    assert len(list((out / 'overlay').glob('*.png'))) >= 1
    assert (out / 'overlay.gif').stat().st_size > 0 and (out / 'overlay.mp4').is_file()
    with Reader(out / 'outputs') as reader:
        assert reader.topics['/segmentation/labels'].msgcount == summary['frames_answered']
    # A second run into the same folder replaces the first run's files; with one frame there
    # is no rate to print, and without a GIF none is listed.
    rc, out = _demo(tmp_path, '--model-path', model, '--images', str(camvid_val[0]),
                    '--limit', '1', '--rate', '10', '--gif-frames', '0')
    assert rc == 0
    assert json.loads((out / 'summary.json').read_text())['frames_sent'] == 1
    assert len(list((out / 'labels').glob('*.png'))) <= 1
    printed = capsys.readouterr().out
    assert 'send rate n/a (one frame)' in printed and 'None' not in printed
    assert 'overlay.gif' not in printed.splitlines()[-1]


@pytest.mark.slow
def test_demo_camvid_model(tmp_path, camvid_val, camvid_onnx, capsys):
    """The README's command, on 3 frames: the exported ESPNet's labels match CamVid's."""
    # The demo's own export step, finding the session's export in its cache (no re-export).
    (tmp_path / 'cache').mkdir()
    (tmp_path / 'cache' / 'onnx').symlink_to(Path(camvid_onnx).parent)
    rc, out = _demo(tmp_path, '--limit', '3', '--as-fast-as-node', '--threads', '1',
                    '--cache', str(tmp_path / 'cache'))
    assert rc == 0, capsys.readouterr()
    summary = json.loads((out / 'summary.json').read_text())
    assert summary['frames_answered'] == 3 and summary['frames_dropped'] == 0
    assert Path(summary['model_path']).name == Path(camvid_onnx).name
    frames = replay.list_images(camvid_val[0])
    for i in range(3):
        pred = cv2.imread(str(out / 'labels' / f'{i:04d}.png'), cv2.IMREAD_UNCHANGED)
        truth = cv2.imread(str(camvid_val[1] / frames[i].name), cv2.IMREAD_UNCHANGED)
        valid = truth < 11
        # ESPNet-C measures 87.7 % global accuracy on CamVid test; a broken channel order or
        # normalisation anywhere on the way falls far below 70 %.
        assert (pred[valid] == truth[valid]).mean() > 0.7
    # The functional and grid pictures: the colours RViz shows, and a legend band below.
    from seg_ros.traversability import taxonomy
    from seg_ros.zoo import CAMVID_CLASSES
    tax = taxonomy.load(taxonomy.resolve('camvid'), CAMVID_CLASSES)
    func = sorted((out / 'functional').glob('*.png'))
    assert func, 'no functional pictures'
    rgb = cv2.imread(str(func[0]), cv2.IMREAD_COLOR)[..., ::-1]
    h = pred.shape[0]
    assert rgb.shape[0] > h and rgb.shape[1] == pred.shape[1]
    image_colours = {tuple(c) for c in np.unique(rgb[:h].reshape(-1, 3), axis=0)}
    assert image_colours <= {tuple(int(v) for v in c) for c in tax.palette}
    assert len(image_colours) >= 3
    band = rgb[h:].reshape(-1, 3)
    for colour in image_colours - {(0, 0, 0)}:
        assert (band == colour).all(axis=1).any(), f'{colour} not in the legend'
    grids = sorted((out / 'grid').glob('*.png'))
    assert grids
    g = cv2.imread(str(grids[0]), cv2.IMREAD_COLOR)[..., ::-1].reshape(-1, 3)
    assert (g == (112, 137, 134)).all(axis=1).any()   # unknown, RViz map
    # The grid legend shows the costs of CamVid's taxonomy (road 60), not a fixed 30.
    from seg_ros.tools import demo
    from seg_ros.traversability import legend
    blank = np.zeros((2, 480, 3), np.uint8)
    drawn = demo.legends(Path(camvid_onnx), argparse.Namespace(node_arg=[]))['grid'](blank)
    assert np.array_equal(drawn, legend.with_legend(blank, legend.grid_entries([0, 60, 100])))
    # The overlay has a class legend: every CamVid class in its palette colour.
    from seg_ros.inference import contract
    info = contract.check_onnx(camvid_onnx)
    ov = cv2.imread(str(out / 'overlay' / '0000.png'), cv2.IMREAD_COLOR)[..., ::-1]
    assert ov.shape[0] > h and ov.shape[1] == pred.shape[1]
    band = ov[h:].reshape(-1, 3)
    for colour in info.palette:
        if tuple(colour) != (0, 0, 0):
            assert (band == colour).all(axis=1).any(), f'{colour} not in the overlay legend'


def test_demo_node_arg_needs_an_assignment(tmp_path, capsys):
    rc, _ = _demo(tmp_path, '--model-path', 'x.onnx', '--node-arg', 'overlay_alpha=0.3')
    assert rc == 2
    assert "--node-arg 'overlay_alpha=0.3': expected NAME:=VALUE" in capsys.readouterr().err


def test_grid_legend_follows_the_taxonomy_costs():
    from seg_ros.traversability import legend, taxonomy
    from seg_ros.zoo import CAMVID_CLASSES, get
    camvid = taxonomy.load(taxonomy.resolve('camvid'), CAMVID_CLASSES)
    rugd = taxonomy.load(taxonomy.resolve('rugd'), get('bisenetv2_rugd').classes)
    names = [n for n, _ in legend.grid_entries(legend.grid_costs(camvid))]
    assert names == ['free 0', 'cost 60', 'lethal 100', 'unknown']
    entries = dict(legend.grid_entries(legend.grid_costs(rugd)))
    assert entries['cost 40'] == (153, 153, 153) and 'cost 30' not in entries


def test_demo_empty_image_folder(tmp_path, capsys):
    (tmp_path / 'empty').mkdir()
    rc, _ = _demo(tmp_path, '--images', str(tmp_path / 'empty'), '--model-path', 'x.onnx')
    assert rc == 2
    assert f'no images in {tmp_path / "empty"}' in capsys.readouterr().err


def test_demo_missing_model_file(tmp_path, camvid_val, capsys):
    rc, _ = _demo(tmp_path, '--images', str(camvid_val[0]), '--model-path',
                  str(tmp_path / 'missing.onnx'))
    assert rc == 2
    err = capsys.readouterr().err
    assert 'missing.onnx does not exist' in err and 'seg-ros export' in err


@pytest.mark.slow
def test_demo_reports_a_node_that_cannot_load_its_model(tmp_path, camvid_val, capsys):
    bad = tmp_path / 'bad.onnx'
    bad.write_bytes(b'not a model')
    rc, out = _demo(tmp_path, '--images', str(camvid_val[0]), '--model-path', str(bad),
                    '--limit', '1', '--startup-timeout', '4')
    assert rc == 2
    err = capsys.readouterr().err
    assert 'answered no frame' in err and 'node.log' in err and 'bad.onnx' in err


@pytest.mark.slow
def test_demo_without_assets_uses_the_cached_frames(tmp_path, camvid_val, monkeypatch, capsys):
    """No ../shared: frames come from the cache (filled here as a download would, offline)."""
    from seg_ros import zoo
    cache = tmp_path / 'cache'
    (cache / 'camvid_demo').mkdir(parents=True)
    for frame in zoo.DEMO_FRAMES:
        (cache / 'camvid_demo' / frame.name).write_bytes((camvid_val[0] / frame.name)
                                                         .read_bytes())
    monkeypatch.setenv('SEG_ROS_ASSETS', str(tmp_path / 'no_assets'))
    model = synthetic.save_passthrough(str(tmp_path / 'pt.onnx'),
                                       [f'c{i}' for i in range(256)])
    rc, out = _demo(tmp_path, '--model-path', model, '--cache', str(cache), '--rate', '10',
                    '--limit', '2')
    assert rc == 0, capsys.readouterr()
    summary = json.loads((out / 'summary.json').read_text())
    assert summary['images'] == str(cache / 'camvid_demo') and summary['frames_sent'] == 2


def test_demo_without_assets_or_network_says_where_to_put_frames(tmp_path, monkeypatch,
                                                                 capsys):
    from seg_ros import zoo
    monkeypatch.setenv('SEG_ROS_ASSETS', str(tmp_path / 'no_assets'))
    monkeypatch.setattr(zoo, 'DEMO_FRAMES', tuple(
        dataclasses.replace(f, base_url='http://127.0.0.1:9/unreachable')
        for f in zoo.DEMO_FRAMES))
    rc, _ = _demo(tmp_path, '--model-path', 'x.onnx', '--cache', str(tmp_path / 'cache'))
    assert rc == 2
    err = capsys.readouterr().err
    assert f'Put CamVid val PNGs in {tmp_path / "no_assets" / "data" / "camvid" / "val"}' in err
    assert 'download of http://127.0.0.1:9/unreachable' in err
