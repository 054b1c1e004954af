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

"""The ``seg-ros`` dispatcher: every sub-command's module exists and has the two hooks."""
import importlib

from seg_ros.tools import cli


def test_every_command_module_has_add_arguments_and_run():
    for name, (module_name, help_text) in cli.COMMANDS.items():
        module = importlib.import_module(module_name)
        assert callable(module.add_arguments), name
        assert callable(module.run), name
        assert help_text, name


def test_bench_grid_runs_through_the_cli(capsys):
    rc = cli.main(['bench-grid', '--frames', '2', '--size', '160x120'])
    out = capsys.readouterr().out
    assert rc == 0
    assert 'monocular:' in out and 'depth:' in out


def test_missing_model_file_names_it_and_the_fix(tmp_path, capsys):
    missing = str(tmp_path / 'missing.onnx')
    assert cli.main(['info', missing]) == 1
    err = capsys.readouterr().err
    assert f'error: {missing}: no such file' in err and 'seg-ros export' in err
    assert 'Errno' not in err
    assert cli.main(['evaluate', '--model', missing, '--images', str(tmp_path),
                     '--labels', str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f'--model {missing}: no such file' in err and 'seg-ros export' in err
    assert 'model_path' not in err   # the node's parameter means nothing here


def test_help_shows_defaults_and_what_save_writes(capsys):
    for argv in (['replay', '--help'], ['bench-grid', '--help']):
        try:
            cli.main(argv)
        except SystemExit:
            pass
    out = ' '.join(capsys.readouterr().out.split())
    for text in ('(default 2)', 'after S s (default 5)', 'default for folders 10',
                 'functional.png, grid_monocular.png and grid_depth.png'):
        assert text in out, text
