#!/usr/bin/env bash
# A real boot of skycount's units: systemd as PID 1 in a Debian 12 container (systemd-nspawn -b).
#
#   scripts/boot_test.sh          (as root, or with sudo)
#
# 1. Builds a Debian 12 (bookworm) root with mmdebstrap, from Debian's packages only, through the
#    mirror apt uses here.
# 2. Installs skycount into it as the Yocto image does (yocto-layer/meta-skycount): skycountd in
#    /usr/bin (this machine's x86-64 build: the boot proves the units, scripts/aarch64.sh the
#    CPU), the model and the dashboard in /usr/share/skycount, ONNX Runtime as /usr/lib/
#    libonnxruntime.so*, the units of systemd/ where skycount_units.bbclass puts them, the users
#    as the recipes' useradd lines make them, /etc/skycount/skycount.toml (root:skycount 0640) as
#    skycount-config's do_compile writes it for the Raspberry Pi 4, and the units enabled.
# 3. For the test only: mediamtx.service is masked (MediaMTX is not a Debian package); nginx-rtmp
#    on port 1935 stands in for it, a GStreamer publisher streams H.264 to it, and source.url
#    points there. The container has its own network namespace (loopback only).
# 4. Boots it. A unit inside (skycount-boot-checks.service) checks, every wait bounded:
#    skycount.target active; `systemctl is-system-running` degraded by nothing but the radio's
#    units; skycountd as user skycount with the unit's hardening (capabilities, no_new_privs,
#    seccomp, read-only system, private /tmp), READY=1, the stream key's owner and mode,
#    /api/health, analyses in /api/status and one Socket.IO `analysis`; SIGSTOP -> the watchdog
#    restarts it after WatchdogSec; kill -9 -> Restart= brings it back; `systemctl reload`
#    applies a changed [analysis] value. It writes its report and skycountd's journal to a
#    --bind folder and powers the container off; this script prints them.
#
# Environment: SKYCOUNTD (the x86-64 binary; default target/debug/skycountd, built when missing),
# BOOT_TIMEOUT (seconds for the whole boot, default 600), KEEP=1 keeps the work folder (the root
# and the console's log) for inspection, BASE_ROOT=DIR copies a bare root made by an earlier
# mmdebstrap instead of making one (to work on this script; never in CI).
set -euo pipefail
start=$SECONDS
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
say() { printf '\n== %s (%ds)\n' "$*" "$((SECONDS - start))"; }
if [ "$(id -u)" -ne 0 ]; then exec sudo -E "$0" "$@"; fi

say "Debian: mmdebstrap, systemd-nspawn"
missing=()
for p in mmdebstrap systemd-container; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

skycountd=${SKYCOUNTD:-$repo/target/debug/skycountd}
if [ ! -x "$skycountd" ]; then
  cargo build --locked --bin skycountd
  skycountd=${CARGO_TARGET_DIR:-$repo/target}/debug/skycountd
fi
model=$repo/models/out/csrnet.onnx
[ -f "$model" ] || { echo "FAIL: no $model: build the model first (scripts/setup.sh)"; exit 1; }
[ -f web/dist/index.html ] || (cd web && npm run build)
ort=$(.venv/bin/python models/ort_lib.py)

work=$(mktemp -d /var/tmp/skycount-boot.XXXXXX)
cleanup() { [ "${KEEP:-0}" = 1 ] && echo "kept $work" || rm -rf --one-file-system "$work"; }
trap cleanup EXIT
rootfs=$work/root
results=$work/results
mkdir -p "$results"

