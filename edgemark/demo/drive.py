"""Driver monitoring from landmarks and head pose.

- Distraction (head turned or down for too long), face lost, head nods (repeated pitch
  dips, a drowsiness sign): from the head pose, which any scheme with eye, nose and mouth
  points gives (``head_pose.pose_reference``). A frame whose pose could not be solved
  still has a face: it only skips the pose checks.
- Eye closure, blinks and PERCLOS: only when the scheme has eyelid contours (``eyes``),
  judged against the driver's own open-eye EAR learnt over the first seconds of face.
- Yawns: only when the scheme has a mouth contour (``mouth``, or the inner lips and outer
  corners of the 68/98-point schemes).

Eye centres (5 points) cannot show a closed eye nor an open mouth: with a 5-point model
these stay off, and the monitor says so (``DriveMonitor.off``).

Time is the frame's time in seconds; every frame that shows a face stands for the time
since the previous frame (at most ``MAX_FRAME_SECONDS``, or twice the usual frame interval
when frames come slower than that: a stalled camera does not count, a 1 fps one does), so
PERCLOS and blink rates count only time with a visible face, at any frame rate. An eye
closure lasts as long as its closed frames stand for (n frames at 5 fps: n x 0.2 s), so a
closure of exactly ``closed_seconds`` is ``eyes_closed`` on its last closed frame; a
closure seen on a single frame is a blink of unknown length (never ``long_blink`` nor
``eyes_closed``: at 1 fps any blink fills a frame). A frame without a face interrupts an
eye closure and a yawn: a closure is timed only while it is seen.

What is learnt about the driver (the open-eye EAR, the PERCLOS window, blink counts, the
pitch baseline of the nod check) is learnt again when the face comes back after
``relearn_seconds`` without one, or when the runner says a new face is tracked
(``DriveMonitor.new_face``: another person took the seat); a ``relearn`` event says so.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, fields

import numpy as np

from ..errors import EdgemarkError
from ..face_measures import CLOSED_RATIO, EAR_FLOOR, eye_aspect_ratio, eyes_closed_by_ear, mouth_aspect_ratio
from ..head_pose import pose_reference

MAX_FRAME_SECONDS = 0.5  # a longer gap between frames (a stalled camera) counts as this much time...
SLOW_FRAMES = 2.0  # ...or this many usual frame intervals, when frames come slower than every 0.5 s
INTERVALS = 15  # the usual frame interval: the median of the last this many
EPS = 1e-6  # time comparisons: frame times like 0.1 * i are not exact in binary


@dataclass(frozen=True)
class DriveConfig:
    # Distraction, face lost and nods (unchanged from the first drive mode).
    yaw_limit: float = 30.0  # degrees either way
    pitch_down_limit: float = 30.0  # degrees down (5-point pitch is noisy: +-15 deg on frontal faces)
    distraction_seconds: float = 1.5
    no_face_seconds: float = 1.0
    nod_depth: float = 10.0  # degrees below the recent baseline
    nod_count: int = 2  # dips within nod_window seconds
    nod_window: float = 10.0
    # Eyes. The open-eye EAR differs from one person to the next (Schleicher et al. 2008,
    # "Blinks and saccades as indicators of fatigue in sleepiness warnings", Ergonomics
    # 51(7): large inter-individual differences in every lid parameter), so closure is
    # judged against the driver's own open eyes: the median EAR of each eye over the first
    # ``baseline_seconds`` of face looking ahead (the median ignores the blinks in it).
    baseline_seconds: float = 5.0
    # EAR is the lid aperture over the eye's width (Soukupova & Cech 2016, "Real-Time Eye
    # Blink Detection using Facial Landmarks", CVWW: about constant while open, low when
    # closed). The eyes count as closed (for blinks and ``eyes_closed``) when both eyes'
    # EAR / baseline are below ``closed_ratio`` (a wink is not closed eyes), or the mean EAR is below
    # ``ear_floor`` whatever the baseline (a baseline learnt on squinting eyes must not hide
    # a closed eye). 0.7, chosen on the 951 validation faces of the drive23 model's training
    # list (benchmarks/drive23.md): eyelid contour models do not close the contour on a shut
    # eye (on the 18 faces whose eyes MediaPipe's mirror-averaged mesh finds mostly shut, it
    # puts them at 0.54 of the open EAR, the shipped drive23 model, which learnt from it, at
    # 0.59); with both eyes below 0.7 that model finds 15 of the 18 (0.65: 13, 0.75: 16) and
    # takes 4.4 % of the open-eyed photos for shut, one frame each (``closed_seconds`` then
    # asks for a second of such frames).
    # (``face_measures.CLOSED_RATIO`` and ``EAR_FLOOR``, which the evaluation uses too.)
    # Closed eyes open again when either eye is back above ``reopen_ratio`` of its open EAR
    # (hysteresis: landmark jitter around ``closed_ratio`` does not split one closure into
    # several blinks).
    closed_ratio: float = CLOSED_RATIO
    ear_floor: float = EAR_FLOOR
    reopen_ratio: float = 0.8
    # ``eyes_closed`` after this long closed: a closure of 1 s or more is a microsleep
    # in the on-road PERCLOS and microsleep literature (e.g. Hertig-Godeschalk et al. 2020,
    # "Microsleep episodes in the borderland between wakefulness and sleep", Sleep 43:
    # episodes of 1-15 s).
    closed_seconds: float = 1.0
    # A blink (closed, then open within ``closed_seconds``) lasting this long or more is a
    # ``long_blink``: endogenous blinks last at most about 0.5 s (Stern, Walrath & Goldstein
    # 1984, "The endogenous eyeblink", Psychophysiology 21(1)); blink duration and the
    # share of long closures grow with drowsiness (Caffier, Erdmann & Ullsperger 2003,
    # Eur J Appl Physiol 89: 319-325).
    long_blink_seconds: float = 0.5
    # PERCLOS P80 (Wierwille et al. 1994, NHTSA DOT HS 808 247; Dinges & Grace 1998, FHWA
    # tech brief FHWA-MCRT-98-006): the share of time in the last minute that the eyes
    # were at least 80 % closed. Closure runs from the driver's open eye (EAR = baseline:
    # 0) to a shut one (EAR = ``shut_ear``: 1): eyelid contours never meet, lids and lashes
    # keep a shut eye's EAR above 0. 0.16: about the drive23 model's median EAR on the
    # shut-eyed validation faces (0.167 for the model shipped first, 0.154 for the shipped
    # one; its teacher, MediaPipe's mesh: 0.126-0.143, so a teacher's shut eye counts as
    # fully shut too). The span from open to shut is at least ``min_closure_span`` of the
    # open-eye EAR: a driver whose open EAR is near ``shut_ear`` (narrow eyes, or a model
    # that draws them so: the shipped drive23 model gives an EAR below 0.167 on 1 % of the
    # CUHK test faces, and its EAR jitters 2-9 % on a still face) would otherwise count a
    # few per cent of jitter as 80 % closed. 0.4: 80 % closed is then at most 0.68 of the
    # open EAR, below ``closed_ratio``, so P80 never asks less than a closed eye does.
    # Only time with a visible face counts. Blink rates use the same window.
    perclos_closure: float = 0.8
    shut_ear: float = 0.16
    min_closure_span: float = 0.4
    perclos_window: float = 60.0
    # ``perclos`` event at this share: 0.15 is the level commonly taken as drowsy after
    # Wierwille et al. and Dinges & Grace (studies differ: some propose 0.10-0.12); once
    # the window holds ``perclos_min_seconds`` of visible face, so that a few seconds of
    # face cannot raise it.
    perclos_limit: float = 0.15
    perclos_min_seconds: float = 30.0
    # Yawn: MAR (``face_measures.mouth_aspect_ratio``: mean inner-lip gap / mouth width
    # between the outer corners) at or above ``yawn_mar`` for ``yawn_seconds``. A yawn's
    # gape lasts seconds (about 6 s for the whole act: Provine 1986, "Yawning as a
    # stereotyped action pattern and releasing stimulus", Ethology 72); the openings of
    # speech last a syllable (a fraction of a second). The MAR limit is this project's
    # choice (no standard value: landmark sets define MAR differently), from MediaPipe's
    # mesh on the 2,027 CUHK test faces: median 0.08, 95th percentile 0.28, 99th 0.44;
    # the mouths opened wide as in a yawn (shouting, yawning) 0.5-0.7.
    yawn_mar: float = 0.4
    yawn_seconds: float = 1.5
    # Learn the driver again (open-eye EAR, PERCLOS window, blink counts, nod baseline)
    # when the face comes back after this long without one: long enough for another
    # person to take the seat, longer than a glance away from the camera.
    relearn_seconds: float = 10.0

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if not (isinstance(value, (int, float)) and np.isfinite(value) and value > 0):
                raise EdgemarkError(f"drive option --{f.name.replace('_', '-')} must be a positive number, not {value!r}")
        for name in ("closed_ratio", "reopen_ratio", "perclos_closure", "perclos_limit", "min_closure_span"):
            if getattr(self, name) >= 1:
                raise EdgemarkError(f"drive option --{name.replace('_', '-')} must be below 1, not {getattr(self, name)!r}")
        if self.reopen_ratio < self.closed_ratio:
            raise EdgemarkError(f"drive option --reopen-ratio ({self.reopen_ratio}) cannot be below "
                                f"--closed-ratio ({self.closed_ratio})")
        if self.long_blink_seconds >= self.closed_seconds:
            raise EdgemarkError(f"drive option --long-blink-seconds ({self.long_blink_seconds}) must be below "
                                f"--closed-seconds ({self.closed_seconds}): a longer closure is eyes_closed")
        if self.perclos_min_seconds > self.perclos_window:
            raise EdgemarkError(f"drive option --perclos-min-seconds ({self.perclos_min_seconds}) cannot exceed "
                                f"--perclos-window ({self.perclos_window})")


# Mouth contours (p1..p8 of ``face_measures.mouth_aspect_ratio``: left corner, three upper
# inner-lip points left to right, right corner, three lower right to left) by point name,
# for the schemes without a ``mouth`` field; the outer corners, as drive23's CUHK corners.
MOUTH_NAMES = (
    # ibug68: 48, 61-63, 54, 65-67
    ("mouth_outer_0", "mouth_inner_1", "mouth_inner_2", "mouth_inner_3", "mouth_outer_6", "mouth_inner_5",
     "mouth_inner_6", "mouth_inner_7"),
    # wflw98: 76, 89-91, 82, 93-95
    ("mouth_0", "mouth_13", "mouth_14", "mouth_15", "mouth_6", "mouth_17", "mouth_18", "mouth_19"),
)


def mouth_contour(scheme) -> tuple[int, ...]:
    """The scheme's 8-point mouth contour (its ``mouth`` field, else by point names), or ()."""
    mouth = tuple(getattr(scheme, "mouth", ()) or ())
    if len(mouth) == 8:
        return mouth
    index = {name: i for i, name in enumerate(scheme.names)}
    for names in MOUTH_NAMES:
        if all(n in index for n in names):
            return tuple(index[n] for n in names)
    return ()


