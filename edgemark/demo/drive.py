"""Driver monitoring from landmarks and head pose: distraction (head turned or down for
too long), face lost, head nods (repeated pitch dips, a drowsiness sign), and eye
closure (eye aspect ratio and PERCLOS) only when the landmark scheme has eyelid points.
Eye centres (5 points) cannot show a closed eye, so with a 5-point model eye closure is
off, and the monitor says so."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DriveConfig:
    yaw_limit: float = 30.0  # degrees either way
    pitch_down_limit: float = 30.0  # degrees down (5-point pitch is noisy: +-15 deg on frontal faces)
    distraction_seconds: float = 1.5
    no_face_seconds: float = 1.0
    nod_depth: float = 10.0  # degrees below the recent baseline
    nod_count: int = 2  # dips within nod_window seconds
    nod_window: float = 10.0
    ear_closed: float = 0.2
    closed_seconds: float = 1.0
    perclos_window: float = 60.0


def eye_aspect_ratio(points: np.ndarray, eye: tuple[int, ...]) -> float:
    """Soukupova & Cech (2016): (|p2-p6| + |p3-p5|) / (2 |p1-p4|)."""
    p = points[list(eye)]
    return float((np.linalg.norm(p[1] - p[5]) + np.linalg.norm(p[2] - p[4])) / (2 * np.linalg.norm(p[0] - p[3]) + 1e-9))


class DriveMonitor:
    def __init__(self, scheme, config: DriveConfig = DriveConfig()):
        self.config, self.scheme = config, scheme
        self.eye_closure_available = scheme.has_eyelids
        self.away_since = self.no_face_since = self.closed_since = None
        self.distracted = self.face_missing = self.eyes_closed = False
        self.pitch_history: deque = deque()  # (t, pitch)
        self.dips: deque = deque()  # times of pitch dips
        self.in_dip = False
        self.closed_history: deque = deque()  # (t, closed)
        self.status: dict = {}

    def update(self, t: float, frame: int, points: np.ndarray | None, pose: tuple | None) -> list[dict]:
        """Advance to time ``t`` (seconds) and return the events that start now."""
        c, events = self.config, []

        def event(kind, **values):
            events.append({"time": round(t, 3), "frame": frame, "kind": kind, **values})

        if points is None or pose is None:
            self.away_since = None
            self.no_face_since = t if self.no_face_since is None else self.no_face_since
            if not self.face_missing and t - self.no_face_since >= c.no_face_seconds:
                self.face_missing = True
                event("face_lost", seconds=round(t - self.no_face_since, 3))
            self.status = {"face": False}
            return events
        if self.face_missing:
            event("face_back")
        self.face_missing, self.no_face_since = False, None
        yaw, pitch, roll = pose
        away = abs(yaw) > c.yaw_limit or pitch > c.pitch_down_limit
        if away:
            self.away_since = t if self.away_since is None else self.away_since
            if not self.distracted and t - self.away_since >= c.distraction_seconds:
                self.distracted = True
                event("distraction", yaw=round(yaw, 1), pitch=round(pitch, 1), seconds=round(t - self.away_since, 3))
        else:
            if self.distracted:
                event("attention_back", yaw=round(yaw, 1), pitch=round(pitch, 1))
            self.distracted, self.away_since = False, None
        events += self._nods(t, frame, pitch)
        status = {"face": True, "yaw": yaw, "pitch": pitch, "roll": roll, "distracted": self.distracted}
        if self.eye_closure_available:
            events += self._eyes(t, frame, points, status)
        self.status = status
        return events

    def _nods(self, t, frame, pitch) -> list[dict]:
        c = self.config
        self.pitch_history.append((t, pitch))
        while self.pitch_history and t - self.pitch_history[0][0] > 3.0:
            self.pitch_history.popleft()
        baseline = float(np.median([p for _, p in self.pitch_history]))
        events = []
        if not self.in_dip and pitch - baseline > c.nod_depth:
            self.in_dip = True
            self.dips.append(t)
            while self.dips and t - self.dips[0] > c.nod_window:
                self.dips.popleft()
            if len(self.dips) >= c.nod_count:
                events.append({"time": round(t, 3), "frame": frame, "kind": "head_nods", "dips": len(self.dips),
                               "window_s": c.nod_window, "pitch": round(pitch, 1), "baseline": round(baseline, 1)})
                self.dips.clear()
        elif self.in_dip and pitch - baseline < c.nod_depth / 2:
            self.in_dip = False
        return events

    def _eyes(self, t, frame, points, status) -> list[dict]:
        c = self.config
        ear = float(np.mean([eye_aspect_ratio(points, e) for e in self.scheme.eyes]))
        closed = ear < c.ear_closed
        self.closed_history.append((t, closed))
        while self.closed_history and t - self.closed_history[0][0] > c.perclos_window:
            self.closed_history.popleft()
        perclos = float(np.mean([v for _, v in self.closed_history]))
        status.update(ear=ear, perclos=perclos)
        events = []
        if closed:
            self.closed_since = t if self.closed_since is None else self.closed_since
            if not self.eyes_closed and t - self.closed_since >= c.closed_seconds:
                self.eyes_closed = True
                events.append({"time": round(t, 3), "frame": frame, "kind": "eyes_closed", "ear": round(ear, 3), "perclos": round(perclos, 3)})
        else:
            self.eyes_closed, self.closed_since = False, None
        return events
