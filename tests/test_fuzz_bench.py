"""Property-based fuzzing of a device's results.json as `bench report`, `bench compare`,
`bench pareto` and the plot writers read it: arbitrary JSON, arbitrary bytes, and a valid
result with one or more values replaced (wrong types, ``../`` in names, huge or non-finite
numbers) or keys removed. Any input either works or raises EdgemarkError, never another
exception, and nothing is ever written outside the output folder."""

from __future__ import annotations

import copy
import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from edgemark.bench.report import compare, load_results, write_outputs
from edgemark.cli.bench import bench_compare, bench_pareto, bench_report
from edgemark.errors import EdgemarkError

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

NASTY_TEXT = st.sampled_from(["../evil", "../../../../tmp/evil", "..", ".", "/tmp/evil", "a/b", "a\\b", "", "x" * 300,
                              "$\\frac{", "$x$", "a\x00b", "\n", "pareto_threads1", "fp32", "int8", "torch", "onnx"])
SCALARS = (st.none() | st.booleans() | st.integers() | st.integers(-3, 10) | st.floats(allow_nan=True, allow_infinity=True)
           | st.text(max_size=12) | NASTY_TEXT)
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8) | NASTY_TEXT, inner,
                                                                                           max_size=4), max_leaves=12)


def _row(artifact, fmt, precision, threads, batch, p50, nme):
    return {"artifact": artifact, "threads": threads, "batch": batch, "device": "cpu", "pinned_cores": [0], "provider": "test",
            "load_ms": 12.0, "first_inference_ms": 1.5, "runs": 50, "p50_ms": p50, "p90_ms": p50 * 1.1, "p99_ms": p50 * 1.3,
            "mean_ms": p50 * 1.05, "std_ms": 0.01, "min_ms": p50 * 0.9, "throughput_ips": 1000 / p50, "rss_bare_mib": 27.0,
            "rss_after_mib": 60.0, "peak_rss_mib": 61.0, "rss_increase_mib": 34.0, "format": fmt, "precision": precision,
            "size_bytes": 790000, "nme": nme, "failure_rate": 0.01, "auc": 0.6, "nme_drop_pp": (nme - 0.034) * 100}


TEMPLATE = {
    "command": "edgemark bench --model m", "started": "2026-11-25T10:00:00+00:00", "device": "cpu",
    "machine": {"cpu": "AMD EPYC", "machine": "x86_64", "cores": 2, "board": None, "os": "Linux 6", "distribution": "Debian 12",
                "python": "3.11.7", "host": "vm"},
    "throttle_before": {"note": "none"},
    "versions": {"edgemark": "0.1.0", "python": "3.11.7", "onnxruntime": "1.32.0"},
    "settings": {"warmup": 20, "min_runs": 200, "min_seconds": 2.0, "threads": [1, 2], "batch": [1, 8], "pinned": True,
                 "latency": "per image"},
    "accuracy_list": "testImageList.txt (200 faces)",
    "rows": [_row("torch-fp32", "torch", "fp32", 1, 1, 2.6, 0.034), _row("onnx-fp32", "onnx", "fp32", 1, 1, 0.5, 0.034),
             _row("onnx-int8", "onnx", "int8", 1, 1, 0.3, 0.035), _row("onnx-int8", "onnx", "int8", 2, 8, 0.2, 0.035)],
    "skipped": [{"artifact": "tflite-int8", "threads": 1, "batch": 8, "reason": "the artifact has a fixed batch of 1"}],
    "pipeline_rows": [{"artifact": None, "detector": "blazeface", "threads": 1, "refine": None, "frame": "640x480", "faces_found": 1,
                       "pinned_cores": [0], "load_ms": 5.0, "runs": 50, "p50_ms": 1.0, "p90_ms": 1.1, "p99_ms": 1.2, "mean_ms": 1.0,
                       "std_ms": 0.1, "min_ms": 0.9, "throughput_ips": 1000.0, "peak_rss_mib": 50.0, "rss_increase_mib": 20.0},
                      {"artifact": "onnx-int8", "detector": "blazeface", "threads": 1, "refine": 0, "frame": "640x480",
                       "faces_found": 1, "pinned_cores": [0], "load_ms": 9.0, "runs": 50, "p50_ms": 1.4, "p90_ms": 1.5,
                       "p99_ms": 1.6, "mean_ms": 1.4, "std_ms": 0.1, "min_ms": 1.3, "throughput_ips": 700.0, "peak_rss_mib": 55.0,
                       "rss_increase_mib": 25.0}],
    "pipeline_settings": {"frame": "640x480", "refine": "each detector's default", "latency": "per frame"},
    "throttle_after": {"note": "none"}, "finished": "2026-11-25T10:05:00+00:00",
}


