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
``seg-ros demo``: the whole pipeline on real frames, end to end over ROS 2.

Exports (or reuses) the CamVid model, starts the segmentation node as its own process in a
private ROS domain, plays CamVid ``val`` frames (or any image folder) to it as a camera stream
at a set rate, records everything it publishes and writes overlays, label PNGs, a GIF, a bag
and a summary (frames in/out, FPS, age-of-frame percentiles) to the output folder.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
from pathlib import Path
import shutil
import sys
import time
from typing import Any, Optional

from seg_ros import zoo
from seg_ros.offline import replay
from seg_ros.offline.replay import ReplayError
from seg_ros.ros import dds_env
from seg_ros.ros import process

DEFAULT_MODEL = 'espnet_camvid'
CAMVID_VAL = Path('data') / 'camvid' / 'val'
RUGD_FRAMES = Path('data') / 'rugd'
# What a demo run writes: removed before a new run, nothing else in the folder is touched.
OUTPUT_ENTRIES = ('overlay', 'labels', 'functional', 'grid', 'outputs', 'overlay.gif',
                  'overlay.mp4', 'summary.json', 'node.log')
FOLDERS = {'segmentation/overlay': 'overlay', 'segmentation/labels': 'labels',
           'segmentation/functional_color': 'functional', 'traversability/grid': 'grid'}


# Up to this many model classes the overlay pictures get a class legend.
MAX_LEGEND_CLASSES = 40


