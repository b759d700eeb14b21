#!/usr/bin/env bash
# Checks what skycount installs beside skycountd, as the box would run it:
#  1. the systemd units, with `systemd-analyze verify` in a staged root (any warning fails);
#  2. the sysusers.d file, with `systemd-sysusers --dry-run` in that root;
#  3. the rendered hotspot files: dnsmasq's own `--test`, and hostapd's parser (hostapd has no
#     check-only mode: it is run on the file with no radio; a file it accepts gets as far as
#     "Failed to initialize driver", one it refuses prints "Line N: …" and "errors found");
#  4. render-mediamtx end to end (its keys and types are checked by cargo test).
# Needs: systemd, dnsmasq, hostapd, and rauc-service for the drop-in rauc.service.d (Debian
# packages; scripts/debian-test-packages.txt).
# Uses $SKYCOUNTD when set, otherwise builds the debug binary.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
fail=0
problem() { echo "FAIL: $*"; fail=1; }

for tool in systemd-analyze systemd-sysusers dnsmasq hostapd; do
  command -v "$tool" >/dev/null || PATH="$PATH:/usr/sbin:/sbin"
  command -v "$tool" >/dev/null || { echo "FAIL: $tool is not installed (apt-get install systemd dnsmasq hostapd)"; exit 1; }
done

if [ -z "${SKYCOUNTD:-}" ]; then
  (cd "$repo" && cargo build --quiet --bin skycountd)
  SKYCOUNTD="$repo/target/debug/skycountd"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# 1. Units in a staged root: systemd's own units, ours, and stubs where ours name programs.
root="$work/root"
mkdir -p "$root/etc/systemd/system" "$root/usr/lib/systemd" "$root/usr/lib/sysusers.d" \
  "$root/usr/bin" "$root/usr/sbin" "$root/bin" "$root/etc"
