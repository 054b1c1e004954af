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
One camera frame through the node: the model, then segmentation and its outputs.

:class:`FrameProcessor` holds what a frame needs (the loaded model, and the taxonomy and fused
grid built for its classes) and does each of the three stages of the node's pipeline
(:class:`seg_ros.ros.worker.Pipeline`): :meth:`FrameProcessor.decode` in the receiving callback
(a :class:`Decoded` frame), :meth:`FrameProcessor.process` on the inference worker (the
:class:`seg_ros.ros.worker.Stage`: the model, then the labels are published at once; it also
serves reloads, so the model changes only there) and :meth:`FrameProcessor.publish` on the
publishing worker (through :class:`PublishJob`): overlay, confidence, then the traversability
outputs in :class:`seg_ros.ros.grids.Grids`. A :class:`Segmented` frame carries the palette,
taxonomy and fused grid of the model that made it, so a reload between the stages never mixes
two models.
Loading is split in steps: the model (:meth:`FrameProcessor.load_model`), its class names on
LabelInfo, then the traversability built on its classes
(:meth:`FrameProcessor.load_traversability`).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
import gc
import time
from typing import Any, Callable, Optional

import numpy as np
from seg_ros import traversability
from seg_ros.common import conversions
from seg_ros.common import memory
from seg_ros.common import stats
from seg_ros.inference.backend import Backend, BackendError, Segmentation
from seg_ros.inference.loader import create_backend, resolve_model_path
from seg_ros.ros import messages
from seg_ros.ros import outputs as out
from seg_ros.ros.diagnostics import Diagnostics
from seg_ros.ros.grids import Grids, Streams
from seg_ros.ros.parameters import Settings
from seg_ros.ros.worker import Requests
from seg_ros.traversability.fusion import FusedGrid
from sensor_msgs.msg import CompressedImage


@dataclass(frozen=True)
class Decoded:
    """A frame decoded in the receiving callback, on its way to inference."""

    header: Any          # the image's header: every output of the frame carries it
    rgb: np.ndarray      # (H, W, 3) uint8, possibly a view of the message's buffer
    what: str            # :func:`describe_frame`, for messages
    decode_s: float


@dataclass(frozen=True)
class Segmented:
    """A segmented frame on its way to the publishing stage, with what its outputs need."""

    frame: Decoded
    result: Segmentation
    lut: np.ndarray                                      # the model's palette
    trav: Optional[traversability.Traversability]        # None: traversability off
    fusion: Optional[FusedGrid]


def describe_frame(msg: Any) -> str:
    """Name a frame in messages: stamp, frame id and size, so a log line points at it."""
    h = msg.header
    size = f' {msg.width}x{msg.height}' if hasattr(msg, 'width') else ''
    return f'the{size} frame stamped {h.stamp.sec}.{h.stamp.nanosec:09d} in "{h.frame_id}"'