def _event(t: float, frame: int, kind: str, **values) -> dict:
    return {"time": round(t, 3), "frame": frame, "kind": kind, **values}


class EyeMonitor:
    """Per-driver open-eye baseline, eye closure, blinks and PERCLOS from the eyelid contours."""

    def __init__(self, eyes, config: DriveConfig):
        self.eyes, self.config = eyes, config
        self.learn_samples: list = []  # (left EAR, right EAR) while learning
        self.learnt_seconds = 0.0
        self.baseline: tuple[float, float] | None = None
        self.closed = False  # the eyes are closed now (with hysteresis)
        self.closed_since = self.last_closed = None  # start of the closure, time of its last closed frame
        self.closed_frames = 0
        self.eyes_closed = self.perclos_high = False
        self.window: deque = deque()  # (t, seconds, P80 closed) of frames with a face
        self.window_seconds = self.window_closed = 0.0
        self.blink_times: deque = deque()
        self.blinks, self.last_blink = 0, None

    def interrupt(self) -> None:
        """No face on this frame: an eye closure is timed only while it is seen."""
        self.closed, self.closed_since, self.last_closed, self.closed_frames, self.eyes_closed = False, None, None, 0, False

    def closure(self, ears) -> float:
        """P80 closure of both eyes (mean): 0 at the open-eye EAR, 1 at ``shut_ear``, over a
        span of at least ``min_closure_span`` of the open EAR."""
        c = self.config
        return float(np.mean([np.clip((b - e) / max(b - c.shut_ear, c.min_closure_span * b, 1e-6), 0.0, 1.0)
                              for e, b in zip(ears, self.baseline)]))

    def is_closed(self, ears, closure: float) -> bool:
        """Closed (both eyes below ``closed_ratio`` of their open EAR, the mean EAR below
        ``ear_floor``, or P80 closed); once closed, until either eye is back above
        ``reopen_ratio`` and neither of the others holds."""
        c = self.config
        p80 = closure >= c.perclos_closure
        if self.closed:
            return p80 or eyes_closed_by_ear(ears, self.baseline, c.reopen_ratio, c.ear_floor)
        return p80 or eyes_closed_by_ear(ears, self.baseline, c.closed_ratio, c.ear_floor)

    def update(self, t: float, frame: int, dt: float, points: np.ndarray, looking_ahead: bool, status: dict) -> list[dict]:
        c = self.config
        ears = tuple(eye_aspect_ratio(points, e) for e in self.eyes)
        ear = float(np.mean(ears))
        status.update(ear=ear, ear_left=ears[0], ear_right=ears[1])
        if self.baseline is None:
            if looking_ahead:
                self.learn_samples.append(ears)
                self.learnt_seconds += dt
            if self.learnt_seconds >= c.baseline_seconds - EPS:
                self.baseline = tuple(float(v) for v in np.median(np.array(self.learn_samples), axis=0))
            status.update(eyes="learning", learnt_seconds=self.learnt_seconds)
            if self.baseline is None:
                return []
        closure = self.closure(ears)
        p80_closed = closure >= c.perclos_closure
        events = self._perclos(t, frame, dt, p80_closed, ear)
        self.closed = self.is_closed(ears, closure)
        if self.closed:
            if self.closed_since is None:  # this frame stands for the time since the previous one
                self.closed_since, self.closed_frames = t - dt, 0
            self.closed_frames += 1
            self.last_closed = t
            seconds = t - self.closed_since
            if not self.eyes_closed and self.closed_frames >= 2 and seconds >= c.closed_seconds - EPS:
                self.eyes_closed = True
                events.append(_event(t, frame, "eyes_closed", seconds=round(seconds, 3), ear=round(ear, 3),
                                     closure=round(closure, 3), perclos=round(self.perclos, 3)))
        elif self.closed_since is not None:
            seconds = self.last_closed - self.closed_since  # the time its closed frames stand for
            if self.eyes_closed:
                events.append(_event(t, frame, "eyes_open", seconds=round(seconds, 3)))
            else:
                self.blinks += 1
                self.last_blink = seconds
                self.blink_times.append(t)
                if self.closed_frames >= 2 and seconds >= c.long_blink_seconds - EPS:
                    events.append(_event(t, frame, "long_blink", seconds=round(seconds, 3), blinks=self.blinks))
            self.interrupt()
        while self.blink_times and t - self.blink_times[0] >= c.perclos_window:
            self.blink_times.popleft()
        status.update(eyes="on", baseline=self.baseline, closure=closure, closed=self.closed, eyes_closed=self.eyes_closed,
                      perclos=self.perclos, perclos_seconds=self.window_seconds, blinks=self.blinks,
                      blink_rate=self.blink_rate, last_blink=self.last_blink)
        return events

    @property
    def perclos(self) -> float:
        return self.window_closed / self.window_seconds if self.window_seconds > 0 else 0.0

    @property
    def blink_rate(self) -> float | None:
        """Blinks per minute of visible face in the window (None until it holds perclos_min_seconds)."""
        if self.window_seconds < self.config.perclos_min_seconds - EPS:
            return None
        return len(self.blink_times) * 60.0 / self.window_seconds

    def _perclos(self, t, frame, dt, p80_closed, ear) -> list[dict]:
        c = self.config
        self.window.append((t, dt, p80_closed))
        self.window_seconds += dt
        self.window_closed += dt * p80_closed
        while self.window and t - self.window[0][0] >= c.perclos_window:
            _, old_dt, old_closed = self.window.popleft()
            self.window_seconds -= old_dt
            self.window_closed -= old_dt * old_closed
        perclos = self.perclos
        if perclos < c.perclos_limit:
            self.perclos_high = False
        elif not self.perclos_high and self.window_seconds >= c.perclos_min_seconds - EPS:
            self.perclos_high = True
            return [_event(t, frame, "perclos", perclos=round(perclos, 3), window_s=c.perclos_window,
                           visible_s=round(self.window_seconds, 1), ear=round(ear, 3))]
        return []