class DemoError(RuntimeError):
    """A demo step that cannot go on; the message says which file to put where."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--images', metavar='DIR',
                        help='folder of frames to play (default: CamVid val from '
                             '$SEG_ROS_ASSETS, else a few frames fetched into the cache; for '
                             'a RUGD model such as bisenetv2_rugd, $SEG_ROS_ASSETS/data/rugd)')
    parser.add_argument('--model', default=DEFAULT_MODEL,
                        help=f'zoo model to export and run (default {DEFAULT_MODEL})')
    parser.add_argument('--model-path', metavar='ONNX',
                        help='run this contract model instead of exporting --model')
    parser.add_argument('--output', default='output/demo', help='output folder')
    parser.add_argument('--rate', type=float, default=5.0, help='frames per second (default 5)')
    parser.add_argument('--as-fast-as-node', action='store_true',
                        help='send each frame once the previous one is answered (ignores --rate)')
    parser.add_argument('--limit', type=int, metavar='N', help='play at most N frames')
    parser.add_argument('--backend', default='onnxruntime', help='node backend')
    parser.add_argument('--device', default='cpu', help='node device (cpu | cuda)')
    parser.add_argument('--threads', type=int, default=default_threads(),
                        help='inference threads (default: CPU cores - 1, leaving one for the '
                             'player; 0 = runtime default)')
    parser.add_argument('--cache', metavar='DIR',
                        help='where exported models (onnx/) and fetched frames (camvid_demo/) '
                             'go (default $XDG_CACHE_HOME/seg_ros or ~/.cache/seg_ros)')
    parser.add_argument('--startup-timeout', type=float, default=120.0,
                        help='seconds to wait for the node to answer its first frame')
    parser.add_argument('--gif-frames', type=int, default=40,
                        help='frames in overlay.gif (0 = no GIF)')
    parser.add_argument('--node-arg', action='append', default=[], metavar='NAME:=VALUE',
                        help='extra node parameter (repeatable)')


def default_threads() -> int:
    """
    Return the node's inference threads: every core but one.

    The player (publishing, recording, PNG writing) runs beside the node; measured on 2 cores,
    ONNX Runtime's default (all cores) answered 17 of 30 frames at 5 Hz, one thread 28 of 30.
    """
    return max(1, (os.cpu_count() or 2) - 1)


def assets_dir() -> Path:
    """Return the shared assets folder (the zoo's rule), or ``../shared`` to name in errors."""
    return zoo.assets_dir() or Path('../shared')


def cache_dir(arg: Optional[str] = None) -> Path:
    """Return the cache for exported models and fetched frames (the zoo's by default)."""
    return Path(arg) if arg else zoo.cache_dir()


def resolve_images(arg: Optional[str], cache: Path, model: str = DEFAULT_MODEL) -> Path:
    """
    Return the frame folder: the argument, else the assets' frames for the model's dataset.

    RUGD models get ``data/rugd`` (one off-road frame); everything else CamVid val from the
    assets, else the fetched demo frames.
    """
    if arg:
        replay.list_images(arg)  # fail now, with the reason, if it has no images
        return Path(arg)
    rugd = assets_dir() / RUGD_FRAMES
    if model.endswith('_rugd') and rugd.is_dir():
        return rugd
    local = assets_dir() / CAMVID_VAL
    if local.is_dir():
        return local
    dest = cache / 'camvid_demo'
    try:
        got = zoo.fetch_demo_frames(dest, frames=zoo.DEMO_FRAMES)
    except Exception as exc:  # noqa: B902 - network and checksum errors, reported as one
        raise DemoError(f'no frames: {local} does not exist and fetching them failed: {exc}. '
                        f'Put CamVid val PNGs in {local} (or set SEG_ROS_ASSETS), or pass '
                        '--images DIR') from None
    folder = Path(got) if isinstance(got, (str, Path)) and Path(got).is_dir() else dest
    replay.list_images(folder)
    return folder


def resolve_model(args: argparse.Namespace, cache: Path) -> Path:
    """Return the contract ONNX to run: --model-path, else the cached export of --model."""
    if args.model_path:
        path = Path(args.model_path)
        if not path.is_file():
            raise DemoError(f'model {path} does not exist; export one with '
                            f'`seg-ros export {DEFAULT_MODEL} -o {path}`')
        return path
    try:
        from seg_ros.zoo import export
    except ImportError as exc:
        raise DemoError(f'cannot export {args.model}: {exc} (the export extra needs torch: '
                        "pip install '.[export]'); or pass --model-path FILE.onnx") from None
    try:
        return Path(export.cached_export(args.model, cache / 'onnx'))
    except Exception as exc:  # noqa: B902 - missing weights, no network, bad checksum
        raise DemoError(f'cannot export {args.model}: {exc}') from None


def clean_output(out: Path) -> None:
    """Remove what an earlier demo run wrote (and only that)."""
    for name in OUTPUT_ENTRIES:
        path = out / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    out.mkdir(parents=True, exist_ok=True)


# CamVid was filmed from a car: the camera about 1.2 m above the road, looking level. The grid
# covers the street ahead (20 m, +-10 m at 10 cm) instead of a small robot's 8 m x 8 m.
# Later -p arguments win, so --node-arg overrides any of these.
DEMO_GEOMETRY = ('camera_pose:=[0.0, 0.0, 1.2, 0.0, 0.0, 0.0]', 'grid.resolution:=0.1',
                 'grid.x_max:=20.0', 'grid.y_min:=-10.0', 'grid.y_max:=10.0',
                 'grid.max_range:=20.0')


def node_command(model: Path, args: argparse.Namespace) -> list[str]:
    """Return the node's command line: the same module ``ros2 run`` starts."""
    params = {'model_path': model.resolve(), 'backend': args.backend, 'device': args.device,
              'threads': args.threads}
    extra = [a for value in (*DEMO_GEOMETRY, *args.node_arg) for a in ('-p', value)]
    return process.node_command(params, ros_args=extra)


def write_gif(frames: list[Path], path: Path, fps: float, width: int = 320) -> bool:
    """Write a looping GIF of the first frames, shrunk to ``width`` px (small enough to share)."""
    from PIL import Image as PILImage
    if not frames:
        return False
    images = []
    for f in frames:
        with PILImage.open(f) as im:
            h = max(1, round(im.height * width / im.width))
            images.append(im.convert('RGB').resize((width, h)).quantize(colors=128))
    images[0].save(path, save_all=True, append_images=images[1:], loop=0,
                   duration=max(20, int(1000 / max(fps, 0.1))), optimize=True)
    return True


def write_video(overlays: list[Path], n_frames: int, path: Path, fps: float) -> bool:
    """
    Write an MP4 in real time: frame i shows the newest overlay answered by then.

    A frame the node skipped (it keeps only the newest) repeats the previous overlay, as a
    display on the robot would, so the video plays at the camera's rate.
    """
    import cv2
    by_index = {int(p.stem): p for p in overlays if p.stem.isdigit() and int(p.stem) < n_frames}
    if not by_index:
        return False
    first = cv2.imread(str(by_index[min(by_index)]))
    if first is None:
        return False
    h, w = first.shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*'mp4v'), fps, (w, h))
    if not writer.isOpened():
        return False
    current = None
    for i in range(min(by_index), n_frames):
        if i in by_index:
            current = cv2.imread(str(by_index[i]))
        if current is not None and current.shape[:2] == (h, w):
            writer.write(current)
    writer.release()
    return True


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except (DemoError, ReplayError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # before playing (export, start-up): nothing worth writing
        print('demo: interrupted', file=sys.stderr)
        return 130


def _run(args: argparse.Namespace) -> int:
    if args.limit is not None and args.limit < 1:
        raise DemoError('--limit must be at least 1')
    if args.rate <= 0:
        raise DemoError('--rate must be positive')
    for arg in args.node_arg:
        name, sep, _ = arg.partition(':=')
        if not sep or not name:
            raise DemoError(f'--node-arg {arg!r}: expected NAME:=VALUE, for example '
                            '--node-arg overlay_alpha:=0.3')
    cache = cache_dir(args.cache)
    images = resolve_images(args.images, cache, args.model if not args.model_path else '')
    files = replay.list_images(images)
    if args.limit:
        files = files[:args.limit]
    model = resolve_model(args, cache)
    out = Path(args.output)
    clean_output(out)
    # The node (a child) and the player (this process) must share one private domain and the
    # SHM profile; rclpy reads them when this process initialises its context.
    env = dds_env.isolated_env()
    os.environ.update(env)

    from seg_ros.common.stats import INFERENCE_TIME, percentile_key
    from seg_ros.ros import player
    from seg_ros.ros.diagnostics import node_status_values
    inference_p50 = percentile_key(INFERENCE_TIME, 50)
    print(f'demo: model {model}, {len(files)} frames from {images}, '
          f'{"as fast as the node" if args.as_fast_as_node else f"{args.rate:g} Hz"}, '
          f'ROS_DOMAIN_ID={env["ROS_DOMAIN_ID"]}', flush=True)
    node = process.NodeProcess(node_command(model, args), env, out / 'node.log',
                               new_session=True)
    last_diag: dict[str, Any] = {}
    skipped: list[str] = []

    def skip(path: Path, why: str) -> None:
        if str(path) not in skipped:   # the warm-up may have met it first
            print(f'demo: skipping {path}: {why}', file=sys.stderr, flush=True)
            skipped.append(str(path))

    written, player_closing = contextlib.ExitStack(), contextlib.ExitStack()
    # Leaving: the node stops first, then the player (nothing is recorded after it), then the
    # files it wrote to.
    with written, player_closing, node:
        recorder = replay.BagRecorder(out / 'outputs', 'mcap')
        written.callback(recorder.close)
        p = player.Player(record=player.NODE_OUTPUTS, recorder=recorder,
                          node_name='seg_ros_demo')
        player_closing.callback(p.close)
        saver = player.ImageSaver(out, FOLDERS, p.stats.index_of, legends(model, args))
        written.callback(saver.close)

        def keep_diag(topic: str, msgtype: str, msg: Any, t: float) -> None:
            # The last status that saw inferences (the node's figures are over a window).
            values = node_status_values(msg) if topic == '/diagnostics' else {}
            if values and (not last_diag or values.get(inference_p50) != 'n/a'):
                last_diag['values'] = values

        p.hooks += [saver, keep_diag]
        for topic, msgtype in player.folder_topics():
            p.publisher(topic, msgtype)
        t0 = time.monotonic()
        try:
            p.wait_for_peer('image', args.startup_timeout, 'demo: the node never subscribed',
                            alive=node.dead)
            p.wait_for_peer('segmentation/labels', 10.0, 'demo: no labels publisher',
                            alive=node.dead)
            first = next(iter(player.folder_items(files, on_skip=skip)), None)
            if first is None:
                raise DemoError(f'none of the {len(files)} files in {images} is a readable '
                                'image')
            warm = p.warm_up(first, max(1.0, args.startup_timeout - (time.monotonic() - t0)),
                             alive=node.dead)
        except ReplayError as exc:
            if node.dead():
                raise
            raise DemoError(f'{exc}; the end of {node.log_path}:\n{node.tail()}') from None
        items = player.folder_items(files, on_skip=skip)
        print(f'demo: node answered its first frame after {time.monotonic() - t0:.1f} s '
              f'(warm-up {warm:.1f} s); playing', flush=True)
        pacer = replay.Pacer('asap') if args.as_fast_as_node else replay.Pacer('rate',
                                                                               rate=args.rate)
        try:
            p.play(items, pacer, reply_timeout=5.0 if args.as_fast_as_node else None,
                   alive=node.dead)
        except KeyboardInterrupt:
            print('demo: interrupted; writing what was recorded', file=sys.stderr)
        p.drain(idle=3.0)
        stats = p.stats.summary()
    rc = node.proc.returncode

    overlays = sorted((out / 'overlay').glob('*.png'))
    fps = args.rate if not args.as_fast_as_node else 5.0
    gif, video = out / 'overlay.gif', out / 'overlay.mp4'
    if args.gif_frames and write_gif(overlays[:args.gif_frames], gif, fps):
        stats['gif'] = str(gif)
    if write_video(overlays, stats['frames_sent'], video, fps):
        stats['video'] = str(video)
    info = _model_info(model)
    summary = {
        'model': info.get('name') or args.model, 'model_path': str(model),
        'backend': args.backend, 'device': args.device, 'threads': args.threads,
        'images': str(images), 'rate_hz': None if args.as_fast_as_node else args.rate,
        **stats,
        'saved': dict(saver.saved) if saver else {},
        'node_exit_code': rc,
        'node_diagnostics': last_diag.get('values', {}),
        'bag': str(out / 'outputs'),
        'skipped_files': skipped,
    }
    (out / 'summary.json').write_text(json.dumps(summary, indent=2) + '\n')
    _print_summary(summary, out)
    if not stats['frames_answered']:
        print(f'error: the node answered no frame; see {out / "node.log"}', file=sys.stderr)
        return 1
    return 0


def legends(model: Path, args: argparse.Namespace) -> dict[str, Any]:
    """
    Return the demo's picture decorators: a legend under each overlay, functional and grid picture.

    The overlay's legend is the model's classes in its palette (up to
    :data:`MAX_LEGEND_CLASSES`; an ADE20K model's 150 would hide the picture). The functional
    pictures are ``segmentation/functional_color`` (the taxonomy's colours, as RViz shows
    them); their legend is the taxonomy the node loads for this model (its dataset's preset, or
    a ``taxonomy:=`` given with ``--node-arg``). The grid pictures are in RViz's map colours,
    with a swatch for each cost that taxonomy gives.
    """
    from seg_ros.inference import contract
    from seg_ros.traversability import legend
    from seg_ros.traversability import taxonomy as tax
    from seg_ros.traversability.pipeline import resolve_taxonomy

    out: dict[str, Any] = {'grid': lambda rgb: legend.with_legend(rgb, legend.grid_entries())}
    name = next((a.split(':=', 1)[1] for a in args.node_arg if a.startswith('taxonomy:=')), '')
    try:
        info = contract.check_onnx(str(model))
    except contract.ContractError as exc:
        print(f'demo: no legends on the pictures ({exc})', file=sys.stderr)
        return out
    if len(info.classes) <= MAX_LEGEND_CLASSES:
        classes = legend.class_entries(info.classes, info.palette)
        out['overlay'] = lambda rgb: legend.with_legend(rgb, classes)
    try:
        taxonomy = tax.load(resolve_taxonomy(name, info.metadata.get('seg_ros.dataset')),
                            info.classes)
    except Exception as exc:  # noqa: B902 - a legend is a nicety; say why it is missing
        print(f'demo: no legend on the functional pictures ({exc})', file=sys.stderr)
        return out
    entries = legend.taxonomy_entries(taxonomy)
    grid = legend.grid_entries(legend.grid_costs(taxonomy))
    out['functional'] = lambda rgb: legend.with_legend(rgb, entries)
    out['grid'] = lambda rgb: legend.with_legend(rgb, grid)
    return out


def _model_info(model: Path) -> dict[str, str]:
    try:
        from seg_ros.inference import contract
        meta = contract.check_onnx(str(model)).metadata
        return {'name': meta.get(contract.KEY_NAME, '')}
    except Exception:  # noqa: B902 - only for the summary's label
        return {}


def _print_summary(s: dict[str, Any], out: Path) -> None:
    age = s['age_ms']
    print(f'\nseg_ros demo: {s["model"]} on {s["backend"]} ({s["device"]})')
    print(f'  frames sent {s["frames_sent"]}, labels received {s["frames_answered"]}, '
          f'dropped {s["frames_dropped"]}')
    rates = [f'{what} {s[key]} Hz' if s[key] is not None else f'{what} n/a (one frame)'
             for what, key in (('send rate', 'send_fps'), ('output rate', 'output_fps'))]
    print('  ' + ', '.join(rates))
    print(f'  age of frame at the output (ms): p50 {age["p50"]}, p95 {age["p95"]}, '
          f'p99 {age["p99"]}, max {age["max"]}')
    diag = s.get('node_diagnostics') or {}
    if diag:
        keys = [k for k in diag if 'inference' in k or 'fps' in k.lower()]
        if keys:
            print('  node: ' + ', '.join(f'{k} {diag[k]}' for k in keys))
    print(f'  saved: {replay.describe_counts(s["saved"])}')
    if s.get('skipped_files'):
        print(f'  skipped (not images or damaged): {", ".join(s["skipped_files"])}')
    written = ([f'{folder}/' for folder in FOLDERS.values() if s['saved'].get(folder)]
               + [Path(s[k]).name for k in ('gif', 'video') if s.get(k)]
               + ['outputs/ bag', 'summary.json', 'node.log'])
    print(f'\nOutput written to {out.resolve()}/ ({", ".join(written)})')