class FrameProcessor:
    """The model and what is built on it; decodes, segments and publishes frames (3 stages)."""

    def __init__(self, logger: Any, clock: Any, diagnostics: Diagnostics,
                 outputs: out.Outputs, settings: Settings) -> None:
        self._logger = logger
        self._clock = clock
        self._diag = diagnostics
        self._out = outputs
        self.settings = settings
        self.trav_config: Optional[traversability.Config] = None
        self.streams: Optional[Streams] = None    # set at configure
        self.backend: Optional[Backend] = None
        self._lut = conversions.palette_lut(np.zeros((0, 3), np.uint8))
        self._grids = Grids(diagnostics, outputs, clock)
        self._size_jump = memory.SizeJump()
        self._pixels = 0
        self._tail_size_jump = memory.SizeJump()   # the publishing stage's own frames
        self._tail_pixels = 0
        # Whether the frame in hand is still wanted (Worker.serving): a frame taken before a
        # stop is neither published nor reported after it.
        self.current: Callable[[], bool] = lambda: True

    @property
    def pose_source(self) -> str:
        """Return where the camera pose of the last grid came from (TF or the parameter)."""
        return self._grids.pose_source

    # ---------------------------------------------------------------- the model
    def load(self) -> bool:
        """Load the model, announce its classes and build traversability; False if it failed."""
        if not self.load_model():
            return False
        assert self.backend is not None
        self._out.publish_label_info(self.backend.info.classes, self._clock.now().to_msg())
        self.load_traversability()
        return True

    def load_model(self) -> bool:
        """(Re)load the model of the settings; on failure a 'model' ERROR says why."""
        settings = self.settings
        if self.backend is not None:
            self.backend.close()
            self.backend = None
        try:
            path = resolve_model_path(settings.model_path)
            options = settings.backend_options
            if self.trav_config is not None and self.trav_config.min_confidence > 0:
                options = dataclasses.replace(options, confidence=True)  # for the mask
            backend = create_backend(settings.backend, path, options)
        except (BackendError, OSError) as exc:
            self._diag.problem('model', stats.ERROR, f'model not loaded: {exc}')
            return False
        self.backend = backend
        for kind in ('model', 'inference', 'processing'):  # they concerned the previous model
            self._diag.clear(kind)
        self._lut = conversions.palette_lut(backend.info.palette)
        self._logger.info(f'loaded {path} with {backend.describe()}: model '
                          f'"{backend.info.name}", {backend.info.num_classes} classes')
        return True

    def load_traversability(self) -> None:
        """(Re)build the taxonomy and grid; whatever fails there, the model keeps segmenting."""
        try:
            self._build_traversability()
        except Exception as exc:  # noqa: B902 - MemoryError, a bug: never the model's end
            self._grids.trav = self._grids.fusion = None
            self._diag.problem('traversability', stats.ERROR,
                               f'traversability not built: unexpected {type(exc).__name__}: '
                               f'{exc}; segmentation goes on without it; fix the '
                               'traversability parameters (ros2 param set) to rebuild it')

    def _build_traversability(self) -> None:
        """(Re)build the taxonomy and grid for the loaded model's classes."""
        grids = self._grids
        grids.trav = grids.fusion = None
        config, backend = self.trav_config, self.backend
        if config is None or backend is None or not config.enabled:
            return
        try:
            trav = traversability.Traversability(
                config, backend.info.classes, dataset=backend.info.metadata.get(
                    'seg_ros.dataset'))
        except (ValueError, OSError) as exc:
            # A model with no preset and no taxonomy given is a gap in the set-up (WARN); a
            # taxonomy file that is given but wrong is an error that stays until fixed.
            level = stats.WARN if not config.taxonomy else stats.ERROR
            self._diag.problem('traversability', level,
                               f'taxonomy not loaded: {exc}; no functional image or grid until '
                               'the "taxonomy" parameter is set right')
            return
        self._diag.clear('traversability')
        grids.trav = trav
        self._logger.info(f'traversability: taxonomy {trav.taxonomy_path}, grid in '
                          f'{config.grid.frame_id}')
        if config.min_confidence > 0 and not backend.info.has_confidence:
            self._logger.warning('traversability.min_confidence is set but the model has '
                                 'no confidence output: every pixel is used')
        if config.fusion.enabled:
            try:
                grids.fusion = FusedGrid(config.fusion, trav.taxonomy,
                                         config.grid.resolution)
            except ValueError as exc:
                self._diag.problem('fusion', stats.ERROR,
                                   f'{exc}; no fused grid until it is fixed')

    def interrupt(self) -> bool:
        """Ask the runtime to give up the inference in flight (see Backend.interrupt)."""
        backend = self.backend
        return backend is not None and backend.interrupt()

    def release(self) -> None:
        """Close the model and drop what is built on it (its memory goes back now)."""
        backend, self.backend = self.backend, None
        self._grids.trav = self._grids.fusion = None
        if backend is not None:
            backend.close()
            del backend
            gc.collect()  # drop the runtime's session now, not at some later collection

    # ---------------------------------------------------------------- decoding (executor)
    def decode(self, msg: Any) -> Optional[Decoded]:
        """
        Decode one frame where it is received; None (and an 'input' WARN) when it is rejected.

        A raw image is a view of the message's buffer (no copy), a compressed one is decoded
        here, so inference never waits for it; the decode time goes to /diagnostics.
        """
        t0 = time.perf_counter()
        try:
            if isinstance(msg, CompressedImage):
                rgb = conversions.compressed_to_rgb(msg.format, msg.data)
            else:
                rgb = conversions.image_msg_to_rgb(msg)
        except conversions.ImageError as exc:
            topic = self.streams.image_topic if self.streams is not None else 'image'
            self._diag.problem('input', stats.WARN, f'frame rejected on {topic}: {exc}')
            return None
        decode_s = time.perf_counter() - t0
        self._diag.on_decode(time.monotonic(), decode_s)
        return Decoded(msg.header, rgb, describe_frame(msg), decode_s)

    # ---------------------------------------------------------------- inference (head stage)
    def describe(self, frame: Decoded) -> str:
        return frame.what

    def reload(self, requests: Requests) -> None:
        if requests.model:
            self.load()
        elif requests.traversability:
            self.load_traversability()

    def process(self, frame: Decoded) -> Optional[Segmented]:
        """Run the model on one decoded frame; the result carries what its outputs need."""
        self._pixels = frame.rgb.shape[0] * frame.rgb.shape[1]
        backend = self.backend
        if backend is None:
            return None  # the 'model' problem already explains why on /diagnostics
        rgb = frame.rgb
        t0 = time.perf_counter()
        try:
            result = backend.infer(rgb)
        except Exception as exc:  # noqa: B902 - runtimes raise their own types
            if not self.current():
                return None   # interrupted by a stop: not a failure of the model
            self._diag.problem('inference', stats.ERROR,
                               f'inference failed on a {rgb.shape[1]}x{rgb.shape[0]} frame: {exc}')
            return None
        inference_s = time.perf_counter() - t0
        if not self.current():
            return None   # stopped (deactivate, shutdown) while inferring: nobody wants it
        self._diag.clear('inference')
        # The labels go out here, the moment they exist: their age never includes a hand-off
        # to another thread, and they precede every other output of the frame.
        header = frame.header
        self._out.publish(out.LABELS, messages.image_message(result.labels, 'mono8', header))
        stamp_ns = conversions.stamp_ns(header.stamp)
        age = ((self._clock.now().nanoseconds - stamp_ns) / 1e9) if stamp_ns else None
        self._diag.on_output(time.monotonic(), inference_s, age)
        # What was built for this model, taken on the thread that rebuilds it: the publishing
        # stage never pairs these labels with a taxonomy built for another model.
        return Segmented(frame, result, self._lut, self._grids.trav, self._grids.fusion)

    def failed(self, what: str, exc: Exception) -> None:
        model = self.settings.model_path
        if not what:   # while (re)loading
            self._diag.problem('model', stats.ERROR,
                               f'model not loaded: unexpected {type(exc).__name__} while loading '
                               f'{model!r}: {exc}; set model_path to a good model (ros2 param '
                               'set) to recover')
            self.backend, self._grids.trav = None, None
            return
        self._diag.problem('processing', stats.ERROR,
                           f'unexpected {type(exc).__name__} while processing {what} with '
                           f'model {model!r}: {exc}')

    def settle(self) -> None:
        if self._size_jump.changed(self._pixels):
            memory.trim_heap()   # an outlier frame's buffers go back to the system

    def settle_tail(self) -> None:
        """
        Trim the heap again once the publishing stage has moved past a size jump.

        The inference stage trims on the first small frame, while the publishing stage may still
        hold the last large frame's overlay, grid and clouds: what it frees afterwards would stay
        in the heap (measured: 30 MB after a 4000x3000 stream, BENCHMARKS.md).
        """
        if self._tail_size_jump.changed(self._tail_pixels):
            memory.trim_heap()

    # ---------------------------------------------------------------- publishing (tail stage)
    def publish(self, seg: Segmented) -> None:
        """Publish the rest of a segmented frame (its labels are out): images, traversability."""
        t0 = time.perf_counter()
        header, result = seg.frame.header, seg.result
        self._tail_pixels = result.labels.shape[0] * result.labels.shape[1]
        with_overlay = self._out.wanted(out.OVERLAY)
        if with_overlay:
            blend = conversions.overlay(seg.frame.rgb, result.labels, seg.lut,
                                        self.settings.overlay_alpha)
            self._out.publish(out.OVERLAY, messages.image_message(blend, 'rgb8', header))
        if (self.settings.publish_confidence and result.confidence is not None
                and self._out.wanted(out.CONFIDENCE)):
            conf = np.clip(result.confidence * 255.0 + 0.5, 0, 255).astype(np.uint8)
            self._out.publish(out.CONFIDENCE, messages.image_message(conf, 'mono8', header))
        if self.streams is not None and seg.trav is not None and self.current():
            self._grids.publish(self.settings, self.streams, header, result.labels,
                                result.confidence, seg.trav, seg.fusion)
        self._diag.on_publishing(time.monotonic(), time.perf_counter() - t0, with_overlay)
        self._diag.clear('processing')


class PublishJob:
    """The publishing stage of the node's pipeline (a :class:`seg_ros.ros.worker.Job`)."""

    def __init__(self, frames: FrameProcessor) -> None:
        self._frames = frames

    def describe(self, seg: Segmented) -> str:
        return seg.frame.what

    def reload(self, requests: Requests) -> None:
        """Never asked: requests go to the inference stage, which rebuilds the model."""

    def process(self, seg: Segmented) -> None:
        self._frames.publish(seg)

    def failed(self, what: str, exc: Exception) -> None:
        self._frames.failed(what, exc)

    def settle(self) -> None:
        self._frames.settle_tail()
