"""Property-based fuzzing of what users feed in by hand: landmark lists (cuhk, mtfl, wflw)
and training recipes. Whatever the input, it either parses into something valid or
raises the project's named error (DataError / EdgemarkError), never another exception."""

import math

import cv2
import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgemark.data.images import read_image
from edgemark.data.lists import read_list
from edgemark.errors import DataError, EdgemarkError
from edgemark.recipe import RANGES, Range, load_recipe

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
POINTS = {"cuhk": 5, "mtfl": 5, "wflw": 98}

# what a hand-edited or foreign list holds: paths with Windows separators, ../, absolute,
# unicode, spaces; numbers in every spelling, NaN and inf; stray words
PATHS = st.one_of(
    st.sampled_from(["lfw_5590\\a.jpg", "net_7876/b.jpg", "lfw_5590/../net_7876/b.jpg", "../a.jpg", "/etc/passwd", "bad.jpg",
                     "empty.jpg", "lfw_5590", "missing.jpg", "ünï/çødé.jpg", "#lfw_5590/a.jpg", "x" * 300]),
    st.text(min_size=1, max_size=30).filter(lambda t: t.strip() and len(t.split()) == 1),
)
NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.floats(min_value=-100, max_value=200).map(lambda v: f"{v:.2f}"),
    st.integers(min_value=-10**30, max_value=10**30).map(str),
    st.sampled_from(["nan", "NaN", "inf", "-Infinity", "1e309", "-0", "1_0", "0x10", "١٢", "1,5", "", "+", ".", "e5"]),
    st.text(max_size=5),
)


@st.composite
def list_lines(draw, fmt: str):
    """A line near the format's shape: the right field count give or take, each field fuzzed."""
    k = POINTS[fmt]
    if draw(st.integers(0, 9)) == 0:
        return draw(st.text(max_size=80))  # anything at all
    count = {"cuhk": 4 + 2 * k, "mtfl": 2 * k + draw(st.integers(0, 4)), "wflw": 2 * k + 4 + 6}[fmt]
    count += draw(st.sampled_from([0, 0, 0, 0, -1, 1, -count]))
    numbers = [draw(NUMBERS) if draw(st.integers(0, 7)) == 0 else f"{draw(st.floats(0, 64)):.1f}" for _ in range(max(0, count))]
    numbers = [" ".join(n.split()) or "0" for n in numbers]  # a number field holds no whitespace
    path = draw(PATHS)
    return " ".join(numbers + [path]) if fmt == "wflw" else " ".join([path] + numbers)


@st.composite
def list_files(draw, fmt: str):
    lines = draw(st.lists(list_lines(fmt), min_size=0, max_size=6))
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    text = newline.join(lines) + draw(st.sampled_from(["", newline]))
    encoded = text.encode("utf-8", "surrogatepass")  # lone surrogates make the file invalid UTF-8
    if draw(st.booleans()) and draw(st.booleans()):
        encoded = b"\xef\xbb\xbf" + encoded  # a BOM
    return encoded


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz_lists")
    for sub, name in (("lfw_5590", "a.jpg"), ("net_7876", "b.jpg")):
        (root / sub).mkdir()
        cv2.imwrite(str(root / sub / name), np.full((64, 64, 3), 128, np.uint8))
    (root / "bad.jpg").write_bytes(b"not a jpeg")
    (root / "empty.jpg").write_bytes(b"")
    return root


def _read_list_either_parses_or_says_why(folder, fmt, data, skip_bad, check_images):
    path = folder / f"list_{fmt}.txt"
    path.write_bytes(data)
    try:
        faces = read_list(path, fmt, POINTS[fmt], skip_bad=skip_bad, check_images=check_images)
    except DataError as e:
        assert str(path) in str(e)
        return
    assert len(faces) >= 1
    for r in faces.records:
        assert r.landmarks.shape == (POINTS[fmt], 2) and np.isfinite(r.landmarks).all()
        assert (r.box is None) == (fmt == "mtfl")
        if r.box is not None:
            left, top, right, bottom = r.box
            assert all(math.isfinite(v) for v in r.box) and right > left and bottom > top
        try:
            image = read_image(r)
        except DataError as e:
            assert f"{path}:{r.line}:" in str(e)
            continue
        if r.box is not None:  # read, so its box overlaps it
            assert r.box[0] < image.shape[1] and r.box[1] < image.shape[0] and r.box[2] > 0 and r.box[3] > 0


@pytest.mark.parametrize("fmt", ["cuhk", "mtfl", "wflw"])
def test_lists_parse_or_raise_data_error(folder, fmt):
    @SETTINGS
    @given(data=list_files(fmt), skip_bad=st.booleans(), check_images=st.booleans())
    def check(data, skip_bad, check_images):
        _read_list_either_parses_or_says_why(folder, fmt, data, skip_bad, check_images)

    check()