say "Debian 12 root (mmdebstrap)"
# The mirror apt uses on this machine (deb.debian.org unless configured otherwise).
mirror=$(grep -rhoE '^(URIs:|deb) +https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null \
  | awk '{print $2}' | head -1 || true)
mirror=${mirror:-http://deb.debian.org/debian}
security=${mirror%/debian*}/debian-security
# skycountd's run-time libraries and plugins (scripts/debian-packages.txt's "run" part), what the
# units name (hostapd, dnsmasq, networkd: systemd), and for the test: nginx-rtmp, gst-launch's
# x264enc (plugins-ugly), curl, jq and python3-socketio (a Socket.IO client).
include=systemd,systemd-sysv,dbus,procps,iproute2,curl,jq,python3-socketio,python3-requests,hostapd,dnsmasq-base
include+=,gstreamer1.0-tools,gstreamer1.0-plugins-base,gstreamer1.0-plugins-good,gstreamer1.0-plugins-bad
include+=,gstreamer1.0-plugins-ugly,gstreamer1.0-libav,nginx,libnginx-mod-rtmp
if [ -n "${BASE_ROOT:-}" ]; then
  echo "copying $BASE_ROOT instead (BASE_ROOT: for working on this script only; CI builds the root)"
  cp -a "$BASE_ROOT" "$rootfs"
else
  mmdebstrap --quiet --variant=minbase --format=directory --include="$include" bookworm "$rootfs" \
    "deb $mirror bookworm main" "deb $mirror bookworm-updates main" "deb $security bookworm-security main"
fi

say "skycount, as the image installs it"
in_root() { chroot "$rootfs" "$@"; }
install -D -m 0755 "$skycountd" "$rootfs/usr/bin/skycountd"
install -D -m 0644 "$model" "$rootfs/usr/share/skycount/models/csrnet.onnx"
install -D -m 0644 docs/skycount.example.toml "$rootfs/usr/share/skycount/skycount.example.toml"
mkdir -p "$rootfs/usr/share/skycount/web"
cp -R --no-preserve=ownership web/dist/. "$rootfs/usr/share/skycount/web/"
find "$rootfs/usr/share/skycount/web" -type d -exec chmod 0755 {} +
find "$rootfs/usr/share/skycount/web" -type f -exec chmod 0644 {} +
# onnxruntime-prebuilt: libonnxruntime.so.<version> and its libonnxruntime.so link in ${libdir}.
install -m 0755 "$ort" "$rootfs/usr/lib/$(basename "$ort")"
ln -sf "$(basename "$ort")" "$rootfs/usr/lib/libonnxruntime.so"
# skycount_units.bbclass: units to ${systemd_system_unitdir}, NAME.sysusers to sysusers.d/NAME.conf.
units=()
for f in systemd/*; do
  name=$(basename "$f")
  case "$name" in
  *.md | *.sh) ;;
  *.service | *.target)
    install -m 0644 "$f" "$rootfs/usr/lib/systemd/system/"
    grep -qx '\[Install\]' "$f" && units+=("$name")
    ;;
  *.sysusers) install -D -m 0644 "$f" "$rootfs/usr/lib/sysusers.d/${name%.sysusers}.conf" ;;
  *) echo "FAIL: systemd/$name: this test does not know where it goes (see skycount_units.bbclass)"; exit 1 ;;
  esac
done
# The users, as the recipes' useradd lines make them (skycountd, mediamtx, skycount-config).
in_root groupadd --system skycount
in_root useradd --system --home-dir /var/lib/skycount --no-create-home --shell /usr/sbin/nologin \
  --gid skycount --groups video skycount
in_root useradd --system --home-dir /run/mediamtx --no-create-home --shell /usr/sbin/nologin \
  --user-group --groups skycount mediamtx
# skycount-config: this board's skycount.toml from the layer's own do_compile.
.venv/bin/python - "$work/config" <<'PYEOF'
import sys
from pathlib import Path
sys.path.insert(0, "yocto-layer/scripts")
import checks
build = Path(sys.argv[1])
build.mkdir()
checks.board_config(checks.BOARDS["raspberrypi4-64"], build)
PYEOF
install -d -m 0755 "$rootfs/etc/skycount"
install -m 0640 "$work/config/skycount.toml" "$rootfs/etc/skycount/skycount.toml"
in_root chown root:skycount /etc/skycount/skycount.toml
systemctl --root="$rootfs" enable "${units[@]}" 2>&1 | sed 's/^/  /'
echo "installed: skycountd ($(du -h "$skycountd" | cut -f1)), csrnet.onnx, the dashboard, $(basename "$ort"), units: ${units[*]}"

say "For this test only: no MediaMTX; nginx-rtmp and a publisher instead"
systemctl --root="$rootfs" mask mediamtx.service
rm -f "$rootfs/etc/nginx/sites-enabled/default" # port 80 is skycountd's
cat >>"$rootfs/etc/nginx/nginx.conf" <<'EOF'

# skycount boot test: the drone's RTMP ingest (MediaMTX's role on the box)
rtmp {
    server {
        listen 1935;
        application live { live on; }
    }
}
EOF
cat >>"$rootfs/etc/skycount/skycount.toml" <<'EOF'

# boot test: the stream comes from nginx-rtmp in this container, not MediaMTX
[source]
url = "rtmp://127.0.0.1:1935/live/drone"
EOF
cat >"$rootfs/etc/systemd/system/skycount-test-publisher.service" <<'EOF'
[Unit]
Description=boot test: a drone stand-in publishing H.264 over RTMP to nginx
After=nginx.service
Requires=nginx.service

[Service]
ExecStart=/usr/bin/gst-launch-1.0 -q videotestsrc is-live=true pattern=ball ! video/x-raw,width=640,height=360,framerate=10/1 ! x264enc tune=zerolatency key-int-max=10 bitrate=800 ! h264parse ! flvmux streamable=true ! rtmp2sink location=rtmp://127.0.0.1:1935/live/drone
Restart=always
RestartSec=2s

[Install]
WantedBy=multi-user.target
EOF
cat >"$rootfs/etc/systemd/system/skycount-boot-checks.service" <<'EOF'
[Unit]
Description=boot test: the checks, then power off
After=multi-user.target

[Service]
# exec, not oneshot: the boot is finished (is-system-running) while the checks run.
Type=exec
ExecStart=/usr/local/sbin/skycount-boot-checks
ExecStopPost=/usr/bin/systemctl poweroff --no-block

[Install]
WantedBy=multi-user.target
EOF
install -m 0755 /dev/stdin "$rootfs/usr/local/sbin/skycount-boot-checks" <<'CHECKS'
#!/bin/bash
# Runs inside the container, under its systemd. Every wait is bounded.
set -u
exec >/results/report.txt 2>&1
passed=0; failed=0
pass() { echo "PASS: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }
wait_for() { # LIMIT_S COMMAND...: true once COMMAND succeeds, false after LIMIT_S
  local limit=$1 t0=$SECONDS; shift
  until "$@" >/dev/null 2>&1; do
    [ $((SECONDS - t0)) -ge "$limit" ] && return 1
    sleep 1
  done
}
prop() { systemctl show -P "$2" "$1"; }
status() { curl -sf --max-time 5 http://127.0.0.1/api/status; }
live_with() { status | jq -e "$1" >/dev/null; }
since() { date '+%Y-%m-%d %H:%M:%S'; }
echo "boot checks started $(date -u +%FT%TZ), $(systemd --version | head -1)"

# 1. The boot
echo; echo "## boot"
if wait_for 180 systemctl is-active --quiet skycount.target; then
  pass "skycount.target active"
else
  fail "skycount.target is $(systemctl is-active skycount.target) after 180 s"
fi
wait_for 180 bash -c '! systemctl is-system-running | grep -qx -e starting -e initializing'
# The hotspot has no radio here: let its restarts run out (StartLimitBurst) before judging.
wait_for 120 bash -c '[ "$(systemctl show -P ActiveState skycount-hotspot)" = failed ]'
echo "skycount-hotspot.service: $(prop skycount-hotspot ActiveState) ($(prop skycount-hotspot Result)) after $(prop skycount-hotspot NRestarts) restarts; hostapd said:"
journalctl -b -u skycount-hotspot --no-pager -o cat | grep -iE "wlan0|nl80211|driver|could not|failed" | sort | uniq -c | head -8 | sed 's/^/    /'
if [ "$(prop skycount-hotspot ActiveState)" = failed ]; then
  journalctl -b -u skycount-hotspot --no-pager -o cat | grep -q "Failed to initialize driver 'nl80211'" \
    && pass "skycount-hotspot.service failed for want of a radio (hostapd: no nl80211 driver in a container)" \
    || fail "skycount-hotspot.service failed, and not for want of a radio"
fi
state=$(systemctl is-system-running)
failed_units=$(systemctl list-units --state=failed --plain --no-legend | awk '{print $1}' | sort | tr '\n' ' ')
echo "is-system-running: $state; failed units: ${failed_units:-none}"
# The radio is the one thing a container cannot have: hostapd finds no wlan0, so the hotspot
# unit fails after its restarts (and dnsmasq, bound to it, with it).
radio="skycount-hotspot.service skycount-dnsmasq.service"
others=$(for u in $failed_units; do [[ " $radio " == *" $u "* ]] || echo "$u"; done)
if [ "$state" = running ] || { [ "$state" = degraded ] && [ -z "$others" ]; }; then
  pass "is-system-running: $state (failed only: ${failed_units:-nothing}; the radio's units)"
else
  fail "is-system-running: $state, failed units other than the radio's: $others"
fi
for u in $failed_units; do systemctl status --no-pager -n 5 "$u" | sed 's/^/    /'; done
systemctl list-units --no-pager --all 'skycount*' mediamtx.service nginx.service | sed 's/^/    /'

# 2. skycountd: READY=1, its user, its hardening, its state
echo; echo "## skycountd"
if wait_for 120 bash -c '[ "$(systemctl show -P ActiveState skycountd)" = active ]'; then
  pass "skycountd active (Type=notify: systemd got READY=1); status: $(prop skycountd StatusText)"
else
  fail "skycountd is $(prop skycountd ActiveState)/$(prop skycountd SubState), not active"
fi
pid=$(prop skycountd MainPID)
echo "MainPID $pid: $(ps -o user=,group=,args= -p "$pid")"
[ "$(ps -o user= -p "$pid")" = skycount ] && [ "$(ps -o group= -p "$pid")" = skycount ] \
  && pass "runs as skycount:skycount" || fail "runs as $(ps -o user=,group= -p "$pid")"
grep -E '^(Uid|Gid|Groups|CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' "/proc/$pid/status" | sed 's/^/    /'
video=$(getent group video | cut -d: -f3)
grep -qE "^Groups:.*\b$video\b" "/proc/$pid/status" && pass "in group video (SupplementaryGroups=video)" || fail "not in group video"
# CAP_NET_BIND_SERVICE is bit 10: 0x400, and nothing else, effective and in the bounding set.
for c in CapEff CapBnd CapAmb; do
  v=$(awk -v k="$c:" '$1 == k {print $2}' "/proc/$pid/status")
  [ "$v" = 0000000000000400 ] && pass "$c = cap_net_bind_service only" || fail "$c = $v"
done
[ "$(awk '$1 == "NoNewPrivs:" {print $2}' "/proc/$pid/status")" = 1 ] && pass "NoNewPrivileges" || fail "no_new_privs not set"
[ "$(awk '$1 == "Seccomp:" {print $2}' "/proc/$pid/status")" = 2 ] && pass "a seccomp filter (SystemCallArchitectures=, RestrictAddressFamilies=, ...)" || fail "no seccomp filter"
mounts=/proc/$pid/mountinfo
awk '$5 == "/" {o = $6} END {print o}' "$mounts" | grep -q '^ro' && pass "ProtectSystem=strict: / is read-only for it" || fail "/ is writable for it"
awk '$5 == "/var/lib/skycount" {print $6}' "$mounts" | grep -q '^rw' && pass "its StateDirectory is writable" || fail "/var/lib/skycount is not a writable mount for it"
awk '$5 == "/tmp" {f=1} END {exit !f}' "$mounts" && pass "PrivateTmp: its own /tmp" || fail "no private /tmp"
awk '$5 == "/home" || $5 == "/root" {f=1} END {exit !f}' "$mounts" && pass "ProtectHome: /home and /root hidden" || fail "ProtectHome not applied"
if systemd-analyze security --no-pager skycountd.service >/tmp/security 2>&1; then
  echo "    $(tail -1 /tmp/security)"
fi
ls -ld /var/lib/skycount | sed 's/^/    /'
ls -l /var/lib/skycount/stream-key | sed 's/^/    /'
[ "$(stat -c '%U:%G %a' /var/lib/skycount)" = "skycount:skycount 750" ] \
  && pass "/var/lib/skycount skycount:skycount 0750" || fail "/var/lib/skycount is $(stat -c '%U:%G %a' /var/lib/skycount)"
[ "$(stat -c '%U:%G %a' /var/lib/skycount/stream-key)" = "skycount:skycount 640" ] \
  && pass "stream key skycount:skycount 0640 ($(wc -c </var/lib/skycount/stream-key) bytes)" \
  || fail "stream key is $(stat -c '%U:%G %a' /var/lib/skycount/stream-key 2>&1)"
health=$(curl -s --max-time 5 -w ' HTTP %{http_code}' http://127.0.0.1/api/health)
echo "    /api/health: $health"
[[ "$health" == *'"ok":'* ]] && pass "/api/health answers" || fail "/api/health: $health"

# 3. The stream: nginx-rtmp -> skycountd -> /api/status, Socket.IO
echo; echo "## the stream"
if wait_for 180 live_with '.state == "live" and .totals.frames_analysed >= 2'; then
  pass "analyses flow: $(status | jq -c '{state, source, decoder, codec, execution_provider, frames_analysed: .totals.frames_analysed, analysed_fps: .rates.analysed_fps, analysis: {width: .analysis.width, height: .analysis.height}}')"
else
  fail "no analyses after 180 s: $(status | jq -c '{state, error, totals}')"
fi
health=$(curl -s --max-time 5 -w ' HTTP %{http_code}' http://127.0.0.1/api/health)
[[ "$health" == *' HTTP 200' ]] && jq -e '.ok == true' <<<"${health% HTTP *}" >/dev/null \
  && pass "/api/health with the stream live: $health" || fail "/api/health with the stream live: $health"
if timeout 90 python3 - <<'PYEOF'; then pass "one Socket.IO analysis"; else fail "no Socket.IO analysis within 60 s"; fi
import threading, socketio
got, done = {}, threading.Event()
sio = socketio.Client()
@sio.on("analysis")
def analysis(data):
    got.update(data); done.set()
sio.connect("http://127.0.0.1", transports=["polling"], wait_timeout=20)
ok = done.wait(60)
sio.disconnect()
if ok:
    print(f"    Socket.IO analysis: seq {got.get('seq')}, count {got.get('count'):.1f}, "
          f"{got.get('input_width')}x{got.get('input_height')}, keys {sorted(got)[:8]}...")
raise SystemExit(0 if ok and "count" in got else 1)
PYEOF

# 4. The watchdog: a frozen skycountd is killed and restarted after WatchdogSec
echo; echo "## watchdog: SIGSTOP"
echo "    WatchdogUSec=$(prop skycountd WatchdogUSec) Restart=$(prop skycountd Restart) RestartUSec=$(prop skycountd RestartUSec) TimeoutAbortUSec=$(prop skycountd TimeoutAbortUSec)"
pid=$(prop skycountd MainPID); n=$(prop skycountd NRestarts); t=$(since); t0=$SECONDS
kill -STOP "$pid"
if wait_for 150 bash -c "p=\$(systemctl show -P MainPID skycountd); [ \"\$p\" != $pid ] && [ \"\$p\" != 0 ] && [ \"\$(systemctl show -P ActiveState skycountd)\" = active ]"; then
  took=$((SECONDS - t0))
  journalctl -u skycountd --since "$t" --no-pager -o short-monotonic | grep -E "Watchdog|Killing|Main process exited|Scheduled restart|Started" | sed 's/^/    /'
  if journalctl -u skycountd --since "$t" --no-pager | grep -q "Watchdog timeout"; then
    pass "frozen pid $pid: systemd's watchdog timed out and a new skycountd (pid $(prop skycountd MainPID)) is ready ${took}s after SIGSTOP (NRestarts $n -> $(prop skycountd NRestarts))"
  else
    fail "skycountd was restarted ${took}s after SIGSTOP, but not by the watchdog"
  fi
else
  fail "skycountd not restarted within 150 s of SIGSTOP ($(prop skycountd ActiveState), MainPID $(prop skycountd MainPID))"
  kill -CONT "$pid" 2>/dev/null
fi
wait_for 120 live_with '.state == "live"' && pass "the stream is live again after the restart" || fail "stream not live after the watchdog restart"

echo; echo "## Restart=: kill -9"
pid=$(prop skycountd MainPID); n=$(prop skycountd NRestarts); t=$(since); t0=$SECONDS
kill -KILL "$pid"
if wait_for 60 bash -c "p=\$(systemctl show -P MainPID skycountd); [ \"\$p\" != $pid ] && [ \"\$p\" != 0 ] && [ \"\$(systemctl show -P ActiveState skycountd)\" = active ]"; then
  journalctl -u skycountd --since "$t" --no-pager -o short-monotonic | grep -E "Main process exited|Scheduled restart|Started" | sed 's/^/    /'
  pass "killed pid $pid; a new skycountd (pid $(prop skycountd MainPID)) ready $((SECONDS - t0))s later (NRestarts $n -> $(prop skycountd NRestarts))"
else
  fail "skycountd not back within 60 s of kill -9 ($(prop skycountd ActiveState))"
fi

echo; echo "## systemctl reload: a changed [analysis] value"
wait_for 120 live_with '.state == "live" and .analysis.width != null' || true
before=$(status | jq -c '.analysis | {width, height, scale}')
pid=$(prop skycountd MainPID)
printf '\n# boot test: changed while running, applied by systemctl reload\n[analysis]\nscale = 0.5\n' >>/etc/skycount/skycount.toml
t=$(since)
timeout 60 systemctl reload skycountd || fail "systemctl reload skycountd failed"
if wait_for 90 live_with '.analysis.scale == 0.5 and .analysis.width == 320'; then
  pass "analysis.scale 0.5 applied: $before -> $(status | jq -c '.analysis | {width, height, scale}'), same pid $(prop skycountd MainPID) (was $pid)"
else
  fail "reload: analysis is $(status | jq -c .analysis), was $before"
fi
[ "$(prop skycountd MainPID)" = "$pid" ] || fail "reload restarted skycountd"
journalctl -u skycountd --since "$t" --no-pager -o short-monotonic | grep -E "Reload|reload" | sed 's/^/    /'

echo; echo "## skycountd's journal (this boot)"
journalctl -b -u skycountd --no-pager -o short-monotonic
echo
echo "boot checks: $passed passed, $failed failed"
[ "$failed" -eq 0 ] && echo PASS >/results/verdict || echo FAIL >/results/verdict
CHECKS
systemctl --root="$rootfs" enable skycount-test-publisher.service skycount-boot-checks.service nginx.service 2>&1 | sed 's/^/  /'

boot_timeout=${BOOT_TIMEOUT:-600}
say "Boot (systemd-nspawn -b, at most ${boot_timeout}s)"
# No machined on the host (no registration; this unit's cgroup). On a host with cgroup v1 (as
# this one) the container gets the legacy hierarchy; on a cgroup v2 host, the unified one.
unified=0
[ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ] && unified=1
t0=$SECONDS
set +e
SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=$unified timeout --kill-after=20 "$boot_timeout" \
  systemd-nspawn --quiet --register=no --keep-unit --private-network --console=pipe \
  -D "$rootfs" --bind="$results:/results" -b </dev/null >"$work/console.log" 2>&1
rc=$?
set -e
echo "the container ran $((SECONDS - t0))s (systemd-nspawn exit $rc)"
if [ -f "$results/report.txt" ]; then
  cat "$results/report.txt"
else
  echo "no report from inside: the container's console said:"
  tail -60 "$work/console.log"
fi
verdict=$(cat "$results/verdict" 2>/dev/null || echo "none (the checks did not finish)")
[ "$verdict" = PASS ] || { echo "--- console (last 40 lines)"; tail -40 "$work/console.log"; }
echo
echo "boot test suite: $((SECONDS - start)) s, verdict $verdict"
[ "$verdict" = PASS ]