cp -a /usr/lib/systemd/system "$root/usr/lib/systemd/"
units=()
for u in "$here"/*.service "$here"/*.target "$here"/*.path "$here"/*.mount; do
  cp "$u" "$root/etc/systemd/system/"
  name=$(basename "$u")
  case "$name" in
  # A template is verified through an instance (a USB stick's partition).
  *@.service) units+=("${name%@.service}@sda1.service") ;;
  *) units+=("$name") ;;
  esac
done
# Drop-ins for other packages' units (rauc.service.d): verified with that unit when this
# machine has it (Debian's rauc-service package).
for d in "$here"/*.d; do
  [ -d "$d" ] || continue
  cp -r "$d" "$root/etc/systemd/system/"
  unit=$(basename "$d" .d)
  if [ -e "$root/usr/lib/systemd/system/$unit" ] || [ -e "$here/$unit" ]; then
    units+=("$unit")
  else
    echo "note: $unit (for systemd/$(basename "$d")/) is not installed here: the drop-in is not verified"
  fi
done
for exe in usr/bin/skycountd usr/bin/mediamtx usr/sbin/hostapd usr/sbin/dnsmasq \
  usr/bin/networkctl usr/bin/mount usr/bin/umount usr/bin/mkdir usr/bin/chmod usr/bin/systemctl \
  usr/bin/rauc bin/kill bin/rm; do
  printf '#!/bin/sh\nexit 0\n' >"$root/$exe"
  chmod +x "$root/$exe"
done
out=$(cd "$root/etc/systemd/system" && systemd-analyze verify --root="$root" --man=no "${units[@]}" 2>&1) \
  || problem "systemd-analyze verify failed"
if [ -n "$out" ]; then
  echo "$out"
  problem "systemd-analyze verify printed warnings"
else
  echo "ok: systemd-analyze verify ${units[*]}"
fi

# 2. sysusers.d
cp "$here/skycount.sysusers" "$root/usr/lib/sysusers.d/skycount.conf"
touch "$root/etc/passwd" "$root/etc/group"
# It exits 0 even on lines it ignores: anything but its plan is a problem.
if out=$(systemd-sysusers --root="$root" --dry-run 2>&1) && ! grep -vqE "^(Creating|Would )" <<<"$out"; then
  echo "ok: systemd-sysusers --dry-run"
else
  echo "$out"
  problem "systemd-sysusers refused skycount.sysusers"
fi

# 3. Hotspot files rendered from TOMLs covering 2.4 and 5 GHz, a portal and none, odd SSIDs.
hostapd_accepts() {
  local log
  log=$(timeout 10 hostapd -dd "$1" 2>&1 || true)
  if grep -qE "errors? found in configuration file|^Line [0-9]+:" <<<"$log" \
    || ! grep -q "^Configuration file: $1" <<<"$log"; then
    echo "$log" | grep -E "^Line|errors found|Configuration file" || true
    return 1
  fi
}
n=0
while IFS= read -r toml; do
  n=$((n + 1))
  dir="$work/hotspot$n"
  mkdir -p "$dir"
  printf '%b' "${toml//@DIR@/$dir}" >"$dir/skycount.toml"
  if ! "$SKYCOUNTD" --config "$dir/skycount.toml" render-hotspot --out-dir "$dir" --network-dir "$dir" >/dev/null 2>"$dir/err"; then
    cat "$dir/err"; problem "render-hotspot #$n failed"; continue
  fi
  if out=$(dnsmasq --test --conf-file="$dir/dnsmasq.conf" 2>&1); then
    echo "ok: dnsmasq --test #$n ($out)"
  else
    echo "$out"; problem "dnsmasq refused dnsmasq.conf #$n"
  fi
  if hostapd_accepts "$dir/hostapd.conf"; then
    echo "ok: hostapd parses hostapd.conf #$n"
  else
    problem "hostapd refused hostapd.conf #$n"
  fi
  grep -q "^Address=" "$dir/10-skycount-hotspot.network" || problem ".network #$n has no Address="
  # No passphrase in the TOML: the first render generates one and keeps it.
  if [ -e "$dir/passphrase" ]; then
    kept=$(cat "$dir/passphrase")
    if [ "${#kept}" -eq 12 ] && grep -qxF "wpa_passphrase=$kept" "$dir/hostapd.conf" \
      && grep -qF "passphrase: $kept" "$dir/hotspot.issue"; then
      echo "ok: a generated passphrase is kept, used by hostapd and shown in the login banner #$n"
    else
      problem "generated passphrase #$n: kept '$kept', not in hostapd.conf or hotspot.issue"
    fi
  fi
done <<'TOMLS'
[hotspot]\nenabled = true\npassphrase = "correct horse battery"\n
[hotspot]\nenabled = true\nssid = "Crowd \\"Ops\\" #1 ünïcode"\npassphrase = "p@ss w0rd with spaces and # signs"\ncountry = "DE"\nchannel = 36\ncaptive_portal = false\n
[hotspot]\nenabled = true\ninterface = "wlp2s0"\nssid = "x"\npassphrase = "12345678"\ncountry = "US"\nchannel = 11\naddress = "10.42.0.1/16"\ndhcp_range = "10.42.1.1-10.42.9.254"\n
[hotspot]\nenabled = true\npassphrase_file = "@DIR@/passphrase"\n
TOMLS

# The checker itself must refuse a broken file.
printf 'interface=wlan0\nssid=x\nhw_mode=q\nwpa=2\nwpa_passphrase=short\n' >"$work/bad.conf"
if hostapd_accepts "$work/bad.conf" >/dev/null; then problem "the hostapd check accepted a broken file"; fi

# A hotspot that is off renders nothing and is skipped by its units (ExecCondition).
printf '[hotspot]\nenabled = false\n' >"$work/off.toml"
if "$SKYCOUNTD" --config "$work/off.toml" hotspot-enabled; then problem "hotspot-enabled said yes for a disabled hotspot"; fi

# 4. render-mediamtx end to end, with the key generated and kept.
printf '[stream]\nkey_file = "%s/stream-key"\n[mediamtx]\nconfig_out = "%s/run/mediamtx.yml"\n' "$work" "$work" >"$work/mtx.toml"
if "$SKYCOUNTD" --config "$work/mtx.toml" render-mediamtx --create-key 2>/dev/null \
  && grep -q "^webrtcICEServers2: \[\]" "$work/run/mediamtx.yml" \
  && grep -q "sha256:" "$work/run/mediamtx.yml"; then
  echo "ok: render-mediamtx"
else
  problem "render-mediamtx"
fi

[ "$fail" -eq 0 ] && echo "systemd/check.sh: all passed" || echo "systemd/check.sh: FAILED"
exit "$fail"
