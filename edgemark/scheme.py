"""Landmark schemes as data: names, flip pairs and the inter-ocular points.

A scheme lives in a small YAML file (``edgemark/schemes/*.yaml``); the same code
serves 5, 68 and 98 points. Checkpoints and manifests store the scheme itself, not
its name, so a model carries what it needs to be read.
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

    def __post_init__(self):
        k = len(self.names)
        used = [i for p in self.flip_pairs for i in p] + list(self.interocular) + [i for e in self.eyes for i in e]
        bad = [i for i in used if not 0 <= i < k]
        if bad:
            raise EdgemarkError(f"landmark scheme {self.name!r}: indices {bad} out of range for {k} points")
        if len(self.interocular) != 2:
            raise EdgemarkError(f"landmark scheme {self.name!r}: interocular needs two point indices")

    @property
    def num_points(self) -> int:
        return len(self.names)

    @property
    def has_eyelids(self) -> bool:
        return len(self.eyes) == 2

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
            )
        except (KeyError, TypeError, ValueError) as e:
            raise EdgemarkError(f"invalid landmark scheme {d.get('name', '?')!r}: {e}") from None


BUILTIN_SCHEMES = ("cuhk5", "ibug68", "wflw98")


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
