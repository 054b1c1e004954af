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

"""Model zoo: table sanity, weights lookup order, cache, verified downloads, demo frames."""
import dataclasses
import functools
import hashlib
import http.server
from pathlib import Path
import re
import shutil
import threading

import pytest
from seg_ros import zoo
from seg_ros.common.files import sha256_file
from seg_ros.inference import contract
from seg_ros.tools import cli

PAYLOAD = b'not really weights, but 64 bytes of them ' * 2


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict:
    """Point assets and the user cache at empty temporary folders."""
    assets, xdg, remote = tmp_path / 'assets', tmp_path / 'xdg', tmp_path / 'remote'
    for d in (assets / 'models', xdg, remote):
        d.mkdir(parents=True)
    monkeypatch.setenv('SEG_ROS_ASSETS', str(assets))
    monkeypatch.setenv('XDG_CACHE_HOME', str(xdg))
    (remote / 'w.pth').write_bytes(PAYLOAD)
    return {'assets': assets / 'models', 'cache': xdg / 'seg_ros' / 'models', 'remote': remote}


def _entry(url: str, sha: str = _sha(PAYLOAD)) -> zoo.ZooEntry:
    return dataclasses.replace(zoo.get('espnet_camvid'), name='tiny', weights_file='tiny.pth',
                               url=url, sha256=sha)


@pytest.fixture
def http_root(tmp_path: Path):
    """Serve a folder on a loopback HTTP server; yields (folder, base URL)."""
    root = tmp_path / 'www'
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f'http://127.0.0.1:{server.server_address[1]}'
    finally:
        server.shutdown()
        server.server_close()


def test_table_is_consistent():
    assert {'espnet_camvid', 'espnet_cityscapes'} <= set(zoo.names())
    for name in zoo.names():
        e = zoo.get(name)
        contract.parse_metadata(contract.encode_metadata(e.classes, e.palette))
        # An entry without a published sha256 is never downloaded (it needs --weights).
        assert e.sha256 == '' or re.fullmatch(r'[0-9a-f]{64}', e.sha256), name
        assert e.url.startswith('https://'), name
        assert e.licence and e.attribution, name
        h, w = e.input_size
        assert h % e.size_multiple == 0 and w % e.size_multiple == 0, name
    assert zoo.get('espnet_camvid').classes[:4] == ('sky', 'building', 'pole', 'road')
    assert len(zoo.get('espnet_camvid').classes) == 12
    assert len(zoo.get('espnet_cityscapes').classes) == 20
    assert zoo.ESPNET_COMMIT in zoo.get('espnet_camvid').url


def test_unknown_name_lists_the_zoo():
    with pytest.raises(zoo.ZooError, match='unknown model "nope".*espnet_camvid'):
        zoo.get('nope')


def test_register_rejects_duplicates_and_bad_palettes():
    with pytest.raises(ValueError, match='already exists'):
        zoo.register(zoo.get('espnet_camvid'))
    with pytest.raises(ValueError, match='palette'):
        dataclasses.replace(zoo.get('espnet_camvid'), palette=((0, 0, 0),))