def _paths(value, prefix=()):
    """Every place in a JSON value: (keys and indices leading to it)."""
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, prefix + (i,))


@st.composite
def mutated_results(draw):
    """The valid template with 1-4 places replaced by arbitrary JSON or removed."""
    results = copy.deepcopy(TEMPLATE)
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.sampled_from(list(_paths(results))))
        if not where:
            continue
        parent = results
        for key in where[:-1]:
            parent = parent[key]
        if draw(st.booleans()) and isinstance(parent, dict):
            del parent[where[-1]]
        else:
            parent[where[-1]] = draw(VALUES | _like(parent[where[-1]]))
    return results


def _like(old):
    """Values of the same kind as ``old``: odd but plausible, so more examples get past the
    checks into the tables and plots."""
    if isinstance(old, bool):
        return st.booleans()
    if isinstance(old, int):
        return st.integers() | st.integers(-2, 10)
    if isinstance(old, float):
        return st.floats(allow_nan=True, allow_infinity=True) | st.floats(1e-12, 1e12)
    if isinstance(old, str):
        return st.text(max_size=40) | NASTY_TEXT
    return VALUES


class Sandbox:
    """A fresh folder per example, with the output folder inside it; on exit, checks that
    nothing appeared outside the output folder (nor beside the sandbox)."""

    def __enter__(self):
        self._tmp = tempfile.TemporaryDirectory(prefix="edgemark-fuzz-")
        self.root = Path(self._tmp.name)
        self.out = self.root / "out"
        self.out.mkdir()
        self.inputs = self.root / "in"
        self.inputs.mkdir()
        self._beside = set(self.root.parent.glob("*evil*"))
        return self

    def write(self, name: str, results) -> Path:
        folder = self.inputs / name
        folder.mkdir()
        data = results if isinstance(results, bytes) else json.dumps(results, allow_nan=True).encode()
        (folder / "results.json").write_bytes(data)
        return folder

    def check(self) -> None:
        """Files only directly in the output folder or an input folder (`bench report`
        writes beside its results.json); nothing new beside the sandbox."""
        folders = {self.out, *self.inputs.iterdir()}
        stray = [p for p in self.root.rglob("*") if p not in folders and p.parent not in folders and p != self.inputs]
        assert stray == [], stray
        assert set(self.root.parent.glob("*evil*")) == self._beside

    def __exit__(self, *exc):
        try:
            if exc[0] is None:
                self.check()
        finally:
            self._tmp.cleanup()


def _works_or_names_the_error(run) -> None:
    try:
        run()
        event("worked")  # --hypothesis-show-statistics: how often each outcome was reached
    except EdgemarkError as e:
        assert str(e)
        event("EdgemarkError")


def test_template_is_valid():
    with Sandbox() as box:
        folder = box.write("a", TEMPLATE)
        written = write_outputs(load_results(folder), box.out)
        assert {p.name for p in written} >= {"results.md", "pareto_threads1.png", "latency.png"}


@FUZZ
@given(st.binary(max_size=200) | VALUES.map(lambda v: json.dumps(v, allow_nan=True).encode()))
def test_report_on_arbitrary_bytes_or_json(data):
    with Sandbox() as box:
        folder = box.write("a", data)
        _works_or_names_the_error(lambda: bench_report(folder / "results.json"))


@FUZZ
@given(mutated_results())
def test_report_on_a_damaged_result(results):
    with Sandbox() as box:
        folder = box.write("a", results)
        _works_or_names_the_error(lambda: bench_report(folder))


@FUZZ
@given(mutated_results())
def test_plot_writers_on_a_damaged_result_given_directly(results):
    """As the SSH and fleet paths call them: the device's dict, not read through load_results."""
    with Sandbox() as box:
        _works_or_names_the_error(lambda: write_outputs(results, box.out))


@FUZZ
@given(mutated_results(), st.booleans())
def test_compare_with_a_damaged_result(results, damaged_first):
    with Sandbox() as box:
        good, bad = box.write("good", TEMPLATE), box.write("bad", results)
        a, b = (bad, good) if damaged_first else (good, bad)
        _works_or_names_the_error(lambda: bench_compare(a, b))
        _works_or_names_the_error(lambda: compare(load_results(a), load_results(b)))


@FUZZ
@given(mutated_results(), st.sampled_from([1, 2]), st.sampled_from([1, 8]))
def test_pareto_with_a_damaged_result(results, threads, batch):
    with Sandbox() as box:
        good, bad = box.write("good", TEMPLATE), box.write("bad", results)
        _works_or_names_the_error(lambda: bench_pareto([f"good={good}", str(bad / "results.json")], out=box.out / "models.png",
                                                       threads=threads, batch=batch, target="all"))
