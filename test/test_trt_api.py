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
Every TensorRT name seg_ros touches, checked against the real bindings of 10.3, 10.13 and 11.4.

TensorRT cannot be installed here, but ``../shared/tensorrt/api/*.json`` list every class, enum
and attribute the real Python bindings define (see that folder's README). The tests check that
the names the code uses directly (``trt_api.USED``) exist in all three, that the version-only
names (``trt_api.GUARDED``) are reached only through the guards, and, by reading the sources,
that no other TensorRT attribute is touched. Stand-in modules built from the listings then drive
the version-dependent decisions (precision plan, guards, error texts) exactly as each real
version would answer ``hasattr``.
"""
import ast
import json
from pathlib import Path
import types

import pytest

from seg_ros.common.share import assets_dir
from seg_ros.inference.tensorrt import engine_builder, trt_api

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [ROOT / 'seg_ros/inference/tensorrt' / f for f in (
    'backend.py', 'engine_builder.py', 'trt_api.py', 'cuda_api.py', 'engine_cache.py')] + [
    ROOT / 'seg_ros/tools/build_engine.py']
VERSIONS = ('10.3.0', '10.13.0.35', '11.4.0.106')
MODULE_ROOTS = ('trt_module', 'trt', 'tensorrt')
# Variables holding TensorRT objects, by the class the listings name them with.
OBJECT_ROOTS = {
    'builder': 'Builder', 'config': 'IBuilderConfig', 'network': 'INetworkDefinition',
    'parser': 'OnnxParser', 'profile': 'IOptimizationProfile',
    'calib_profile': 'IOptimizationProfile', 'runtime': 'Runtime', 'self._runtime': 'Runtime',
    'engine': 'ICudaEngine', 'self._engine': 'ICudaEngine', 'ctx': 'IExecutionContext',
    'self._context': 'IExecutionContext', 'inspector': 'EngineInspector', 'layer': 'ILayer',
    'timing': 'ITimingCache'}
GUARD_CALLS = ('has', 'get', 'assign', 'call')


@pytest.fixture(scope='module')
def listings() -> dict:
    """Return the three versions' attribute listings from the shared assets."""
    folder = (assets_dir() or ROOT.parent / 'shared') / 'tensorrt' / 'api'
    if not folder.is_dir():
        pytest.skip(f'TensorRT API listings not found at {folder}; set SEG_ROS_ASSETS')
    return {v: json.loads((folder / f'{v}.json').read_text()) for v in VERSIONS}


def _defines(listing: dict, dotted: str) -> bool:
    cls, _, attr = dotted.partition('.')
    if cls not in listing:
        return False
    return not attr or (isinstance(listing[cls], list) and attr in listing[cls])


def stand_in(listing: dict, version: str) -> types.SimpleNamespace:
    """Return a module that answers hasattr() like that TensorRT version's bindings."""
    module = types.SimpleNamespace(__version__=version)
    for name, attrs in listing.items():
        value = types.SimpleNamespace(**{a: f'{name}.{a}' for a in attrs}) \
            if isinstance(attrs, list) else f'<{attrs}>'
        setattr(module, name, value)
    return module


def test_used_names_exist_in_every_supported_version(listings):
    for version, listing in listings.items():
        missing = [f'{cls}.{attr}' if attr else cls
                   for cls, attrs in trt_api.USED.items() for attr in attrs
                   if not _defines(listing, f'{cls}.{attr}' if attr else cls)]
        assert missing == [], f'TensorRT {version} lacks {missing}'


def test_guarded_names_really_differ_between_versions(listings):
    for dotted in trt_api.GUARDED:
        present = [v for v, listing in listings.items() if _defines(listing, dotted)]
        assert present and len(present) < len(VERSIONS), (dotted, present)
        assert not any(dotted.endswith('.' + a) or dotted == c
                       for c, attrs in trt_api.USED.items() for a in attrs if a)


def _chain(node: ast.AST) -> list[str]:
    """Return ``a.b.c`` of an attribute access as ['a', 'b', 'c'] ([] if not rooted at a name)."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return []
    return [node.id] + parts[::-1]


def _annotations(tree: ast.AST) -> set[int]:
    """Ids of nodes inside type annotations (those name types, they touch nothing)."""
    out: set[int] = set()
    for node in ast.walk(tree):
        anns = []
        if isinstance(node, ast.AnnAssign):
            anns.append(node.annotation)
        elif isinstance(node, ast.arg) and node.annotation is not None:
            anns.append(node.annotation)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.returns:
            anns.append(node.returns)
        for ann in anns:
            out.update(id(n) for n in ast.walk(ann))
    return out


def tensorrt_uses(source: str, roots: dict = OBJECT_ROOTS) -> tuple[list[str], list[str]]:
    """Return (direct TensorRT attribute uses as 'Class.attr', guarded names by string)."""
    OBJECT_ROOTS = roots  # noqa: N806 (the module table, or one without a name a file reuses)
    tree = ast.parse(source)
    skip = _annotations(tree)
    direct, guarded = [], []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and _chain(node.func)[:1] == ['trt_api'] and node.func.attr in GUARD_CALLS:
            guarded += [a.value for a in node.args
                        if isinstance(a, ast.Constant) and isinstance(a.value, str)
                        and a.value[:1].isupper()]
        if isinstance(node, ast.Constant) and node.value in trt_api.GUARDED:
            guarded.append(node.value)   # e.g. the flags a PrecisionPlan hands to trt_api.get
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id == 'getattr' and len(node.args) >= 2 \
                and isinstance(node.args[1], ast.Constant):
            root = '.'.join(_chain(node.args[0]))
            if root in OBJECT_ROOTS:
                guarded.append(f'{OBJECT_ROOTS[root]}.{node.args[1].value}')
        if not isinstance(node, ast.Attribute):
            continue
        chain = _chain(node)
        if len(chain) >= 2 and chain[0] in MODULE_ROOTS:
            direct.append('.'.join(chain[1:3]))
        elif len(chain) >= 3 and '.'.join(chain[:2]) in OBJECT_ROOTS:
            direct.append(f'{OBJECT_ROOTS[".".join(chain[:2])]}.{chain[2]}')
        elif len(chain) >= 2 and chain[0] in OBJECT_ROOTS:
            direct.append(f'{OBJECT_ROOTS[chain[0]]}.{chain[1]}')
    return direct, guarded


def test_the_sources_touch_only_listed_or_guarded_names():
    allowed = {f'{c}.{a}' if a else c for c, attrs in trt_api.USED.items() for a in attrs}
    allowed |= set(trt_api.PYTHON_LEVEL) | set(trt_api.USED)   # a.b.c also yields a.b
    seen_guarded: set[str] = set()
    for path in SOURCES:
        roots = dict(OBJECT_ROOTS)
        if path.name == 'build_engine.py':
            del roots['parser']   # argparse's parser there
        direct, guarded = tensorrt_uses(path.read_text(), roots)
        bad = sorted(set(direct) - allowed)
        assert bad == [], f'{path.name} touches TensorRT names outside trt_api.USED: {bad}'
        wrong = sorted(set(guarded) - set(trt_api.GUARDED) - allowed)
        assert wrong == [], f'{path.name} guards names not in trt_api.GUARDED: {wrong}'
        if path.name != 'trt_api.py':   # it defines the table; the others must use it
            seen_guarded |= set(guarded) & set(trt_api.GUARDED)
    assert seen_guarded == set(trt_api.GUARDED), 'GUARDED lists names no code uses'


def test_scanner_catches_a_removed_name():
    """The scan above can fail: a direct use of a TensorRT-11-less name is reported."""
    direct, _ = tensorrt_uses('def f(trt_module, config, builder):\n'
                              '    config.set_flag(trt_module.BuilderFlag.FP16)\n'
                              '    config.int8_calibrator = None\n'
                              '    return builder.platform_has_fast_fp16\n')
    assert {'BuilderFlag.FP16', 'IBuilderConfig.int8_calibrator',
            'Builder.platform_has_fast_fp16'} <= set(direct)


@pytest.mark.parametrize('version', VERSIONS)
def test_guards_answer_like_the_real_bindings(listings, version):
    trt = stand_in(listings[version], version)
    eleven = version.startswith('11')
    assert trt_api.strongly_typed_only(trt) is eleven
    for dotted in trt_api.GUARDED:
        present = _defines(listings[version], dotted)
        assert trt_api.has(trt, dotted) is present
        if dotted.startswith(('ICudaEngine.create_runtime_config', 'IRuntimeConfig.')):
            assert present is (version != '10.3.0')     # newer than JetPack 6's TensorRT
        else:
            assert present is (not eleven)              # removed by TensorRT 11
        if not present:
            with pytest.raises(trt_api.TensorRTVersionError) as err:
                trt_api.get(trt, dotted)
            assert f'TensorRT {version} has no {dotted}' in str(err.value)
        else:
            assert trt_api.get(trt, dotted) is not None
    with pytest.raises(KeyError):
        trt_api.has(trt, 'Builder.create_network')   # not guarded: use it directly


@pytest.mark.parametrize('version', VERSIONS)
def test_precision_plan_per_version(listings, version):
    trt = stand_in(listings[version], version)
    plan = engine_builder.plan_precision
    # Typed graphs: strongly typed, no flags, on every version.
    for model in ('fp16', 'int8'):
        p = plan(trt, 'fp16', model)
        assert (p.strongly_typed, p.flags, p.calibrate, p.precision) == (True, (), False, model)
    assert plan(trt, 'fp32', 'fp32') == engine_builder.PrecisionPlan(False, (), False, 'fp32')
    if version.startswith('11'):
        for wanted in ('fp16', 'int8'):
            with pytest.raises(engine_builder.EngineBuildError) as err:
                plan(trt, wanted, 'fp32')
            assert f'TensorRT {version} builds every network strongly typed' in str(err.value)
            assert '--precision' in str(err.value)
            relaxed = plan(trt, wanted, 'fp32', strict=False)   # the node's fp16 default
            assert relaxed.precision == 'fp32' and relaxed.flags == () and relaxed.note
    else:
        assert plan(trt, 'fp16', 'fp32').flags == ('BuilderFlag.FP16',)
        p = plan(trt, 'int8', 'fp32')
        assert p.flags == ('BuilderFlag.FP16', 'BuilderFlag.INT8') and p.calibrate
        assert 'deprecated' in p.note
        for flag in p.flags:    # the flags the plan asks for exist in this version
            assert trt_api.get(trt, flag)


def test_supported_versions():
    for ok in ('10.3.0.30', '10.13.0.35', '11.4.0.106', '11.0'):
        trt_api.check_version(ok)
    for bad in ('8.6.2', '10.2.0', '12.0.1'):
        with pytest.raises(trt_api.TensorRTVersionError) as err:
            trt_api.check_version(bad)
        assert f'TensorRT {bad} is not supported' in str(err.value)
    assert trt_api.dla_note('11.4.0.106') and 'JetPack 7.2.2' in trt_api.dla_note('11.4.0')
    assert trt_api.dla_note('10.3.0') is None


def _tensorrt_imports() -> bool:
    try:
        engine_builder.import_tensorrt()
    except engine_builder.EngineBuildError:
        return False
    return True


@pytest.mark.skipif(_tensorrt_imports(), reason='needs a machine without TensorRT: the hint '
                    'is the error of a failed import')
def test_install_hint_keeps_tensorrt_11_off_a_jetpack6_jetson():
    """Defect 7: the hint must not send a JetPack 6 user to pip install tensorrt (= 11)."""
    with pytest.raises(engine_builder.EngineBuildError) as err:
        engine_builder.import_tensorrt()
    text = str(err.value)
    assert 'Do NOT pip install tensorrt on a Jetson' in text
    assert 'python3-libnvinfer' in text and '"tensorrt-cu12>=10.3,<11"' in text
