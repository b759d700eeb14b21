#!/usr/bin/env bash
# Makes skycount's demo clip: a synthetic drone flight over a crowd (make_crowd.py), encoded
# the way a drone streams: H.264 main profile, no B-frames, a key frame every second (30
# frames), zero-latency tuning, 1280x720 at 30 fps, in an MP4 with its index at the front.
#
#   demo/make_clip.sh [--force] [OUT]      OUT defaults to demo/out/demo.mp4
#
# Does nothing when OUT already exists, unless --force. Also writes OUT's name with
# .counts.csv for .mp4: how many people are in view in each frame (the true count).
#
# Environment: PYTHON    the Python with numpy and Pillow (default python3; e.g. .venv/bin/python)
#              DEMO_SECONDS  the clip's length (default 20)
# Needs gst-launch-1.0 with x264enc (gstreamer1.0-tools, -plugins-base, -good, -bad, -ugly).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
python=${PYTHON:-python3}
seconds=${DEMO_SECONDS:-20}
force=0
out=""
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "make_clip.sh: unknown option $arg" >&2; exit 2 ;;
    *) [ -z "$out" ] || { echo "make_clip.sh: one output path only" >&2; exit 2; }; out=$arg ;;
  esac
done
out=${out:-$here/out/demo.mp4}
counts=${out%.mp4}.counts.csv

if [ -s "$out" ] && [ "$force" -eq 0 ]; then
  echo "make_clip.sh: $out exists; skipping (--force to make it again)"
  exit 0
fi

"$python" -c 'import numpy, PIL' 2>/dev/null || {
  echo "make_clip.sh: $python lacks numpy or Pillow; set PYTHON to one that has them," >&2
  echo "  e.g. python3 -m venv .venv && .venv/bin/pip install -r demo/requirements.txt" >&2
  echo "  then PYTHON=.venv/bin/python demo/make_clip.sh" >&2
  exit 1
}
command -v gst-launch-1.0 >/dev/null || { echo "make_clip.sh: gst-launch-1.0 is missing (apt-get install gstreamer1.0-tools)" >&2; exit 1; }
for e in fdsrc rawvideoparse videoconvert x264enc h264parse mp4mux filesink; do
  gst-inspect-1.0 --exists "$e" || {
    echo "make_clip.sh: the GStreamer element $e is missing (x264enc: gstreamer1.0-plugins-ugly;" >&2
    echo "  rawvideoparse, h264parse: -plugins-bad; mp4mux: -plugins-good)" >&2
    exit 1
  }
done

mkdir -p "$(dirname "$out")"
tmp=$(mktemp "$out.part.XXXXXX")
tmp_counts=$(mktemp "$counts.part.XXXXXX")
fifo="$tmp.fifo"
pids=()
cleanup() {
  [ ${#pids[@]} -eq 0 ] || kill "${pids[@]}" 2>/dev/null || true
  rm -f "$tmp" "$tmp_counts" "$tmp.moov" "$fifo"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
mkfifo "$fifo"

start=$SECONDS
# Raw RGB frames from Python into GStreamer through a pipe. (Started separately rather than as
# `a | b` so that an interrupted run stops both.) The faststart index is gathered in a file
# next to the output rather than in /tmp.
"$python" "$here/make_crowd.py" raw --seconds "$seconds" --counts "$tmp_counts" >"$fifo" &
pids+=($!)
gst-launch-1.0 -q \
  fdsrc fd=0 blocksize=2764800 \
  ! rawvideoparse width=1280 height=720 format=rgb framerate=30/1 \
  ! videoconvert n-threads=2 ! video/x-raw,format=I420 \
  ! x264enc tune=zerolatency speed-preset=veryfast bitrate=3000 bframes=0 key-int-max=30 \
      option-string="scenecut=0:keyint-min=30" \
  ! video/x-h264,profile=main \
  ! h264parse \
  ! mp4mux faststart=true faststart-file="$tmp.moov" \
  ! filesink location="$tmp" <"$fifo" &
pids+=($!)
rc=0
wait "${pids[1]}" || rc=$?
[ "$rc" -eq 0 ] || { echo "make_clip.sh: gst-launch-1.0 failed ($rc)" >&2; exit 1; }
wait "${pids[0]}" || rc=$?
[ "$rc" -eq 0 ] || { echo "make_clip.sh: make_crowd.py failed ($rc)" >&2; exit 1; }
pids=()

[ -s "$tmp" ] || { echo "make_clip.sh: the encoder wrote nothing" >&2; exit 1; }
mv -f "$tmp_counts" "$counts"
mv -f "$tmp" "$out"
chmod 644 "$out" "$counts"
echo "make_clip.sh: wrote $out ($(stat -c %s "$out") bytes) and $counts in $((SECONDS - start)) s"
