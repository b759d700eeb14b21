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
# 5. Software updates with RAUC's real service on the container's system bus (docs/update.md):
#    Debian's rauc and rauc-service, the layer's D-Bus policy, the data partition (a host folder
#    that data.mount binds at /data; skycount-data.service binds it over /var/lib/skycount), two A/B slots on the host's
#    loop devices and the test bed's bootloader (scripts/rauc-testbed: U-Boot's rules, played by
#    this script between boots). Four boots: (1) slot A: the policy (mediamtx may not talk to
#    RAUC, skycount may), the boot confirmed, a bundle uploaded as the operator installed into B,
#    the operator's reboot; (2) slot B: confirmed healthy and kept, the data partition's state
#    unchanged; another bundle installed (into A) and a fault that makes the next start
#    unhealthy; (3) slot A: not healthy within update.confirm_timeout_s, marked bad, the box
#    reboots by itself; (4) slot B again: the rollback recorded. The bootloader's choice, RAUC's
#    calls to it and the slots' contents are checked from outside.
#
# Environment: SKYCOUNTD (the x86-64 binary; default target/debug/skycountd, built when missing),
# BOOT_TIMEOUT (seconds for the first boot, default 600; the later ones get 300), KEEP=1 keeps the work folder (the root
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
# The two models and their INT8 twins (models/quantize.py), as the image's recipe installs them:
# on this CPU box model.precision = "auto" runs the drone model's twin.
models=("$repo/models/out/csrnet.onnx" "$repo/models/out/csrnet-drone.onnx"
        "$repo/models/out/csrnet-int8.onnx" "$repo/models/out/csrnet-drone-int8.onnx")
for model in "${models[@]}"; do
  [ -f "$model" ] || { echo "FAIL: no $model: build the models first (scripts/setup.sh)"; exit 1; }
done
[ -f web/dist/index.html ] || (cd web && npm run build)
ort=$(.venv/bin/python models/ort_lib.py)

work=$(mktemp -d /var/tmp/skycount-boot.XXXXXX)
cleanup() {
  [ -d "$work/testbed" ] && scripts/rauc-testbed/testbed.sh down "$work/testbed"
  [ "${KEEP:-0}" = 1 ] && echo "kept $work" || rm -rf --one-file-system "$work"
}
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
# RAUC (the updates), and squashfs-tools, with which its service mounts bundles.
include+=,rauc,rauc-service,squashfs-tools
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
for model in "${models[@]}"; do
  install -D -m 0644 "$model" "$rootfs/usr/share/skycount/models/$(basename "$model")"
