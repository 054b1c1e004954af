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

"""Rates, percentiles and the OK/WARN/ERROR decision behind /diagnostics."""
import pytest
from seg_ros.common import stats


def test_rates_and_percentiles():
    s = stats.NodeStats(started=0.0)
    for i in range(11):                      # 10 Hz for one second
        s.on_input(100.0 + i * 0.1)
        s.on_output(100.0 + i * 0.1 + 0.02, inference_s=0.010 + i * 0.001, age_s=0.030)
    level, message, values = s.summary(101.0)
    assert level == stats.OK and message == 'segmenting'
    assert abs(float(values['input rate (Hz)']) - 10.0) < 0.01
    assert values['inference time p50 (ms)'] == '15.00'
    assert values['age of frame at publish p95 (ms)'] == '30.00'
    assert values['frames processed'] == '11'


def test_stage_times_and_drops_per_stage():
    s = stats.NodeStats(started=0.0)
    for i in range(4):
        s.on_input(float(i))
        s.on_decode(float(i), 0.002)
    s.on_drop()                                   # replaced before inference
    for i in range(3):                            # three segmented, labels published ...
        s.on_output(1.0 + i, 0.010 * (i + 1), 0.05)
    s.on_skip()                                   # ... one's publishing step replaced
    s.on_publishing(3.5, 0.004, overlay=True)
    s.on_publishing(3.6, 0.006)
    _, _, values = s.summary(4.0)
    assert values['frames dropped (overload)'] == '1'
    assert values['frames with labels only (publishing overload)'] == '1'
    assert values['frames processed'] == '3' and values['overlays published'] == '1'
    assert values['decode time p50 (ms)'] == '2.00'
    assert values['inference time p50 (ms)'] == '20.00'
    assert values['publishing time p50 (ms)'] == '5.00'


def test_window_forgets_old_samples():
    w = stats.Window(seconds=1.0)
    w.add(0.0, 5.0)
    w.add(0.5, 7.0)
    assert w.percentiles(0.6, (50,)) == [6.0]
    assert w.percentiles(2.0) is None and w.rate(2.0) == 0.0


def test_drops_and_rejections_counted():
    s = stats.NodeStats(started=0.0)
    s.on_input(0.0)
    s.on_drop()
    s.report('input', stats.WARN, 'frame rejected: bad step', 0.1)
    level, message, values = s.summary(0.2)
    assert level == stats.WARN and 'bad step' in message
    assert values['frames dropped (overload)'] == '1'
    assert values['frames rejected (bad input)'] == '1'


def test_warnings_fade_errors_stay_until_cleared():
    s = stats.NodeStats(started=0.0, problem_hold_s=2.0)
    s.report('input', stats.WARN, 'bad frame', 0.0)
    s.report('model', stats.ERROR, 'model not loaded', 0.0)
    for t in range(5):
        s.on_input(t + 0.5)
    assert s.summary(1.0)[0] == stats.ERROR
    assert s.summary(4.0)[1] == 'model not loaded'
    s.clear('model')
    assert s.summary(4.5)[0] == stats.OK


def test_silence_is_a_warning_naming_the_topic():
    s = stats.NodeStats(started=0.0)
    assert s.summary(1.0, topic='/cam')[0] == stats.OK
    level, message, _ = s.summary(6.0, topic='/cam')
    assert level == stats.WARN and 'no image received on /cam' in message
    s.on_input(7.0)
    assert s.summary(8.0)[0] == stats.OK
    assert 'no new image' in s.summary(20.0)[1]


def test_size_jump_and_heap_trim():
    import platform

    from seg_ros.common import memory

    jump = memory.SizeJump()
    assert not jump.changed(640 * 480)          # the first frame: nothing to compare
    assert not jump.changed(640 * 480 + 10)
    assert jump.changed(4000 * 3000)            # an outlier ...
    assert jump.changed(640 * 480)              # ... and back
    assert not jump.changed(600 * 480)
    if platform.libc_ver()[0] == 'glibc':
        assert memory.trim_heap()               # other C libraries have no malloc_trim


def test_timings_on_diagnostics_read_back_by_their_names():
    # The benchmark reads the node's own timings back from /diagnostics by these names.
    st = stats.NodeStats()
    _, _, values = st.summary(100.0)
    assert stats.read_percentiles(values, stats.AGE_AT_PUBLISH) is None   # n/a: no output yet
    for i in range(20):
        st.on_output(100.0 + i * 0.01, 0.005 + i * 0.001, 0.010 + i * 0.001)
    _, _, values = st.summary(100.3)
    age = stats.read_percentiles(values, stats.AGE_AT_PUBLISH)
    inference = stats.read_percentiles(values, stats.INFERENCE_TIME)
    assert age == {'p50': pytest.approx(19.5, abs=0.01), 'p95': pytest.approx(28.05, abs=0.01)}
    assert inference == {'p50': pytest.approx(14.5, abs=0.01),
                         'p95': pytest.approx(23.05, abs=0.01)}
