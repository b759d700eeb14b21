#!/usr/bin/env bash
# skycountd for the boxes' CPU (aarch64: Jetson Orin Nano, Raspberry Pi 4/5), built and run here.
#
#   scripts/aarch64.sh
#
# 1. Installs what it needs when missing: Debian's cross compiler, qemu-user and mmdebstrap; an
#    arm64 sysroot of Debian's GStreamer (development files, and the plugins the pipeline uses)
#    made with mmdebstrap (nothing of arm64 is installed on this machine); Rust's
#    aarch64-unknown-linux-gnu standard library (rustup); ONNX Runtime's aarch64 library from
#    PyPI's manylinux aarch64 `onnxruntime` wheel, the version of models/requirements.txt.
# 2. Cross-builds skycountd (release profile, without LTO and debug info to keep CI short).
# 3. Runs the aarch64 binary under qemu-user (no binfmt: `qemu-aarch64` is called explicitly) and
#    compares it with the x86-64 one on the same inputs:
#    --version; check-config on each board's skycount.toml as the Yocto layer makes it;
#    render-mediamtx and render-hotspot (byte-identical files); analyze on the smallest photos of
#    ../shared/testdata/crowd at a reduced --size (counts within 0.5 %); the same with the INT8
#    twin of the default model on two drone frames and a photo (within 0.5 %); analyze of a short H.264
#    file through the daemon's GStreamer pipeline with the arm64 plugins (--max 2).
#
# What emulation cannot prove: speed (qemu runs the aarch64 code several times slower, and the
# boxes' cores are not these), the hardware decoders (nvv4l2decoder on the Jetson, V4L2 on the
# Raspberry Pi: here avdec_h264 decodes), TensorRT/CUDA (the CPU execution provider runs here),
# and anything about the boards' kernels and device trees. See image/README.md.
#
# Environment: SKYCOUNTD_X86 (the x86-64 binary to compare with; default target/debug/skycountd,
# built when missing), SHARED (default ../shared/testdata), CARGO_TARGET_DIR.
set -euo pipefail
start=$SECONDS
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
say() { printf '\n== %s (%ds)\n' "$*" "$((SECONDS - start))"; }
fail=0
problem() { echo "FAIL: $*"; fail=1; }
sudo_() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
target=aarch64-unknown-linux-gnu
shared=${SHARED:-$root/../shared/testdata}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

say "Debian: the cross compiler, qemu-user, mmdebstrap"
missing=()
for p in gcc-aarch64-linux-gnu qemu-user mmdebstrap; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo_ apt-get update -qq
  sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The arm64 libraries, in a root of their own (a sysroot), not installed on this machine:
# Debian 12's libgstreamer-plugins-base1.0-dev is not co-installable across architectures
# (no Multi-Arch: same), so `apt-get install libgstreamer-plugins-base1.0-dev:arm64` would remove
# the amd64 one every other build here needs. mmdebstrap's extract variant unpacks Debian's arm64
# packages (and what they depend on) without running anything from them. The compiler links
# against it (--sysroot), pkg-config reads its .pc files, and qemu-user loads from it (-L).
say "arm64 sysroot: GStreamer (development files and the pipeline's plugins), from Debian"
# At a fixed path, so that the linker flags naming it are the same from one run to the next.
sysroot=${CARGO_TARGET_DIR:-$root/target}/aarch64-sysroot
rm -rf "$sysroot"
trap 'rm -rf "$work" "$sysroot"' EXIT
mirror=$(grep -rhoE '^(URIs:|deb) +https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null \
  | awk '{print $2}' | head -1 || true)
mirror=${mirror:-http://deb.debian.org/debian}
mmdebstrap --quiet --arch=arm64 --variant=extract --format=directory \
  --include=libc6-dev,libstdc++6,libgstreamer1.0-dev,libgstreamer-plugins-base1.0-dev,gstreamer1.0-plugins-base,gstreamer1.0-plugins-good,gstreamer1.0-plugins-bad,gstreamer1.0-libav \
  bookworm "$sysroot" "deb $mirror bookworm main" "deb $mirror bookworm-updates main" \
  "deb ${mirror%/debian*}/debian-security bookworm-security main"
# What the packages' maintainer scripts would have done and the pipeline needs: the BLAS and
# LAPACK that update-alternatives links (libavcodec, for avdec_h264, loads libblas.so.3).
for f in "$sysroot"/usr/lib/aarch64-linux-gnu/{blas,lapack}/*.so.3; do
  [ -e "$f" ] && ln -sfn "${f#"$sysroot"/usr/lib/aarch64-linux-gnu/}" "$sysroot/usr/lib/aarch64-linux-gnu/${f##*/}"
done
echo "$(du -sh "$sysroot" | cut -f1) in $sysroot"

say "Rust: the $target standard library"
rustup target list --installed | grep -qx "$target" || rustup target add "$target"

say "Cross-build skycountd for $target"
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUSTFLAGS="-C link-arg=--sysroot=$sysroot"
export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
export CFLAGS_aarch64_unknown_linux_gnu="--sysroot=$sysroot"
# gstreamer-rs finds GStreamer with pkg-config: the sysroot's .pc files, its paths prefixed.
export PKG_CONFIG_ALLOW_CROSS=1
export PKG_CONFIG_LIBDIR_aarch64_unknown_linux_gnu=$sysroot/usr/lib/aarch64-linux-gnu/pkgconfig:$sysroot/usr/share/pkgconfig
export PKG_CONFIG_SYSROOT_DIR_aarch64_unknown_linux_gnu=$sysroot
t0=$SECONDS
CARGO_PROFILE_RELEASE_LTO=off CARGO_PROFILE_RELEASE_DEBUG=0 \
  cargo build --locked --release --target "$target" --bin skycountd
arm=${CARGO_TARGET_DIR:-$root/target}/$target/release/skycountd
is_aarch64() { readelf -h "$1" 2>/dev/null | grep -q "Machine:.*AArch64"; }
is_aarch64 "$arm" || { echo "FAIL: $arm is not an aarch64 binary"; exit 1; }
echo "built in $((SECONDS - t0))s: $arm ($(readelf -h "$arm" | sed -n 's/^ *Machine: *//p'), $(du -h "$arm" | cut -f1))"

x86=${SKYCOUNTD_X86:-$root/target/debug/skycountd}
if [ ! -x "$x86" ]; then
  say "Build the x86-64 skycountd to compare with"
  cargo build --locked --bin skycountd
  x86=${CARGO_TARGET_DIR:-$root/target}/debug/skycountd
fi

say "ONNX Runtime for aarch64 from PyPI"
ort_version=$(sed -n 's/^onnxruntime==\([0-9.]*\).*/\1/p' models/requirements.txt)
[ -n "$ort_version" ] || { echo "FAIL: no onnxruntime==VERSION in models/requirements.txt"; exit 1; }
# Newer wheels are tagged manylinux_2_28; Debian 12's glibc (2.36) runs them.
.venv/bin/pip download --quiet --disable-pip-version-check --only-binary=:all: --no-deps \
  --platform manylinux_2_28_aarch64 --platform manylinux2014_aarch64 \
  "onnxruntime==$ort_version" -d "$work/wheel"
.venv/bin/python - "$work/wheel" "$work/ort" "$ort_version" <<'PYEOF'
import sys, zipfile, pathlib
wheel = next(pathlib.Path(sys.argv[1]).glob("onnxruntime-*.whl"))
name = f"onnxruntime/capi/libonnxruntime.so.{sys.argv[3]}"
with zipfile.ZipFile(wheel) as z:
    z.extract(name, sys.argv[2])
print(f"{wheel.name}: {name}")
PYEOF
ort_arm=$work/ort/onnxruntime/capi/libonnxruntime.so.$ort_version
is_aarch64 "$ort_arm" || problem "$ort_arm is not an aarch64 library"
ort_x86=${ORT_DYLIB_PATH:-$(.venv/bin/python models/ort_lib.py)}

# The aarch64 binary under qemu-user, as a Cortex-A76 (the Raspberry Pi 5's core; ARMv8.2 with
# the dot-product instructions, as the Jetson Orin's Cortex-A78AE), its loader and libraries taken
# from the sysroot (qemu-aarch64 -L: a path the program opens is looked up there first).
# GStreamer must not fork its plugin scanner (an aarch64 program qemu would not be asked to run)
# and keeps its registry here.
# /proc/cpuinfo: qemu 7.2's user mode shows the host's (x86) file, in which ONNX Runtime's CPU
# detection (pytorch/cpuinfo) finds no ARM core and dereferences a null pointer (SIGSEGV while
# the session is made). The sysroot gets the file a Cortex-A76 kernel writes, one entry per CPU
# of this machine, and -L makes the program read that one.
ncpu=$(getconf _NPROCESSORS_CONF)
mkdir -p "$sysroot/proc"
for ((i = 0; i < ncpu; i++)); do
  printf 'processor\t: %d\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x4\nCPU part\t: 0xd0b\nCPU revision\t: 1\n\n' "$i"
done >"$sysroot/proc/cpuinfo"
arm64() {
  env GST_REGISTRY_FORK=no GST_REGISTRY="$work/gst-registry.aarch64.bin" ORT_DYLIB_PATH="$ort_arm" \
    QEMU_CPU=cortex-a76 QEMU_LD_PREFIX="$sysroot" qemu-aarch64 "$arm" "$@"
}
x86_64() { env ORT_DYLIB_PATH="$ort_x86" "$x86" "$@"; }

say "--version"
v=$(arm64 --version) || problem "--version under qemu failed"
echo "aarch64: $v   x86-64: $(x86_64 --version)"
[ "$v" = "$(x86_64 --version)" ] || problem "the versions differ"

say "check-config on each board's skycount.toml (made by the layer's skycount-config do_compile)"
mkdir -p "$work/boards"
.venv/bin/python - "$work/boards" <<'PYEOF'
import sys
from pathlib import Path
sys.path.insert(0, "yocto-layer/scripts")
import checks
for board, override in checks.BOARDS.items():
    build = Path(sys.argv[1]) / board
    build.mkdir()
    checks.board_config(override, build)
PYEOF
for toml in "$work"/boards/*/skycount.toml; do
  board=$(basename "$(dirname "$toml")")
  if out=$(env -i PATH="$PATH" QEMU_CPU=cortex-a76 QEMU_LD_PREFIX="$sysroot" qemu-aarch64 "$arm" --config "$toml" check-config 2>&1); then
    echo "ok: $board: valid ($(awk '/^execution_providers/ {f = 1} f {gsub(/ /, ""); printf "%s", $0} f && /]/ {exit}' <<<"$out"))"
  else
    echo "$out"; problem "check-config refused $board's skycount.toml"
  fi
done

say "render-mediamtx and render-hotspot: the same files as x86-64"
printf '[stream]\nkey = "fieldkey2026"\n[hotspot]\nenabled = true\npassphrase = "correct horse battery"\ncountry = "DE"\nchannel = 36\n' >"$work/render.toml"
for who in arm64 x86_64; do
  d=$work/render-$who
  mkdir -p "$d"
  "$who" --config "$work/render.toml" render-mediamtx --out "$d/mediamtx.yml" 2>/dev/null || problem "$who render-mediamtx failed"
  "$who" --config "$work/render.toml" render-hotspot --out-dir "$d" --network-dir "$d" 2>/dev/null || problem "$who render-hotspot failed"
done
ls "$work/render-arm64"
if diff -r "$work/render-x86_64" "$work/render-arm64"; then
  echo "ok: $(find "$work/render-arm64" -type f | wc -l) files, byte-identical"
else
  problem "the rendered files differ between aarch64 and x86-64"
fi
grep -q "^webrtcICEServers2: \[\]" "$work/render-arm64/mediamtx.yml" || problem "mediamtx.yml looks wrong"

# Emulated, CSRNet runs at about 0.1 GMAC/s here: one photo at 96x72 (3 GMAC) takes ~25 s of CPU.
say "analyze: the smallest photos of $shared/crowd at 96x72, aarch64 against x86-64"
photos=()
for f in shanghaitech_partA_train/IMG_4.jpg indian_mini_partB_style/IMG_3.jpg beach_webcam/1660129200.jpg; do
  [ -f "$shared/crowd/$f" ] || { echo "FAIL: no $shared/crowd/$f: the photos of ../shared are needed"; exit 1; }
  photos+=("$shared/crowd/$f")
done
# FP32 on both here; the INT8 twin is compared below.
printf '[model]\npath = "%s"\nthreads = 2\nexecution_providers = ["cpu"]\nprecision = "fp32"\n' "$root/models/out/csrnet.onnx" >"$work/model.toml"
t0=$SECONDS
arm64 --config "$work/model.toml" analyze --size 96x72 "${photos[@]}" >"$work/arm64.jsonl" 2>"$work/arm64.log" \
  || { cat "$work/arm64.log"; problem "aarch64 analyze failed"; }
t_arm=$((SECONDS - t0)); t0=$SECONDS
x86_64 --config "$work/model.toml" analyze --size 96x72 "${photos[@]}" >"$work/x86.jsonl" 2>"$work/x86.log" \
  || { cat "$work/x86.log"; problem "x86-64 analyze failed"; }
t_x86=$((SECONDS - t0))
grep -h "ONNX Runtime loaded\|loaded on" "$work/arm64.log" || true
echo "time: aarch64 under qemu ${t_arm}s, x86-64 ${t_x86}s"
compare() { # label, then the two JSON-lines files: counts within 0.5 %
  python3 - "$@" <<'PYEOF'
import json, sys
label, a_path, b_path = sys.argv[1:4]
a = [json.loads(l)["count"] for l in open(a_path) if l.startswith("{")]
b = [json.loads(l)["count"] for l in open(b_path) if l.startswith("{")]
ok = bool(a) and len(a) == len(b)
print(f"{label:<14}{'aarch64':>12}{'x86-64':>12}{'diff':>10}")
for i, (x, y) in enumerate(zip(a, b)):
    d = abs(x - y) / max(abs(y), 1e-9) * 100
    ok &= d <= 0.5
    print(f"#{i + 1:<13}{x:>12.3f}{y:>12.3f}{d:>9.4f}%")
if len(a) != len(b) or not a:
    print(f"analyses: aarch64 {len(a)}, x86-64 {len(b)}")
sys.exit(0 if ok else 1)
PYEOF
}
compare photo "$work/arm64.jsonl" "$work/x86.jsonl" || problem "photo counts differ by more than 0.5 %"

say "the INT8 twin: the box's default model (csrnet-drone-int8.onnx) on two drone frames and a photo"
# ONNX Runtime's integer kernels differ by instruction set (x86-64's AVX2 or VNNI, the A76's dot
# product, which QEMU_CPU=cortex-a76 emulates), so the twin a CPU box runs by default is compared
# too: model.precision = "int8" (it refuses a twin that is stale or failed its checks).
printf '[model]\npath = "%s"\nthreads = 2\nexecution_providers = ["cpu"]\nprecision = "int8"\n' "$root/models/out/csrnet-drone.onnx" >"$work/int8.toml"
frames=("$shared/drone/dronecrowd_seq001_1.jpg" "$shared/drone/dronecrowd_seq011_1.jpg" "$shared/crowd/shanghaitech_partA_train/IMG_4.jpg")
t0=$SECONDS
arm64 --config "$work/int8.toml" analyze --size 160x96 "${frames[@]}" >"$work/arm64-int8.jsonl" 2>"$work/arm64-int8.log" \
  || { cat "$work/arm64-int8.log"; problem "aarch64 analyze with the INT8 twin failed"; }
t_arm=$((SECONDS - t0))
x86_64 --config "$work/int8.toml" analyze --size 160x96 "${frames[@]}" >"$work/x86-int8.jsonl" 2>"$work/x86-int8.log" \
  || { cat "$work/x86-int8.log"; problem "x86-64 analyze with the INT8 twin failed"; }
grep -h "loaded on" "$work/arm64-int8.log" || true
echo "time: aarch64 under qemu ${t_arm}s"
compare "int8" "$work/arm64-int8.jsonl" "$work/x86-int8.jsonl" || problem "INT8 counts differ by more than 0.5 %"

say "decode: an H.264 file through the pipeline (filesrc, parsebin, h264parse, avdec_h264) with arm64 GStreamer"
# One photo, encoded as ten identical intra frames (constant quantizer): whichever frames each run
# analyses (a file plays at its own pace), they decode to the same picture, so the counts compare.
gst-launch-1.0 -q multifilesrc location="${photos[0]}" loop=true num-buffers=10 \
  caps=image/jpeg,framerate=10/1 ! jpegdec ! videoconvert ! videoscale \
  ! video/x-raw,width=320,height=240,format=I420 ! x264enc pass=quant quantizer=18 key-int-max=1 \
  ! h264parse ! mp4mux ! filesink location="$work/clip.mp4"
# The decode is what this proves: csrnet-tiny (CSRNet's layers, a fraction of the channels) keeps
# the emulated model runs short; its counts compare all the same.
printf '[model]\npath = "%s"\nthreads = 2\nexecution_providers = ["cpu"]\ninput_width = 320\ninput_height = 240\n' \
  "$root/models/out/csrnet-tiny.onnx" >"$work/clip.toml"
t0=$SECONDS
arm64 --config "$work/clip.toml" analyze --max 2 "file://$work/clip.mp4" >"$work/arm64-clip.jsonl" 2>"$work/arm64-clip.log" \
  || { cat "$work/arm64-clip.log"; problem "aarch64 analyze of an H.264 file failed"; }
t_arm=$((SECONDS - t0))
x86_64 --config "$work/clip.toml" analyze --max 2 "file://$work/clip.mp4" >"$work/x86-clip.jsonl" 2>"$work/x86-clip.log" \
  || { cat "$work/x86-clip.log"; problem "x86-64 analyze of an H.264 file failed"; }
grep -h "skycountd::decode" "$work/arm64-clip.log" || true
grep -q "decoding h264 with avdec_h264" "$work/arm64-clip.log" || problem "aarch64: no H.264 decoder was set up"
echo "time: aarch64 under qemu ${t_arm}s"
python3 - "$work/arm64-clip.jsonl" <<'PYEOF' || problem "aarch64: not 2 analyses of 320x240 frames"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
for r in rows:
    print(f"aarch64 analysis {r['seq']}: frame {r['frame_width']}x{r['frame_height']} at {r['frame_pts_ms']} ms")
sys.exit(0 if len(rows) == 2 and all((r["frame_width"], r["frame_height"]) == (320, 240) for r in rows) else 1)
PYEOF
compare "H.264 frame" "$work/arm64-clip.jsonl" "$work/x86-clip.jsonl" || problem "file counts differ by more than 0.5 %"

echo
echo "aarch64 suite: $((SECONDS - start)) s"
[ "$fail" -eq 0 ] && echo "scripts/aarch64.sh: all passed" || echo "scripts/aarch64.sh: FAILED"
exit "$fail"
