"""A fast detector first, a thorough one only on the frames where it finds no face.

``blazeface-fast`` is BlazeFace short range quantised to int8 and run at 96 px
(``blazeface-int8-96``), with BlazeFace at 128 px (``blazeface``) for frames where the
first finds nothing. At 96 px a face that is small in the frame is often missed (eyes
28 px apart in a 640x480 frame: 55 % found, against 94 % at 128 px;
benchmarks/detector-size-2026-12-04); a frame with such a face and no nearer one goes to
the 128 px detector, so a far face costs both runs rather than being lost. A frame with
a near face and a far one keeps the near one only: the fallback does not run there.
A frame without any face pays both runs."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .detection import Detection


class FallbackDetector:
    def __init__(self, first, second, name: str):
        self.first, self.second, self.name = first, second, name
        self.training_box_rule = first.training_box_rule  # the second's detections carry their own rule
        self.default_refine = getattr(first, "default_refine", 1)
        self.description = f"{first.description}; {second.description} on frames where it finds no face"
        self.fallbacks = 0  # frames the second detector ran on

    def detect(self, frame_bgr: np.ndarray) -> list[Detection]:
        found = self.first.detect(frame_bgr)
        if found:
            return found
        self.fallbacks += 1
        return [replace(d, box_rule=d.box_rule or self.second.training_box_rule) for d in self.second.detect(frame_bgr)]
