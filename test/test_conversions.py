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

"""Every supported encoding, padded rows, compressed frames and every bad-input message."""
import array

import cv2
import numpy as np
import pytest
from seg_ros.common import conversions
from seg_ros.common.conversions import ImageError
from seg_ros.ros import messages
from sensor_msgs.msg import Image

RNG = np.random.default_rng(7)
RGB = RNG.integers(0, 256, (6, 8, 3), dtype=np.uint8)


YUV_Y = RNG.integers(16, 236, (6, 8), dtype=np.uint8)
YUV_U = RNG.integers(16, 241, (6, 4), dtype=np.uint8)    # one chroma sample per pixel pair
YUV_V = RNG.integers(16, 241, (6, 4), dtype=np.uint8)


def _yuv_expected() -> np.ndarray:
    """Return the RGB of YUV_* by the BT.601 limited-range formula (independent of OpenCV)."""
    y = 1.164 * (YUV_Y.astype(float) - 16)
    u = np.repeat(YUV_U.astype(float) - 128, 2, axis=1)
    v = np.repeat(YUV_V.astype(float) - 128, 2, axis=1)
    rgb = np.dstack([y + 1.596 * v, y - 0.813 * v - 0.391 * u, y + 2.018 * u])
    return np.clip(np.rint(rgb), 0, 255)


def _yuv422(order: str) -> np.ndarray:
    out = np.zeros((6, 8, 2), np.uint8)
    chroma = 0 if order == 'uyvy' else 1
    out[:, :, 1 - chroma] = YUV_Y
    out[:, 0::2, chroma], out[:, 1::2, chroma] = YUV_U, YUV_V
    return out


def _encode(encoding: str) -> np.ndarray:
    """Return RGB in the given encoding's channel layout."""
    if encoding == 'rgb8':
        return RGB
    if encoding == 'bgr8':
        return RGB[:, :, ::-1].copy()
    if encoding == 'rgba8':
        return np.dstack([RGB, np.full(RGB.shape[:2], 200, np.uint8)])
    if encoding == 'bgra8':
        return np.dstack([RGB[:, :, ::-1], np.full(RGB.shape[:2], 7, np.uint8)])
    if encoding == 'mono8':
        return RGB[:, :, 1:2].copy()
    return _yuv422('uyvy' if encoding == 'yuv422' else 'yuyv')


def _msg(pixels: np.ndarray, encoding: str, pad: int = 0) -> Image:
    h, w = pixels.shape[:2]
    row = pixels.reshape(h, -1)
    step = row.shape[1] + pad
    padded = np.full((h, step), 0xAB, np.uint8)   # padding bytes must never reach the image
    padded[:, :row.shape[1]] = row
    msg = Image(height=h, width=w, encoding=encoding, step=step)
    msg.data = array.array('B', padded.tobytes())
    return msg


@pytest.mark.parametrize('pad', [0, 3, 16])
@pytest.mark.parametrize('encoding', ['rgb8', 'bgr8', 'rgba8', 'bgra8'])
def test_color_encodings_exact(encoding, pad):
    out = conversions.image_msg_to_rgb(_msg(_encode(encoding), encoding, pad))
    assert out.dtype == np.uint8 and out.shape == RGB.shape and out.flags.c_contiguous
    np.testing.assert_array_equal(out, RGB)


@pytest.mark.parametrize('pad', [0, 5])
def test_mono8_replicates_grey(pad):
    out = conversions.image_msg_to_rgb(_msg(_encode('mono8'), 'mono8', pad))
    for c in range(3):
        np.testing.assert_array_equal(out[:, :, c], RGB[:, :, 1])


@pytest.mark.parametrize('pad', [0, 4])
@pytest.mark.parametrize('encoding', ['yuv422', 'yuv422_yuy2'])
def test_yuv422_matches_bt601(encoding, pad):
    out = conversions.image_msg_to_rgb(_msg(_encode(encoding), encoding, pad))
    assert out.shape == (6, 8, 3)
    assert np.abs(out.astype(float) - _yuv_expected()).max() <= 2


def test_uyvy_and_yuyv_differ_by_byte_order():
    wrong = conversions.image_msg_to_rgb(_msg(_encode('yuv422'), 'yuv422_yuy2'))
    assert np.abs(wrong.astype(float) - _yuv_expected()).mean() > 10


def test_tight_rgb8_is_zero_copy():
    msg = _msg(RGB, 'rgb8')
    out = conversions.image_msg_to_rgb(msg)
    assert np.shares_memory(out, np.frombuffer(msg.data, np.uint8))


def test_padded_rgb8_skips_padding():
    msg = _msg(RGB, 'rgb8', pad=7)
    out = conversions.image_msg_to_rgb(msg)
    np.testing.assert_array_equal(out, RGB)
    assert out.flags.c_contiguous   # the runtime needs contiguous input: one copy, no padding


@pytest.mark.parametrize('msg_fields, expected', [
    ({'encoding': '16UC1'}, 'unsupported image encoding "16UC1"'),
    ({'encoding': 'rgb8', 'step': 10}, 'step 10 is shorter than one row'),
    ({'encoding': 'rgb8', 'height': 0, 'width': 0, 'step': 0}, 'empty image 0x0'),
    ({'encoding': 'rgb8', 'height': 7}, 'needs 168'),
    ({'encoding': 'yuv422', 'width': 7, 'step': 14}, 'even width'),
])
def test_bad_images_name_the_problem(msg_fields, expected):
    msg = _msg(RGB, 'rgb8')
    for k, v in msg_fields.items():
        setattr(msg, k, v)
    with pytest.raises(ImageError, match=expected):
        conversions.image_msg_to_rgb(msg)