def test_shared_weights_resolve_with_their_sha(assets: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv('SEG_ROS_ASSETS', str(assets))
    for name in ('espnet_camvid', 'espnet_cityscapes'):
        path = zoo.resolve_weights(name)
        assert path.parent == assets / 'models'
        assert sha256_file(path) == zoo.get(name).sha256


def test_lookup_order_assets_then_cache_then_download(dirs: dict):
    entry = _entry((dirs['remote'] / 'w.pth').as_uri())
    # Nothing local: downloaded into the cache, atomically (no partial file left).
    got = zoo.resolve_weights(entry)
    assert got == dirs['cache'] / 'tiny.pth' and got.read_bytes() == PAYLOAD
    assert sorted(p.name for p in dirs['cache'].iterdir()) == ['tiny.pth']
    # Now cached: no download needed any more.
    (dirs['remote'] / 'w.pth').unlink()
    assert zoo.resolve_weights(entry) == got
    # Assets win over the cache.
    (dirs['assets'] / 'tiny.pth').write_bytes(PAYLOAD)
    assert zoo.resolve_weights(entry) == dirs['assets'] / 'tiny.pth'


def test_explicit_weights_path_is_used_as_is(dirs: dict, tmp_path: Path):
    entry = _entry('file:///nonexistent')
    mine = tmp_path / 'finetuned.pth'
    mine.write_bytes(b'other')
    assert zoo.resolve_weights(entry, str(mine)) == mine
    with pytest.raises(zoo.ZooError, match='not found'):
        zoo.resolve_weights(entry, str(tmp_path / 'missing.pth'))


def test_wrong_local_file_is_a_clear_error(dirs: dict):
    entry = _entry('file:///nonexistent')
    bad = dirs['assets'] / 'tiny.pth'
    bad.write_bytes(b'truncated')
    with pytest.raises(zoo.ZooError) as err:
        zoo.resolve_weights(entry)
    msg = str(err.value)
    assert str(bad) in msg and _sha(b'truncated') in msg and entry.sha256 in msg
    assert 'seg-ros download tiny' in msg
    bad.unlink()
    dirs['cache'].mkdir(parents=True)
    (dirs['cache'] / 'tiny.pth').write_bytes(b'x')
    with pytest.raises(zoo.ZooError, match='tiny.pth is not the expected'):
        zoo.resolve_weights(entry)


def test_download_with_wrong_sha_saves_nothing(dirs: dict):
    entry = _entry((dirs['remote'] / 'w.pth').as_uri(), sha='0' * 64)
    with pytest.raises(zoo.ZooError) as err:
        zoo.resolve_weights(entry)
    assert entry.url in str(err.value) and _sha(PAYLOAD) in str(err.value)
    assert not dirs['cache'].exists() or not list(dirs['cache'].iterdir())


def test_http_download_and_failures(dirs: dict, http_root):
    root, base = http_root
    (root / 'w.pth').write_bytes(PAYLOAD)
    assert zoo.resolve_weights(_entry(f'{base}/w.pth')).read_bytes() == PAYLOAD
    (dirs['cache'] / 'tiny.pth').unlink()
    missing = _entry(f'{base}/missing.pth')
    with pytest.raises(zoo.ZooError) as err:
        zoo.resolve_weights(missing)
    msg = str(err.value)
    assert missing.url in msg and '404' in msg and str(dirs['cache'] / 'tiny.pth') in msg
    assert not list(dirs['cache'].iterdir())
    with pytest.raises(zoo.ZooError, match='download it by hand'):  # nothing listens there
        zoo.download('http://127.0.0.1:9/w.pth', dirs['cache'] / 'x.pth', _sha(PAYLOAD),
                     timeout=5)


def test_no_download_when_not_allowed(dirs: dict):
    with pytest.raises(zoo.ZooError, match='seg-ros download tiny'):
        zoo.resolve_weights(_entry('file:///nonexistent'), allow_download=False)


def test_demo_frames_from_assets(assets: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv('SEG_ROS_ASSETS', str(assets))
    frames = zoo.fetch_demo_frames(tmp_path / 'demo', labels=True)
    assert [p.name for p in frames] == [f.name for f in zoo.DEMO_FRAMES]
    for frame, path in zip(zoo.DEMO_FRAMES, frames):
        assert sha256_file(path) == frame.sha256
        assert sha256_file(path.parent / 'labels' / path.name) == frame.label_sha256
        assert frame.url.startswith(zoo.SEGNET_RAW) and frame.url.endswith(
            f'/CamVid/val/{frame.name}')
    mtime = frames[0].stat().st_mtime_ns
    zoo.fetch_demo_frames(tmp_path / 'demo')   # already there: untouched
    assert frames[0].stat().st_mtime_ns == mtime


def test_demo_frames_download(camvid_val, dirs: dict, tmp_path: Path):
    val, _ = camvid_val
    site = tmp_path / 'site'
    (site / 'CamVid' / 'val').mkdir(parents=True)
    frames = [dataclasses.replace(f, base_url=site.as_uri()) for f in zoo.DEMO_FRAMES[:2]]
    for f in frames:
        shutil.copyfile(val / f.name, site / 'CamVid' / 'val' / f.name)
    got = zoo.fetch_demo_frames(tmp_path / 'out', frames=frames)
    assert [sha256_file(p) for p in got] == [f.sha256 for f in frames]
    (site / 'CamVid' / 'val' / frames[0].name).write_bytes(b'changed upstream')
    (tmp_path / 'out' / frames[0].name).unlink()
    with pytest.raises(zoo.ZooError, match='expected ' + frames[0].sha256):
        zoo.fetch_demo_frames(tmp_path / 'out', frames=frames)


def test_download_cli(assets: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys):
    monkeypatch.setenv('SEG_ROS_ASSETS', str(assets))
    assert cli.main(['download', 'espnet_camvid', '--demo-frames', str(tmp_path)]) == 0
    assert 'espnet_camvid.pth' in capsys.readouterr().out
    assert len(list(tmp_path.glob('*.png'))) == len(zoo.DEMO_FRAMES)
    assert cli.main(['download', 'nope']) == 1
    assert 'unknown model' in capsys.readouterr().err
