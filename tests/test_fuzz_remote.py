"""Property-based tests (hypothesis) of what the remote path reads from users and devices:
SSH target strings (from the command line and shared devices.yaml files) and a bundle's
``bundle.json``. Any input parses or raises EdgemarkError, never another exception; a
host never reaches ssh as an option; verify_bundle never opens a file outside the bundle."""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgemark.errors import EdgemarkError
from edgemark.remote.bundle import verify_bundle
from edgemark.remote.ssh import SshTarget

FUZZ = settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

# ---------------------------------------------------------------- SSH target strings

PROXY = "-oProxyCommand=touch${IFS}pwned"  # no '/', ':' or blank: passes the old ssh:// pattern


def test_a_host_beginning_with_a_dash_never_reaches_ssh_as_an_option(tmp_path, monkeypatch):
    """Before the fix ssh read the host as an option and ran the ProxyCommand here (a file
    'pwned' appeared); now the target is refused before ssh is started, naming the host."""
    monkeypatch.chdir(tmp_path)  # where the ProxyCommand would create its file
    makers = [lambda: SshTarget.parse(f"ssh://{PROXY}"), lambda: SshTarget.parse(PROXY),
              lambda: SshTarget(PROXY), lambda: SshTarget("-oProxyCommand=touch pwned", port=22)]
    refused = []
    for make in makers:
        try:
            make().run(["true"], timeout=30)
        except EdgemarkError as e:
            refused.append(str(e))
    assert not list(tmp_path.iterdir()), "ssh ran the ProxyCommand: a host was read as an option"
    assert len(refused) == len(makers) and all("begins with '-'" in e and "-oProxyCommand=touch" in e for e in refused)


def test_a_dashed_host_from_a_devices_file_is_refused(tmp_path):
    from edgemark.bench.fleet import load_devices

    (tmp_path / "devices.yaml").write_text(f"devices:\n  - name: pi\n    host: '{PROXY}'\n")
    with pytest.raises(EdgemarkError, match=r"devices.yaml:2: .*ProxyCommand.*begins with '-'"):
        load_devices(tmp_path / "devices.yaml")  # refused when the file is read, before any device runs


@pytest.mark.parametrize("host", ["pi@-oProxyCommand=x", "pi 4", "pi\t4", "pi\n4", "pi\x00", "pi\x1b[2J", "pi\u200b", ""])
def test_a_host_with_blanks_or_control_characters_is_refused(host):
    with pytest.raises(EdgemarkError) as e:
        SshTarget(host)
    assert repr(host) in str(e.value)


@pytest.mark.parametrize("spec,kwargs", [("ssh://pi:99999", {}), ("ssh://pi:0", {}), ("pi:65536", {}), ("ssh://pi:00000", {}),
                                         ("ssh://pi:" + "9" * 5000, {}), ("pi", {"port": 0}), ("pi", {"port": 70000}),
                                         ("pi", {"port": -22}), ("pi", {"port": "22"}), ("pi", {"port": True}),
                                         ("ssh://pi:99999", {"port": 22})])
def test_a_port_out_of_range_is_refused(spec, kwargs):
    with pytest.raises(EdgemarkError, match="not a port number"):
        SshTarget.parse(spec, **kwargs)


def test_ports_in_range_are_kept():
    assert SshTarget.parse("ssh://pi@pi4.local:2222").port == 2222
    assert SshTarget.parse("pi@pi4.local:1").port == 1
    assert SshTarget.parse("ssh://pi:65535/").port == 65535
    assert SshTarget.parse("ssh://pi:2222", port=22).port == 22  # --port wins, as before
    assert SshTarget.parse("edgedevice").port is None


def check_target(target: SshTarget) -> None:
    host = target.host
    assert host and not host.startswith("-") and not host.rpartition("@")[2].startswith("-")
    assert all(ch.isprintable() and not ch.isspace() for ch in host)
    assert target.port is None or 1 <= target.port <= 65535
    argv = target.command(["true"])
    assert argv[argv.index("--") - 1] == host  # the host is where ssh takes its destination