@pytest.mark.parametrize("fmt, data", [
    ("mtfl", b"lfw_5590\\a.jpg 0.0 0.0 0.0 0.0 0.0 0.0 0.0 3.4028235677973366e+38 0.0 0.0"),  # inf as float32
    ("cuhk", b"\x00 0.0 1.0 0.0 1.0 0.0 0.0 0.0 0.0 0.0 0.0 0.0 0.0 0.0 0.0"),  # a NUL in the path
    ("mtfl", b"lfw_5590/" + b"x" * 300 + b".jpg 1 2 3 4 5 6 7 8 9 10"),  # a name too long for the file system
])
def test_inputs_fuzzing_found(folder, fmt, data):
    for check_images in (False, True):
        _read_list_either_parses_or_says_why(folder, fmt, data, skip_bad=False, check_images=check_images)


@SETTINGS
@given(data=st.binary(max_size=300), fmt=st.sampled_from(["cuhk", "mtfl", "wflw"]))
def test_any_bytes_as_a_list(folder, data, fmt):
    _read_list_either_parses_or_says_why(folder, fmt, data, skip_bad=True, check_images=True)


# recipes --------------------------------------------------------------------------------

TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=20)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(min_value=-10**40, max_value=10**40),
                    st.floats(allow_nan=True, allow_infinity=True), TEXT)
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(TEXT, inner, max_size=3)),
                      max_leaves=8)
TOP_KEYS = [k for k in RANGES if "." not in k] + ["model", "augment", "source_offsets"]


def _near(key: str):
    """Values a hand edit would give a key: in and around its range, of the right kind or not."""
    allowed = RANGES[key]
    if isinstance(allowed, Range):
        lo, hi = allowed.low, allowed.high
        near = st.one_of(st.sampled_from([lo, hi, lo - 1, hi + 1, (lo + hi) / 2, -lo, 0]),
                         st.floats(min_value=lo - 10, max_value=hi + 10), st.integers(min_value=int(lo) - 5, max_value=int(hi) + 5))
        return st.one_of(near, VALUES)
    return st.one_of(st.sampled_from(list(allowed)), VALUES)


@st.composite
def recipe_dicts(draw):
    recipe = {}
    for key in draw(st.lists(st.sampled_from(TOP_KEYS + ["learning_rate"]), max_size=6, unique=True)):
        if key in ("model", "augment"):
            sub = [k.split(".", 1)[1] for k in RANGES if k.startswith(key + ".")]
            names = draw(st.lists(st.sampled_from(sub + ["widht"]), max_size=4, unique=True))
            recipe[key] = {n: draw(_near(f"{key}.{n}") if f"{key}.{n}" in RANGES else VALUES) for n in names}
            if draw(st.integers(0, 9)) == 0:
                recipe[key] = draw(VALUES)
        elif key == "source_offsets":
            recipe[key] = draw(st.one_of(st.lists(TEXT, max_size=3), VALUES))
        elif key in RANGES:
            recipe[key] = draw(_near(key))
        else:
            recipe[key] = draw(VALUES)
    return recipe


def _load_either_valid_or_named_error(path):
    try:
        recipe = load_recipe(path)
    except EdgemarkError as e:
        assert str(path) in str(e)
        return
    values = {**recipe.to_dict(), **{f"model.{k}": v for k, v in recipe.to_dict()["model"].items()},
              **{f"augment.{k}": v for k, v in recipe.to_dict()["augment"].items()}}
    for key, allowed in RANGES.items():  # whatever loaded lies inside its stated range
        if isinstance(allowed, Range):
            assert values[key] in allowed, key
        elif key != "scheme":
            assert values[key] in allowed, key
    assert all(isinstance(s, str) and s for s in recipe.source_offsets)


@pytest.fixture(scope="module")
def recipe_path(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz_recipes") / "r.yaml"


@SETTINGS
@given(recipe=recipe_dicts())
def test_recipe_values_load_or_raise_a_named_error(recipe_path, recipe):
    recipe_path.write_text(yaml.safe_dump(recipe, allow_unicode=True), encoding="utf-8")
    _load_either_valid_or_named_error(recipe_path)


@SETTINGS
@given(text=st.one_of(st.text(max_size=200), st.text(st.sampled_from(list("{}[]:,-?!&*#|>'\"\n\t a1.%@`")), max_size=80)))
def test_any_recipe_text(recipe_path, text):
    recipe_path.write_bytes(text.encode("utf-8", "surrogatepass"))
    _load_either_valid_or_named_error(recipe_path)


@SETTINGS
@given(data=st.binary(max_size=200))
def test_any_recipe_bytes(recipe_path, data):
    recipe_path.write_bytes(data)
    _load_either_valid_or_named_error(recipe_path)
