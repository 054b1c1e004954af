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

"""The one image-folder reader, the one command-line size parser and the checkpoint key helper."""
import cv2
import numpy as np
import pytest
from seg_ros.common import images
from seg_ros.zoo.networks.checkpoints import strip_module_prefix


def test_list_images_sorted_by_name_any_case_suffix_files_only(tmp_path):
    rgb = np.zeros((4, 6, 3), np.uint8)
    for name in ('b.png', 'a.jpg', 'c.tiff'):
        assert cv2.imwrite(str(tmp_path / name), rgb)
    (tmp_path / 'a.jpg').rename(tmp_path / 'a.JPG')     # cameras often write upper case
    (tmp_path / 'notes.txt').write_text('x')
    (tmp_path / 'dir.png').mkdir()                       # a folder with an image suffix
    assert [p.name for p in images.list_images(tmp_path)] == ['a.JPG', 'b.png', 'c.tiff']


@pytest.mark.parametrize('name, problem, message', [
    ('none', images.MISSING, 'does not exist'),
    ('f.png', images.NOT_A_FOLDER, 'is a file, not a folder'),
    ('', images.EMPTY, r'no images in .* \(looked for \.png, \.jpg'),
])
def test_list_images_errors_say_what_is_wrong(tmp_path, name, problem, message):
    (tmp_path / 'f.png').write_bytes(b'a file, not a folder')
    (tmp_path / 'empty').mkdir()
    folder = tmp_path / name if name else tmp_path / 'empty'
    with pytest.raises(images.ImageFileError, match=message) as err:
        images.list_images(folder)
    assert err.value.problem == problem and err.value.path == folder


def test_read_image_gives_contiguous_rgb_or_bgr(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (5, 7, 3), np.uint8)
    assert cv2.imwrite(str(tmp_path / 'f.png'), rgb[:, :, ::-1])
    got = images.read_image(tmp_path / 'f.png')
    assert got.flags.c_contiguous and np.array_equal(got, rgb)
    assert np.array_equal(images.read_image(str(tmp_path / 'f.png'), 'bgr8'), rgb[:, :, ::-1])
    (tmp_path / 'bad.png').write_bytes(b'not a png')
    with pytest.raises(images.ImageFileError, match='cannot read image .*bad.png') as err:
        images.read_image(tmp_path / 'bad.png')
    assert err.value.problem == images.UNREADABLE
    with pytest.raises(images.ImageFileError, match="encoding 'mono8' is not supported"):
        images.read_image(tmp_path / 'f.png', 'mono8')


def test_sizes_are_width_first_with_one_message():
    assert images.parse_size('640x480') == (640, 480)
    assert images.parse_size(' 1280X720 ') == (1280, 720)
    assert images.format_size(640, 480) == '640x480'
    for bad in ('640', '0x480', 'axb', '640x480x3', '640by480', '-1x5'):
        with pytest.raises(ValueError, match=r'--opt .*: expected WIDTHxHEIGHT .*e\.g\. 640x480'):
            images.parse_size(bad, '--opt')
    with pytest.raises(ValueError, match=r'^size "7": expected WIDTHxHEIGHT'):
        images.parse_size('7')


def test_strip_module_prefix_only_when_every_key_has_it():
    plain = {'conv.weight': 1, 'bn.bias': 2}
    wrapped = {'module.' + k: v for k, v in plain.items()}
    assert strip_module_prefix(wrapped) == plain
    assert list(strip_module_prefix(wrapped)) == ['conv.weight', 'bn.bias']   # order kept
    mixed = {'module.x': 1, 'y': 2}              # a submodule really named "module"
    assert strip_module_prefix(mixed) == mixed
    out = strip_module_prefix(plain)
    assert out == plain and out is not plain
    assert strip_module_prefix({}) == {}


def test_label_files_pair_by_stem_with_the_suffix_stripped(tmp_path):
    for name in ('a_L.png', 'b_L.PNG', 'c.png', 'd_L.jpg'):
        (tmp_path / name).write_bytes(b'')
    (tmp_path / 'e_L.png').mkdir()
    assert images.label_files(tmp_path, '_L') == {'a': tmp_path / 'a_L.png',
                                                  'b': tmp_path / 'b_L.PNG'}
    assert set(images.label_files(tmp_path)) == {'a_L', 'b_L', 'c'}
