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
``seg-ros`` entry point: one sub-command per tool module, imported only when used.

Lazy imports keep ``seg-ros info`` fast and let ``seg-ros export`` be the only command that
needs PyTorch. Each tool module defines ``add_arguments(parser)`` and ``run(args) -> int``.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import Optional, Sequence

# name -> (module, one-line help)
COMMANDS = {
    'export': ('seg_ros.tools.export', 'export a zoo model into the seg_ros ONNX contract'),
    'download': ('seg_ros.tools.download', 'fetch weights and demo frames into the cache'),
    'info': ('seg_ros.tools.info', 'check a model against the contract, list its classes'),
    'build-engine': ('seg_ros.tools.build_engine', 'build a TensorRT engine from a contract ONNX'),
    'evaluate': ('seg_ros.tools.evaluate', 'per-class IoU and friends on a labelled image folder'),
    'benchmark': ('seg_ros.tools.benchmark', 'time the backend, the node and the transport'),
    'soak': ('seg_ros.tools.soak', 'stream frames to the node for minutes: drops, age, memory'),
    'replay': ('seg_ros.tools.replay', 'play a bag or image folder as camera topics, record'),
    'demo': ('seg_ros.tools.demo', 'the end-to-end demo: export, run the node on CamVid, record'),
    'bench-grid': ('seg_ros.tools.bench_grid', 'time the traversability projection (synthetic)'),
    'wrap': ('seg_ros.tools.wrap', 'turn your own segmentation ONNX into a seg_ros model'),
    'finetune': ('seg_ros.tools.finetune', 'train a zoo model on your labelled frames, export it'),
}


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog='seg-ros', description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest='command', metavar='COMMAND')
    sub.required = True
    argv = list(sys.argv[1:] if argv is None else argv)
    # Only import the chosen command's module (torch, matplotlib, rclpy are heavy).
    chosen = next((a for a in argv if not a.startswith('-')), None)
    for name, (module_name, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            module = importlib.import_module(module_name)
            module.add_arguments(p)
            p.set_defaults(_run=module.run)
    args = parser.parse_args(argv)
    return int(args._run(args) or 0)


if __name__ == '__main__':
    sys.exit(main())