hosts = st.text(alphabet=st.characters(codec="utf-8"), max_size=30)
specs = st.one_of(
    st.text(max_size=60),
    st.builds(lambda scheme, dash, user, host, port, slash: f"{scheme}{dash}{user}{host}{port}{slash}",
              st.sampled_from(["", "ssh://", "SSH://", "ssh:/", "ssh:///"]), st.sampled_from(["", "-", "--", "-o", "-oProxyCommand="]),
              st.one_of(st.just(""), hosts.map(lambda u: u + "@")), hosts,
              st.one_of(st.just(""), st.integers(-70000, 10**6).map(lambda p: f":{p}"),
                        st.text(alphabet="0123456789٠١٢३", min_size=1, max_size=8).map(lambda p: f":{p}")),
              st.sampled_from(["", "/", "//", "/path"])),
)


@FUZZ
@given(specs)
def test_fuzz_ssh_target_strings(spec):
    try:
        target = SshTarget.parse(spec)
    except EdgemarkError:
        return
    check_target(target)


@FUZZ
@given(hosts, st.one_of(st.none(), st.integers(-10, 10**6), st.text(max_size=6), st.floats(), st.booleans()))
def test_fuzz_ssh_targets_made_directly(host, port):
    try:
        target = SshTarget(host, port=port)
    except EdgemarkError:
        return
    check_target(target)


# ---------------------------------------------------------------- bundle.json

OPENED: list | None = None


def _record_opens(event, args):
    if OPENED is not None and event == "open" and isinstance(args[0], (str, bytes, Path)):
        OPENED.append(args[0])


sys.addaudithook(_record_opens)  # every file open in this process; recorded only around verify_bundle


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def place():
    """A bundle folder with a few real files, an artifact whose manifest lists a file outside,
    a symlink leading out, and a secret file beside the bundle (never to be read)."""
    top = Path(tempfile.mkdtemp(prefix="edgemark-fuzz-"))
    bundle = top / "bundle"
    (bundle / "runner").mkdir(parents=True)
    (bundle / "runner" / "a.py").write_text("print('a')\n")
    (bundle / "models").mkdir()
    (bundle / "models" / "m.bin").write_bytes(b"\x00model")
    (top / "secret.txt").write_text("secret\n")
    (bundle / "link-out").symlink_to(top / "secret.txt")
    (bundle / "loop").symlink_to(bundle / "loop")
    artifact = bundle / "artifacts" / "onnx-fp32"
    artifact.mkdir(parents=True)
    (artifact / "model.onnx").write_bytes(b"onnx")
    secret = {"sha256": sha(b"secret\n"), "bytes": 7}
    (artifact / "manifest.json").write_text(json.dumps({
        "manifest_version": 1, "format": "onnx", "precision": "fp32", "model_file": "model.onnx", "input": {}, "output": {},
        "crop": {}, "scheme": "cuhk5", "files": {"model.onnx": {"sha256": sha(b"onnx"), "bytes": 4}, "../../../secret.txt": secret}}))
    (bundle / "artifacts" / "broken").mkdir()
    (bundle / "artifacts" / "broken" / "manifest.json").write_text('{"files": 5}')
    yield top, bundle
    shutil.rmtree(top)


def write_bundle_json(bundle: Path, content) -> None:
    (bundle / "bundle.json").write_bytes(content if isinstance(content, bytes) else json.dumps(content).encode())


def verify_and_watch(bundle: Path):
    """verify_bundle's answer (a dict, or the EdgemarkError) and the files it opened."""
    global OPENED
    OPENED = []
    try:
        answer = verify_bundle(bundle)
    except EdgemarkError as e:
        answer = e
    finally:
        opened, OPENED = OPENED, None
    root = bundle.resolve()
    outside = [p for p in opened if not Path(p if isinstance(p, str) else p.decode(errors="replace")).resolve().is_relative_to(root)]
    assert not outside, f"verify_bundle opened files outside the bundle: {outside}"
    return answer


@pytest.mark.parametrize("name", ["../secret.txt", "runner/../../secret.txt", "link-out", "ABSOLUTE"])
def test_verify_bundle_refuses_a_listed_file_outside_the_bundle(place, name):
    """Before the fix a bundle.json listing ../secret.txt with its hash verified as ok."""
    top, bundle = place
    name = str(top / "secret.txt") if name == "ABSOLUTE" else name
    write_bundle_json(bundle, {"files": {"runner/a.py": sha(b"print('a')\n"), name: sha(b"secret\n")}, "artifacts": []})
    answer = verify_and_watch(bundle)
    assert isinstance(answer, EdgemarkError) and repr(name) in str(answer)