done
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
  *.service | *.target | *.path | *.mount)
    install -m 0644 "$f" "$rootfs/usr/lib/systemd/system/"
    # Enabled as the systemd class does: units with [Install], templates through instances.
    grep -qx '\[Install\]' "$f" && [[ "$name" != *@.service ]] && units+=("$name")
    ;;
  *.d)
    install -d "$rootfs/usr/lib/systemd/system/$name"
    install -m 0644 "$f"/*.conf "$rootfs/usr/lib/systemd/system/$name/"
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
# skycount-update: who may talk to RAUC (its udev rule for USB sticks needs udevd: a board's).
install -D -m 0644 yocto-layer/meta-skycount/recipes-skycount/skycount-update/files/skycount-rauc.conf \
  "$rootfs/usr/share/dbus-1/system.d/skycount-rauc.conf"
echo "installed: skycountd ($(du -h "$skycountd" | cut -f1)), csrnet.onnx and csrnet-drone.onnx, the dashboard, $(basename "$ort"), units: ${units[*]}"

say "For this test only: RAUC's slots on loop devices, its bootloader a script, /data a folder"
# The test bed (keys, A/B slots on this machine's loop devices, system.conf, the bootloader
# script) is bound at /srv/testbed; its system.conf names that path. Not under /tmp or /var/tmp:
# skycountd's PrivateTmp= would hide it from the rauc command it runs.
testbed=$work/testbed
mkdir -p "$testbed"
scripts/rauc-testbed/testbed.sh prepare "$testbed"
for v in 2.0.0 3.0.0; do scripts/rauc-testbed/testbed.sh bundle "$testbed" "$testbed/skycount-$v.raucb" "$v" >/dev/null; done
install -d "$rootfs/etc/rauc" "$rootfs/srv/testbed" "$rootfs/data"
sed "s#$testbed#/srv/testbed#g" "$testbed/system.conf" >"$rootfs/etc/rauc/system.conf"
install -d "$rootfs/etc/systemd/system/rauc.service.d"
cat >"$rootfs/etc/systemd/system/rauc.service.d/boot-test.conf" <<'EOF'
# boot test: the slot this boot started (the test bed's bootloader, booted.env) and its state
[Service]
Environment=RAUC_TESTBED=/srv/testbed
EnvironmentFile=/srv/testbed/booted.env
ExecStart=
ExecStart=/usr/bin/rauc --mount=/run/rauc service --override-boot-slot=${BOOTED}
EOF
# What a boot runs with, written by this script before each boot: a fault that makes skycountd
# unhealthy (the software of a bad slot), and confirm-boot's time limit.
install -d "$rootfs/etc/systemd/system/skycountd.service.d" "$rootfs/etc/systemd/system/skycount-update-confirm.service.d"
printf '[Service]\nEnvironmentFile=-/srv/testbed/skycountd-fault.env\n' \
  >"$rootfs/etc/systemd/system/skycountd.service.d/boot-test-fault.conf"
printf '[Service]\nEnvironmentFile=-/srv/testbed/confirm.env\n' \
  >"$rootfs/etc/systemd/system/skycount-update-confirm.service.d/boot-test.conf"
# The data partition is a folder of this machine, bound in at /srv/data-disk: data.mount binds
# it at /data instead of mounting the partition labelled skycount-data (a device udev would name).
data=$work/data
mkdir -p "$data" "$rootfs/srv/data-disk"
install -d "$rootfs/etc/systemd/system/data.mount.d"
printf '[Mount]\nWhat=/srv/data-disk\nType=none\nOptions=bind\n' >"$rootfs/etc/systemd/system/data.mount.d/boot-test.conf"
# The operator signs in over HTTP to upload the bundles.
cat >>"$rootfs/etc/skycount/skycount.toml" <<'EOF'

# boot test: the operator's passphrase, for the software update's upload
[operator]
passphrase = "boot-test-pin"
EOF

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
# A boot that ends in a reboot (the operator's, or confirm-boot's) is not powered off.
ExecStopPost=/bin/sh -c 'test -e /run/boot-test-reboots || systemctl poweroff --no-block'

[Install]
WantedBy=multi-user.target
EOF
install -m 0755 /dev/stdin "$rootfs/usr/local/sbin/skycount-boot-checks" <<'CHECKS'
#!/bin/bash
# Runs inside the container, under its systemd. Every wait is bounded.
set -u
boot=$(cat /results/boot)
exec >"/results/report-$boot.txt" 2>&1
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
update() { curl -sf --max-time 10 http://127.0.0.1/api/update; }
healthy() { curl -sf --max-time 5 http://127.0.0.1/api/health | jq -e '.ok == true'; }
finish() { # the verdict of this boot
  echo
  echo "boot $boot checks: $passed passed, $failed failed"
  [ "$failed" -eq 0 ] && echo PASS >"/results/verdict-$boot" || echo FAIL >"/results/verdict-$boot"
}
confirmed() { # confirm-boot ran to its end (Type=exec: its main process exited)
  [ "$(prop skycount-update-confirm ExecMainExitTimestampMonotonic)" != 0 ] && [ "$(prop skycount-update-confirm ActiveState)" != active ]
}
# Signs in as the operator and uploads a bundle: the HTTP status; the answer in /tmp/upload.json.
upload() {
  curl -s -c /tmp/cookies -H 'Content-Type: application/json' -d '{"passphrase":"boot-test-pin"}' \
    http://127.0.0.1/api/auth/login >/dev/null
  curl -s -b /tmp/cookies -o /tmp/upload.json -w '%{http_code}' -T "$1" \
    "http://127.0.0.1/api/operator/update/bundle?name=$(basename "$1")"
}
installed_into() { update | jq -e --arg s "$1" '.activity.state == "installed" and .activity.slot == $s'; }
reboot_now() { # after the verdict: the operator's reboot (skycount-reboot.path reboots the container)
  touch /run/boot-test-reboots
  local code
  code=$(curl -s -b /tmp/cookies -o /dev/null -w '%{http_code}' -X POST http://127.0.0.1/api/operator/update/reboot)
  echo "the operator's reboot: HTTP $code (202: skycount-reboot.path reboots; this script's outside checks the exit)"
}
echo "boot $boot checks started $(date -u +%FT%TZ); RAUC booted slot: $(sed -n 's/^BOOTED=//p' /srv/testbed/booted.env)"

if [ "$boot" -gt 1 ]; then
  echo; echo "## boot $boot: skycountd and the confirmation of the slot"
  case "$boot" in
  2 | 4)
    wait_for 240 confirmed || fail "skycount-update-confirm.service did not finish: $(prop skycount-update-confirm ActiveState)"
    journalctl -b -u skycount-update-confirm --no-pager -o cat | sed 's/^/    /'
    [ "$(prop skycount-update-confirm Result)" = success ] && pass "slot $(sed -n 's/^BOOTED=//p' /srv/testbed/booted.env) confirmed after a healthy start" \
      || fail "confirm-boot: $(prop skycount-update-confirm Result)"
    echo "    last update: $(jq -c . /var/lib/skycount/update/last.json 2>&1)"
    echo "    /api/update: $(update | jq -c '{running, other, activity: .activity.state, last: .last.outcome}')"
    ;;
  esac
  case "$boot" in
  2)
    jq -e '.outcome == "updated"' /var/lib/skycount/update/last.json >/dev/null && pass "outcome: updated" || fail "outcome: $(cat /var/lib/skycount/update/last.json)"
    update | jq -e '.running.slot == "B" and .running.version == "2.0.0" and .other.slot == "A"' >/dev/null \
      && pass "/api/update: running 2.0.0 on slot B, other slot A" || fail "/api/update: $(update)"
    echo; echo "## boot 2: the next update"
    code=$(upload /srv/testbed/skycount-3.0.0.raucb)
    [ "$code" = 202 ] && pass "3.0.0 uploaded: $code" || fail "upload 3.0.0: $code $(cat /tmp/upload.json)"
    wait_for 120 installed_into A && pass "3.0.0 installed into slot A" || fail "3.0.0 not installed: $(update | jq -c .activity,.last)"
    finish
    reboot_now
    ;;
  3)
    # This slot's software is faulty (skycountd-fault.env): confirm-boot rejects it and the box
    # reboots by itself; the checks of this boot are made from outside (the exit, the
    # bootloader, last.json).
    touch /run/boot-test-reboots
    echo "    /api/health: $(curl -s --max-time 5 http://127.0.0.1/api/health)"
    finish
    ;;
  4)
    jq -e '.outcome == "rolled-back"' /var/lib/skycount/update/last.json >/dev/null \
      && pass "the rollback recorded: $(jq -r .message /var/lib/skycount/update/last.json)" || fail "outcome: $(cat /var/lib/skycount/update/last.json)"
    update | jq -e '.running.slot == "B" and .running.version == "2.0.0" and .other.slot == "A" and .other.good == false and .other.next_boot == false' >/dev/null \
      && pass "/api/update: back on slot B (2.0.0), slot A bad" || fail "/api/update: $(update)"
    finish
    ;;
  esac
  exit 0
fi
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
if status | jq -e '.model.precision == "int8" and (.model.file | endswith("/csrnet-drone-int8.onnx"))' >/dev/null; then
  pass "the default model runs as its INT8 twin: $(status | jq -c '.model | {file, precision}')"
else
  fail "the default model does not run as its INT8 twin: $(status | jq -c '.model | {file, precision, precision_reason}')"
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

echo; echo "## software update: the data partition, RAUC's service, the policy, the boot confirmed"
for d in /var/lib/skycount /var/lib/skycount-hotspot; do
  src=$(findmnt -no SOURCE "$d")
  [[ "$src" == *"/data"* ]] && pass "$d is on the data partition ($src)" || fail "$d is on $src, not /data"
done
wait_for 120 confirmed && [ "$(prop skycount-update-confirm Result)" = success ] \
  && pass "skycount-update-confirm.service: slot A confirmed after a healthy start" \
  || fail "skycount-update-confirm.service: $(prop skycount-update-confirm ActiveState)/$(prop skycount-update-confirm Result)"
journalctl -b -u skycount-update-confirm --no-pager -o cat | sed 's/^/    /'
if out=$(runuser -u mediamtx -- rauc status 2>&1); then
  fail "user mediamtx may ask RAUC: $out"
else
  echo "$out" | tail -1 | sed 's/^/    mediamtx: /'
  grep -qiE "AccessDenied|not allowed|rejected" <<<"$out" && pass "user mediamtx may not talk to RAUC (the D-Bus policy)" || fail "mediamtx refused, but not by the policy: $out"
fi
runuser -u skycount -- rauc status --output-format=json | jq -e '.booted == "A"' >/dev/null \
  && pass "user skycount asks RAUC over the system bus: booted from slot A" || fail "user skycount cannot ask RAUC: $(runuser -u skycount -- rauc status 2>&1 | tail -2)"
echo; echo "## software update: a bundle uploaded by the operator, installed into slot B"
t=$(since)
code=$(upload /srv/testbed/skycount-2.0.0.raucb)
[ "$code" = 202 ] && pass "2.0.0 uploaded: 202 $(jq -c .activity /tmp/upload.json)" || fail "upload: $code $(cat /tmp/upload.json)"
if wait_for 120 installed_into B; then
  pass "2.0.0 installed into slot B: $(update | jq -c '{other, last: .last.message}')"
else
  fail "not installed: $(update | jq -c '.activity, .last')"
fi
journalctl -u rauc --since "$t" --no-pager -o cat | grep -iE "installing|slot|succeeded|failed" | head -12 | sed 's/^/    /'
[ -e /var/lib/skycount/update/pending.json ] && pass "pending.json kept for confirm-boot: $(jq -c . /var/lib/skycount/update/pending.json)" || fail "no pending.json"

echo; echo "## skycountd's journal (this boot)"
journalctl -b -u skycountd --no-pager -o short-monotonic
finish
reboot_now
CHECKS
systemctl --root="$rootfs" enable skycount-test-publisher.service skycount-boot-checks.service nginx.service 2>&1 | sed 's/^/  /'

# No machined on the host (no registration; this unit's cgroup). On a host with cgroup v1 (as
# this one) the container gets the legacy hierarchy; on a cgroup v2 host, the unified one.
unified=0
[ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ] && unified=1
# The loop devices, for RAUC's service inside: the slots are two of them, a bundle is mounted
# through another.
loops=(--bind=/dev/loop-control)
for l in /dev/loop[0-9]*; do loops+=("--bind=$l"); done
bootloader() { RAUC_TESTBED=$testbed "$testbed/bootloader.sh" "$@"; }
sha() { sha256sum "$1" | cut -c1-16; }
image_sha() { head -c "$(stat -c %s "$testbed/work/rootfs-$1.ext4")" "$2" | sha256sum | cut -c1-16; }
slot_a=$(sed -n 's/^SLOT_A=//p' "$testbed/env")
slot_b=$(sed -n 's/^SLOT_B=//p' "$testbed/env")
a_factory=$(sha "$slot_a")

# Each boot: the slot the bootloader picks, the exit nspawn must end with (133: the container
# rebooted), and what is checked from outside afterwards.
verdict=PASS
boot_checks() { # N SLOT EXPECTED_EXIT
  local n=$1 want_slot=$2 want_rc=$3 slot limit rc t0
  slot=$(bootloader boot)
  echo "BOOTED=$slot" >"$testbed/booted.env"
  # Boot 3 starts faulty software (a model file that is not there) with a short confirm limit.
  if [ "$n" = 3 ]; then
    echo "SKYCOUNT_MODEL__PATH=/nonexistent/model.onnx" >"$testbed/skycountd-fault.env"
    echo "SKYCOUNT_UPDATE__CONFIRM_TIMEOUT_S=30" >"$testbed/confirm.env"
  else
    : >"$testbed/skycountd-fault.env"
    : >"$testbed/confirm.env"
  fi
  echo "$n" >"$results/boot"
  limit=${BOOT_TIMEOUT:-600}
  [ "$n" -gt 1 ] && limit=300
  say "Boot $n (systemd-nspawn -b, at most ${limit}s): the bootloader starts slot $slot"
  [ "$slot" = "$want_slot" ] || { echo "FAIL: the bootloader started slot $slot, expected $want_slot"; verdict=FAIL; }
  t0=$SECONDS
  set +e
  SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=$unified timeout --kill-after=20 "$limit" \
    systemd-nspawn --quiet --register=no --keep-unit --private-network --console=pipe \
    -D "$rootfs" --bind="$results:/results" --bind="$testbed:/srv/testbed" --bind="$data:/srv/data-disk" \
    "${loops[@]}" -b </dev/null >"$work/console-$n.log" 2>&1
  rc=$?
  set -e
  echo "the container ran $((SECONDS - t0))s (systemd-nspawn exit $rc; expected $want_rc)"
  if [ -f "$results/report-$n.txt" ]; then
    cat "$results/report-$n.txt"
  else
    echo "no report from inside: the container's console said:"
    tail -60 "$work/console-$n.log"
  fi
  local v
  v=$(cat "$results/verdict-$n" 2>/dev/null || echo "none (the checks did not finish)")
  # Boot 3 reboots when confirm-boot rejects the slot, whether or not its checks got to their end.
  [ "$n" = 3 ] && [ "$v" != FAIL ] && v=PASS
  if [ "$v" != PASS ] || [ "$rc" != "$want_rc" ]; then
    echo "FAIL: boot $n: verdict $v, exit $rc"
    echo "--- console (last 40 lines)"; tail -40 "$work/console-$n.log"
    verdict=FAIL
  fi
  echo "bootloader after boot $n: $(tr '\n' ' ' <"$testbed/bootloader.env")"
}
check() { # CONDITION TEXT: a check made from outside the container
  if eval "$1"; then echo "PASS: $2"; else echo "FAIL: $2"; verdict=FAIL; fi
}

boot_checks 1 A 133
# What the box keeps, on the data partition: the same after each update.
kept() { cat "$data/skycount/stream-key" "$data/skycount-hotspot/passphrase" 2>&1 | sha256sum | cut -c1-16; }
kept_before=$(kept)
check '[ "$(sha "$slot_a")" = "$a_factory" ]' "slot A (running) untouched by the install"
check '[ "$(image_sha 2.0.0 "$slot_b")" = "$(sha "$testbed/work/rootfs-2.0.0.ext4")" ]' "slot B holds the 2.0.0 image"
check 'grep -qx "set-primary B" "$testbed/bootloader.log"' "RAUC made slot B the next to boot"
[ "$verdict" = PASS ] && boot_checks 2 B 133
check '[ -s "$data/skycount/stream-key" ] && [ -s "$data/skycount-hotspot/passphrase" ] && [ "$(kept)" = "$kept_before" ]' \
  "the stream key and the hotspot's passphrase survived the update (data partition; $kept_before)"
check '[ "$(image_sha 3.0.0 "$slot_a")" = "$(sha "$testbed/work/rootfs-3.0.0.ext4")" ]' "slot A holds the 3.0.0 image"
[ "$verdict" = PASS ] && boot_checks 3 A 133
# RAUC marks a slot bad itself before writing it; confirm-boot's mark is the one after boot 3.
check 'awk "/^boot\$/ {n++} n == 3 && /^set-state A bad\$/ {f = 1} END {exit !f}" "$testbed/bootloader.log"' \
  "confirm-boot marked slot A bad in boot 3"
check 'grep -q "\"rolled-back\"" "$data/skycount/update/last.json" && grep -q "within 30 s" "$data/skycount/update/last.json"' \
  "confirm-boot recorded the rollback: $(grep -o '"message": "[^"]*"' "$data/skycount/update/last.json" 2>&1)"
[ "$verdict" = PASS ] && boot_checks 4 B 0
check '[ "$(kept)" = "$kept_before" ]' "the stream key and the hotspot's passphrase survived the rollback"
echo
echo "bootloader calls: $(tr '\n' ';' <"$testbed/bootloader.log")"
echo "boot test suite: $((SECONDS - start)) s, verdict $verdict"
[ "$verdict" = PASS ]