def test_truncated_data_message_mentions_sizes():
    msg = _msg(RGB, 'rgb8')
    msg.data = msg.data[:-1]
    with pytest.raises(ImageError, match=r'has 143 bytes but step 24 x height 6'):
        conversions.image_msg_to_rgb(msg)


@pytest.mark.parametrize('ext', ['.png', '.jpg'])
def test_compressed_round_trip(ext):
    # A smooth picture with distinct channels: JPEG keeps it close, PNG exactly.
    yy, xx = np.mgrid[0:32, 0:48]
    rgb = np.dstack([xx * 5, yy * 7, 255 - xx * 5]).astype(np.uint8)
    ok, buf = cv2.imencode(ext, rgb[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    out = conversions.compressed_to_rgb(ext[1:], buf.tobytes())
    tol = 0 if ext == '.png' else 3
    assert np.abs(out.astype(float) - rgb).mean() <= tol


@pytest.mark.parametrize('payload, expected', [
    (b'', 'has no data'),
    (b'\xff\xd8\xff\xe0 definitely not a jpeg', 'cannot decode compressed image'),
])
def test_corrupt_compressed_rejected(payload, expected):
    with pytest.raises(ImageError, match=expected):
        conversions.compressed_to_rgb('jpeg', payload)


def test_image_message_round_trip():
    labels = RNG.integers(0, 12, (5, 9), dtype=np.uint8)
    msg = messages.image_message(labels, 'mono8')
    assert (msg.width, msg.height, msg.step, msg.encoding) == (9, 5, 9, 'mono8')
    np.testing.assert_array_equal(conversions.image_view('mono8', 9, 5, 9, msg.data)[:, :, 0],
                                  labels)
    rgb_msg = messages.image_message(RGB, 'rgb8')
    np.testing.assert_array_equal(conversions.image_msg_to_rgb(rgb_msg), RGB)


def test_overlay_blends_palette():
    palette = np.array([[255, 0, 0], [0, 0, 255]], np.uint8)
    lut = conversions.palette_lut(palette)
    labels = np.array([[0, 1], [1, 255]], np.uint8)   # 255: beyond the palette -> black
    rgb = np.full((2, 2, 3), 100, np.uint8)
    out = conversions.overlay(rgb, labels, lut, 0.5)
    np.testing.assert_array_equal(out[0, 0], [178, 50, 50])
    np.testing.assert_array_equal(out[0, 1], [50, 50, 178])
    np.testing.assert_array_equal(out[1, 1], [50, 50, 50])
    np.testing.assert_array_equal(conversions.overlay(rgb, labels, lut, 0.0), rgb)


def test_colorize_gives_each_label_its_colour_for_every_label_type():
    palette = np.array([[255, 0, 0], [0, 0, 255], [7, 8, 9]], np.uint8)
    lut = conversions.palette_lut(palette)
    labels = np.array([[0, 1, 2], [2, 255, 0]], np.uint8)   # 255: beyond the palette -> black
    expected = np.array([[[255, 0, 0], [0, 0, 255], [7, 8, 9]],
                         [[7, 8, 9], [0, 0, 0], [255, 0, 0]]], np.uint8)
    np.testing.assert_array_equal(conversions.colorize(labels, lut), expected)
    np.testing.assert_array_equal(conversions.colorize(labels.astype(np.int32), lut), expected)
    wide = np.tile(labels, (40, 30))                         # the OpenCV path on a real size
    np.testing.assert_array_equal(conversions.colorize(wide, lut),
                                  np.tile(expected, (40, 30, 1)))


@pytest.mark.parametrize('encoding, dtype', [('16UC1', np.uint16), ('mono16', np.uint16),
                                             ('32FC1', np.float32)])
@pytest.mark.parametrize('bigendian', [False, True])
@pytest.mark.parametrize('pad', [0, 6])
def test_depth_images(encoding, dtype, bigendian, pad):
    depth = (RNG.random((5, 7)) * 4000).astype(dtype)
    raw = depth.astype(np.dtype(dtype).newbyteorder('>' if bigendian else '<'))
    rows = np.zeros((5, 7 * raw.itemsize + pad), np.uint8)
    rows[:, :7 * raw.itemsize] = raw.view(np.uint8).reshape(5, -1)
    msg = Image(height=5, width=7, encoding=encoding, step=rows.shape[1],
                is_bigendian=int(bigendian))
    msg.data = array.array('B', rows.tobytes())
    out = conversions.depth_msg_to_array(msg)
    assert out.dtype == dtype and out.dtype.isnative
    np.testing.assert_array_equal(out, depth)


def test_bad_depth_images():
    msg = Image(height=2, width=2, encoding='rgb8', step=6)
    msg.data = array.array('B', bytes(12))
    with pytest.raises(ImageError, match='unsupported depth encoding "rgb8"'):
        conversions.depth_msg_to_array(msg)
    msg = Image(height=2, width=2, encoding='32FC1', step=8)
    msg.data = array.array('B', bytes(12))
    with pytest.raises(ImageError, match='has 12 bytes but step 8 x height 2 needs 16'):
        conversions.depth_msg_to_array(msg)