@pytest.mark.parametrize("artifacts", [["onnx-fp32"], ["../../secret"], ["/tmp"], [".."], [7]])
def test_verify_bundle_refuses_an_artifact_outside_the_bundle(place, artifacts):
    """An artifact name is one folder under artifacts/, and the files its manifest lists stay in the bundle."""
    top, bundle = place
    write_bundle_json(bundle, {"files": {}, "artifacts": artifacts})
    answer = verify_and_watch(bundle)
    assert isinstance(answer, EdgemarkError) and ("secret.txt" in str(answer) or repr(artifacts[0]) in str(answer))


@pytest.mark.parametrize("content", [b"\xff\xfe garbage", b"[]", b'{"files": 3, "artifacts": []}', b'{"files": {}}',
                                     b"[" * 100000, b'{"files": {"a": 1}, "artifacts": [' + b"9" * 5000 + b"]}", b""])
def test_verify_bundle_garbage_is_the_named_error(place, content):
    top, bundle = place
    write_bundle_json(bundle, content)
    answer = verify_and_watch(bundle)
    assert isinstance(answer, EdgemarkError) and str(bundle) in str(answer)


def test_verify_bundle_accepts_a_good_one(place):
    top, bundle = place
    write_bundle_json(bundle, {"files": {"runner/a.py": sha(b"print('a')\n"), "models/m.bin": sha(b"\x00model")}, "artifacts": []})
    assert verify_and_watch(bundle) == {"bundle": str(bundle), "files": 2, "artifacts": [], "ok": True}


names = st.one_of(st.sampled_from(["runner/a.py", "models/m.bin", "./runner/a.py", "runner//a.py", "../secret.txt", "link-out",
                                   "loop", "loop/x", "runner/../../secret.txt", "/etc/hostname", "runner", "", ".", "..",
                                   "bundle.json", "artifacts/onnx-fp32/model.onnx", "a\x00b", "a\\..\\b", "ABSOLUTE"]),
                  st.text(max_size=20))
digests = st.one_of(st.sampled_from([sha(b"print('a')\n"), sha(b"\x00model"), sha(b"secret\n"), sha(b"onnx")]),
                    st.text(max_size=64), st.integers(), st.none())
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                           max_leaves=20)
contents = st.one_of(
    st.binary(max_size=200),
    json_values,
    st.fixed_dictionaries({"files": st.dictionaries(names, digests, max_size=5),
                           "artifacts": st.lists(st.one_of(st.sampled_from(["onnx-fp32", "broken", "missing", "../..", "..", ""]),
                                                           st.text(max_size=10), st.integers()), max_size=3)},
                          optional={"name": json_values, "requirements": json_values}),
)


@FUZZ
@given(contents)
def test_fuzz_bundle_json(place, content):
    top, bundle = place
    if isinstance(content, dict) and isinstance(content.get("files"), dict):
        files = {str(top / "secret.txt") if k == "ABSOLUTE" else k: v for k, v in content["files"].items()}
        content = {**content, "files": files}
    write_bundle_json(bundle, content)
    answer = verify_and_watch(bundle)  # never another exception, never a file opened outside
    if not isinstance(answer, EdgemarkError):
        assert answer["ok"] and isinstance(content, dict)
        assert not any(k.startswith(("/", "..")) or k == "link-out" for k in content["files"])


@pytest.mark.parametrize("bad", ["", "  ", "/", "~", "-rf", "--x", "a\nb"])
def test_a_remote_dir_that_is_empty_root_or_an_option_is_refused(bad):
    from edgemark.remote.deploy import check_remote_dir

    with pytest.raises(EdgemarkError, match="--remote-dir"):
        check_remote_dir(bad)


def test_remote_dir_forms():
    from edgemark.remote.deploy import check_remote_dir

    assert check_remote_dir("edgemark") == "edgemark"
    assert check_remote_dir("~/edgemark/") == "edgemark"
    assert check_remote_dir("/opt/edgemark/") == "/opt/edgemark"
