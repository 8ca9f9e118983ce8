"""Landmark schemes as data: names, flip pairs and the inter-ocular points.

A scheme lives in a small YAML file (``edgemark/schemes/*.yaml``); the same code
serves 5, 23, 68 and 98 points. Checkpoints and manifests store the scheme itself, not
its name, so a model carries what it needs to be read.

Optional parts: ``eyes`` (two eyelid contours, p1..p6 of the eye aspect ratio),
``mouth`` (an inner-mouth contour, p1..p8 of the mouth aspect ratio, see
``face_measures``) and ``labelled`` (the points that are human labels when the others
were taught by a teacher model; empty = every point is a label). ``to_dict`` writes
``mouth`` and ``labelled`` only when set, so manifests of older schemes stay as they were.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from importlib import resources

import numpy as np

from .errors import EdgemarkError


@dataclass(frozen=True)
class LandmarkScheme:
    name: str
    names: tuple[str, ...]
    flip_pairs: tuple[tuple[int, int], ...]
    interocular: tuple[int, int]
    eyes: tuple[tuple[int, ...], ...] = field(default=())  # eyelid contours, when the scheme has them
    mouth: tuple[int, ...] = field(default=())  # inner-mouth contour p1..p8, when the scheme has one
    labelled: tuple[int, ...] = field(default=())  # human-labelled points; empty = all of them

    def __post_init__(self):
        k = len(self.names)
        used = ([i for p in self.flip_pairs for i in p] + list(self.interocular) + [i for e in self.eyes for i in e]
                + list(self.mouth) + list(self.labelled))
        bad = [i for i in used if not 0 <= i < k]
        if bad:
            raise EdgemarkError(f"landmark scheme {self.name!r}: indices {bad} out of range for {k} points")
        if len(self.interocular) != 2:
            raise EdgemarkError(f"landmark scheme {self.name!r}: interocular needs two point indices")
        if any(len(e) != 6 for e in self.eyes):
            raise EdgemarkError(f"landmark scheme {self.name!r}: each eye needs six points (p1..p6 of the eye aspect ratio)")
        if self.mouth and len(self.mouth) != 8:
            raise EdgemarkError(f"landmark scheme {self.name!r}: mouth needs eight points (left corner, three upper "
                                f"inner-lip points left to right, right corner, three lower right to left), got {len(self.mouth)}")
        if len(set(self.labelled)) != len(self.labelled):
            raise EdgemarkError(f"landmark scheme {self.name!r}: labelled lists a point twice")

    @property
    def num_points(self) -> int:
        return len(self.names)

    @property
    def has_eyelids(self) -> bool:
        return len(self.eyes) == 2

    @property
    def has_mouth(self) -> bool:
        return len(self.mouth) == 8

    @property
    def label_points(self) -> tuple[int, ...]:
        """Indices of the human-labelled points (all of them unless ``labelled`` says otherwise)."""
        return self.labelled or tuple(range(self.num_points))

    @property
    def teacher_points(self) -> tuple[int, ...]:
        """Indices of the points a teacher model gave (none unless ``labelled`` is set)."""
        labelled = set(self.label_points)
        return tuple(i for i in range(self.num_points) if i not in labelled)

    def flip_permutation(self) -> np.ndarray:
        """Index array that reorders points after a horizontal flip."""
        perm = np.arange(self.num_points)
        for a, b in self.flip_pairs:
            perm[a], perm[b] = b, a
        return perm

    def to_dict(self) -> dict:
        d = asdict(self)
        d["names"] = list(self.names)
        d["flip_pairs"] = [list(p) for p in self.flip_pairs]
        d["interocular"] = list(self.interocular)
        d["eyes"] = [list(e) for e in self.eyes]
        for key in ("mouth", "labelled"):  # only when set: older manifests and readers stay unchanged
            if d[key]:
                d[key] = list(d[key])
            else:
                del d[key]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "LandmarkScheme":
        if not isinstance(d, dict):
            raise EdgemarkError(f"invalid landmark scheme: expected a mapping (name, names, flip_pairs, interocular), "
                                f"got {type(d).__name__}")
        try:
            return cls(
                name=str(d["name"]),
                names=tuple(str(n) for n in d["names"]),
                flip_pairs=tuple((int(a), int(b)) for a, b in d.get("flip_pairs", [])),
                interocular=tuple(int(i) for i in d["interocular"]),
                eyes=tuple(tuple(int(i) for i in e) for e in d.get("eyes", [])),
                mouth=tuple(int(i) for i in d.get("mouth", [])),
                labelled=tuple(int(i) for i in d.get("labelled", [])),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise EdgemarkError(f"invalid landmark scheme {d.get('name', '?')!r}: {e}") from None


BUILTIN_SCHEMES = ("cuhk5", "drive23", "dense68", "ibug68", "wflw98")


def load_scheme(name: str) -> LandmarkScheme:
    """A built-in scheme by name, or a scheme YAML file by path."""
    import yaml  # only here: a deployed runner reads schemes from manifests, without PyYAML

    if name in BUILTIN_SCHEMES:
        text = resources.files("edgemark").joinpath("schemes", f"{name}.yaml").read_text()
        source = name
    else:
        try:
            with open(name) as f:
                text = f.read()
        except OSError as e:
            raise EdgemarkError(f"landmark scheme {name!r}: not one of {BUILTIN_SCHEMES} and not a readable file ({e})") from None
        source = name
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise EdgemarkError(f"{source}: invalid YAML: {e}") from None
    return LandmarkScheme.from_dict(data)