class YawnMonitor:
    """Yawns from the mouth aspect ratio."""

    def __init__(self, mouth, config: DriveConfig):
        self.mouth, self.config = mouth, config
        self.open_since = None
        self.yawning = False
        self.yawns = 0

    def interrupt(self) -> None:
        self.open_since, self.yawning = None, False

    def update(self, t: float, frame: int, points: np.ndarray, status: dict) -> list[dict]:
        c = self.config
        mar = mouth_aspect_ratio(points, self.mouth)
        events = []
        if mar >= c.yawn_mar:
            self.open_since = t if self.open_since is None else self.open_since
            if not self.yawning and t - self.open_since >= c.yawn_seconds:
                self.yawning = True
                self.yawns += 1
                events.append(_event(t, frame, "yawn", mar=round(mar, 3), seconds=round(t - self.open_since, 3),
                                     yawns=self.yawns))
        else:
            self.interrupt()
        status.update(mar=mar, yawning=self.yawning, yawns=self.yawns)
        return events


class DriveMonitor:
    def __init__(self, scheme, config: DriveConfig = DriveConfig()):
        self.config, self.scheme = config, scheme
        reference = pose_reference(scheme)
        mouth = mouth_contour(scheme)
        self.eye_closure_available = scheme.has_eyelids
        self.yawn_available = bool(mouth)
        self.eyes = EyeMonitor(scheme.eyes, config) if self.eye_closure_available else None
        self.mouth = YawnMonitor(mouth, config) if self.yawn_available else None
        self.off: list[str] = []  # what this scheme cannot give, said on screen and by the CLI
        if not self.eye_closure_available:
            self.off.append(f"eye closure: off ({scheme.num_points}-point {scheme.name} model has no eyelid points; "
                            "no blinks, PERCLOS or eyes_closed)")
        if not self.yawn_available:
            self.off.append(f"yawns: off ({scheme.name} has no inner-lip points)")
        if reference is None:
            self.off.append(f"head pose: off ({scheme.name} names no eye, nose tip and mouth corner points)")
        self.away_since = self.no_face_since = None
        self.distracted = self.face_missing = False
        self.pitch_history: deque = deque()  # (t, pitch)
        self.dips: deque = deque()  # times of pitch dips
        self.in_dip = False
        self.last_t = None
        self.intervals: deque = deque(maxlen=INTERVALS)  # the last frame intervals (s)
        self.earlier_blinks = 0  # blinks of the drivers learnt before the current one
        self.new_face_seen = False
        self.status: dict = {}

    @property
    def eyes_closed(self) -> bool:
        return bool(self.eyes and self.eyes.eyes_closed)

    @property
    def blinks(self) -> int:
        """Blinks counted over the whole run (every driver)."""
        return self.earlier_blinks + (self.eyes.blinks if self.eyes else 0)

    def new_face(self) -> None:
        """The tracked face is another one (the runner's new track, away from the last face):
        learn the driver again on its next frame."""
        self.new_face_seen = True

    def relearn(self) -> None:
        """Forget what was learnt about the driver: open-eye EAR, PERCLOS window, blink
        counts (kept in ``blinks``), closures, yawn timing and the nod baseline."""
        if self.eyes:
            self.earlier_blinks += self.eyes.blinks
            self.eyes = EyeMonitor(self.scheme.eyes, self.config)
        if self.mouth:
            self.mouth.interrupt()
        self.pitch_history.clear()
        self.dips.clear()
        self.in_dip, self.away_since = False, None

    def frame_seconds(self, t: float) -> float:
        """The time this frame stands for: since the previous frame, at most
        MAX_FRAME_SECONDS or SLOW_FRAMES usual intervals (a stalled camera is not counted,
        a slow one is)."""
        if self.last_t is None:
            self.last_t = t
            return 0.0
        interval = max(t - self.last_t, 0.0)
        self.last_t = t
        self.intervals.append(interval)
        return min(interval, max(MAX_FRAME_SECONDS, SLOW_FRAMES * float(np.median(self.intervals))))

    def update(self, t: float, frame: int, points: np.ndarray | None, pose: tuple | None) -> list[dict]:
        """Advance to time ``t`` (seconds) and return the events that start now. ``points``
        None: no face on this frame; ``pose`` None with points: a face whose head pose is
        not known (the pose checks skip this frame, the rest goes on)."""
        c, events = self.config, []
        dt = self.frame_seconds(t)
        if points is None:
            self.away_since = None
            for part in (self.eyes, self.mouth):
                if part:
                    part.interrupt()
            self.no_face_since = t if self.no_face_since is None else self.no_face_since
            if not self.face_missing and t - self.no_face_since >= c.no_face_seconds - EPS:
                self.face_missing = True
                events.append(_event(t, frame, "face_lost", seconds=round(t - self.no_face_since, 3)))
            self.status = {"face": False}
            return events
        if self.face_missing:
            events.append(_event(t, frame, "face_back"))
        lost = None if self.no_face_since is None else t - self.no_face_since
        if self.new_face_seen or (lost is not None and lost >= c.relearn_seconds - EPS):
            reason = "new face" if self.new_face_seen else "face back after a long loss"
            events.append(_event(t, frame, "relearn", reason=reason, **({} if lost is None else {"lost_s": round(lost, 3)})))
            self.relearn()
        self.face_missing, self.no_face_since, self.new_face_seen = False, None, False
        status = {"face": True, "pose": pose is not None, "distracted": self.distracted}
        away = False
        if pose is not None:
            yaw, pitch, roll = pose
            away = abs(yaw) > c.yaw_limit or pitch > c.pitch_down_limit
            events += self._attention(t, frame, away, yaw, pitch)
            events += self._nods(t, frame, pitch)
            status.update(yaw=yaw, pitch=pitch, roll=roll, distracted=self.distracted)
        if self.eyes:
            events += self.eyes.update(t, frame, dt, points, not away, status)
        if self.mouth:
            events += self.mouth.update(t, frame, points, status)
        self.status = status
        return events

    def _attention(self, t, frame, away, yaw, pitch) -> list[dict]:
        c, events = self.config, []
        if away:
            self.away_since = t if self.away_since is None else self.away_since
            if not self.distracted and t - self.away_since >= c.distraction_seconds - EPS:
                self.distracted = True
                events.append(_event(t, frame, "distraction", yaw=round(yaw, 1), pitch=round(pitch, 1),
                                     seconds=round(t - self.away_since, 3)))
        else:
            if self.distracted:
                events.append(_event(t, frame, "attention_back", yaw=round(yaw, 1), pitch=round(pitch, 1)))
            self.distracted, self.away_since = False, None
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
                events.append(_event(t, frame, "head_nods", dips=len(self.dips), window_s=c.nod_window,
                                     pitch=round(pitch, 1), baseline=round(baseline, 1)))
                self.dips.clear()
        elif self.in_dip and pitch - baseline < c.nod_depth / 2:
            self.in_dip = False
        return events
