#!/usr/bin/env bash
# Prepare an aarch64 user-mode emulation sandbox for tests/test_arm64_emulation.py:
# qemu-user-static, a Debian bookworm arm64 Python 3.11 unpacked into a sysroot, and
# aarch64 wheels of the edge runner's dependencies. Needs root, apt and PyPI.
#   bash tests/arm64/prepare.sh DIR      (default DIR: $HOME/.cache/edgemark-arm64)
set -euo pipefail
dir="${1:-$HOME/.cache/edgemark-arm64}"
plats=""; for v in 17 26 27 28 29 30 31 32 33 34 35; do plats="$plats --platform manylinux_2_${v}_aarch64"; done
# the NCNN runtime (added after the first sandboxes were made: a sandbox without it gets it here)
add_ncnn() {
  python3 -m pip download -q --only-binary=:all: $plats --python-version 3.11 --implementation cp --no-deps -d "$dir/wheels" \
    'ncnn>=1.0.20261020' 2>/dev/null
  for whl in "$dir"/wheels/ncnn-*.whl; do python3 -m zipfile -e "$whl" "$dir/site"; done
  touch "$dir/ready-ncnn"
}
if [ -f "$dir/ready" ]; then
  [ -f "$dir/ready-ncnn" ] || add_ncnn
  echo "$dir ready"; exit 0
fi
export DEBIAN_FRONTEND=noninteractive
if ! command -v qemu-aarch64-static >/dev/null; then
  apt-get update -qq && apt-get install -y -qq qemu-user-static >/dev/null
fi
dpkg --add-architecture arm64
apt-get update -qq
rm -rf "$dir" && mkdir -p "$dir/debs" "$dir/root" "$dir/wheels" "$dir/site"
(cd "$dir/debs" && apt-get download -qq python3.11-minimal:arm64 libpython3.11-minimal:arm64 libpython3.11-stdlib:arm64 \
   libc6:arm64 zlib1g:arm64 libexpat1:arm64 libffi8:arm64 libssl3:arm64 libbz2-1.0:arm64 liblzma5:arm64 \
   libsqlite3-0:arm64 libstdc++6:arm64 libgcc-s1:arm64 libgomp1:arm64 libncursesw6:arm64 libtinfo6:arm64 \
   libreadline8:arm64 libuuid1:arm64 libcrypt1:arm64 2>/dev/null)
for deb in "$dir"/debs/*.deb; do dpkg -x "$deb" "$dir/root"; done
# qemu-user shows the host's /proc/cpuinfo, which sends the runtimes' CPU probes (cpuinfo,
# XNNPACK) into a crash; qemu looks in the sysroot first, so give them an ARM one (a Pi's).
mkdir -p "$dir/root/proc"
python3 - "$dir/root/proc/cpuinfo" <<'PY'
import sys
rows = []
for i in range(4):
    rows += [f"processor\t: {i}", "BogoMIPS\t: 108.00", "Features\t: fp asimd evtstrm crc32 cpuid", "CPU implementer\t: 0x41",
             "CPU architecture: 8", "CPU variant\t: 0x0", "CPU part\t: 0xd08", "CPU revision\t: 3", ""]
rows += ["Hardware\t: BCM2835", "Model\t\t: emulated aarch64 (qemu-user)", ""]
open(sys.argv[1], "w").write("\n".join(rows))
PY
python3 -m pip download -q --only-binary=:all: $plats --python-version 3.11 --implementation cp -d "$dir/wheels" \
  'numpy<2.5' 'opencv-python-headless>=4.9,<5' psutil onnxruntime 'ai-edge-litert>=2' 2>/dev/null
for whl in "$dir"/wheels/*.whl; do python3 -m zipfile -e "$whl" "$dir/site"; done
add_ncnn
touch "$dir/ready"
echo "$dir ready"
