#!/usr/bin/env bash
# A RAUC test bed on this machine: real RAUC (Debian's rauc and rauc-service), real signed
# bundles, two A/B system slots on loop devices, and a bootloader played by bootloader.sh.
#
#   testbed.sh up DIR            keys, slots, system.conf; a private D-Bus bus and the RAUC service,
#                                booted from the slot the bootloader picks. Writes DIR/env.
#   testbed.sh prepare DIR       keys, slots and system.conf only, for a RAUC service elsewhere (a
#                                container binding DIR at the same path: scripts/boot_test.sh)
#   testbed.sh bundle DIR OUT VERSION [COMPATIBLE] [SIGNER] [PAYLOAD_KB]
#                                a bundle of a small ext4 root file system (its /etc/os-release
#                                says VERSION, PAYLOAD_KB of random data make it that large),
#                                signed by SIGNER: dev (the key the slots trust, the default),
#                                stranger (a key from another CA) or none (no signature at all)
#   testbed.sh reboot DIR        a power cycle: the RAUC service stops, the bootloader picks a slot
#                                (and uses one of its attempts), the service starts booted from it;
#                                prints the slot
#   testbed.sh cut DIR           a power cut: the RAUC service and whatever it runs (the bootloader
#                                script) are killed at once, nothing is stopped cleanly
#   testbed.sh down DIR          stops the service and the bus, detaches the loop devices
#
# With a file DIR/hold naming a bootloader command (e.g. set-primary), bootloader.sh waits in that
# command until the file is gone (at most 120 s): a test cuts the power at that moment.
#
# DIR/env holds, one KEY=VALUE a line: RAUC_TESTBED, DBUS_STARTER_BUS_TYPE and
# DBUS_SESSION_BUS_ADDRESS (RAUC's service and its clients use the private bus), RAUC_CONF (the
# test bed's system.conf for `rauc --conf`), SLOT_A and SLOT_B (the slots' devices), COMPATIBLE
# and BOOTED. The compatible is skycount-testbed. The slots are 32 MB (TESTBED_SLOT_MB: more, for
# larger bundles).
#
# Bundles are in RAUC's `plain` format: the kernel here has no device-mapper, which `verity`
# bundles (the box's format) need to be mounted. Needs root (RAUC's service mounts bundles and
# writes block devices) and the Debian packages rauc, rauc-service, squashfs-tools, e2fsprogs,
# openssl and dbus.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cmd=${1:-}
dir=${2:-}
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2; exit 2; }
[ -n "$cmd" ] && [ -n "$dir" ] || usage
COMPATIBLE=skycount-testbed
SLOT_MB=${TESTBED_SLOT_MB:-32}

die() { echo "testbed: $*" >&2; exit 1; }
need() { command -v "$1" >/dev/null || die "$1 is missing (apt-get install $2; scripts/debian-test-packages.txt)"; }

bus_env() {
  export RAUC_TESTBED=$dir DBUS_STARTER_BUS_TYPE=session
  DBUS_SESSION_BUS_ADDRESS=$(cat "$dir/bus.address")
  export DBUS_SESSION_BUS_ADDRESS
}

# Starts the RAUC service booted from slot $1 and waits until it answers.
start_service() {
  bus_env
  setsid rauc --conf="$dir/system.conf" --mount="$dir/mnt" service --override-boot-slot="$1" \
    </dev/null >>"$dir/rauc.log" 2>&1 &
  echo $! >"$dir/rauc.pid"
  for _ in $(seq 1 200); do
    if rauc --conf="$dir/system.conf" status >/dev/null 2>&1; then
      sed -i "s/^BOOTED=.*/BOOTED=$1/" "$dir/env"
      return 0
    fi
    kill -0 "$(cat "$dir/rauc.pid")" 2>/dev/null || die "the RAUC service exited: $(tail -5 "$dir/rauc.log")"
    sleep 0.1
  done
  die "the RAUC service did not answer within 20 s: $(tail -5 "$dir/rauc.log")"
}

stop_pid() { # FILE: stops the process whose id it holds, waiting for it (at most 10 s)
  [ -f "$1" ] || return 0
  local pid
  pid=$(cat "$1")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    # The service's bootloader script may be held (DIR/hold): its whole group goes.
    kill -9 -- "-$pid" 2>/dev/null || kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$1"
}

# A CA and a signing certificate it issued: keys/NAME-ca.cert.pem, keys/NAME.{key,cert}.pem.
make_signer() {
  local name=$1 k=$dir/keys
  openssl req -x509 -newkey rsa:2048 -nodes -days 36500 -keyout "$k/$name-ca.key.pem" \
    -out "$k/$name-ca.cert.pem" -subj "/O=skycount test bed/CN=$name CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -keyout "$k/$name.key.pem" -out "$k/$name.csr.pem" \
    -subj "/O=skycount test bed/CN=$name signing" 2>/dev/null
  printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n' >"$k/leaf.ext"
  openssl x509 -req -in "$k/$name.csr.pem" -CA "$k/$name-ca.cert.pem" -CAkey "$k/$name-ca.key.pem" \
    -CAcreateserial -days 36500 -extfile "$k/leaf.ext" -out "$k/$name.cert.pem" 2>/dev/null
}

case "$cmd" in
prepare | up)
  [ "$(id -u)" -eq 0 ] || die "needs root: RAUC's service mounts bundles and writes the slots"
  need rauc "rauc rauc-service"; need mksquashfs squashfs-tools; need mkfs.ext4 e2fsprogs
  need openssl openssl; need dbus-daemon dbus; need losetup mount
  [ -e "$dir/env" ] && die "$dir already holds a test bed: testbed.sh down $dir first"
  mkdir -p "$dir/keys" "$dir/mnt" "$dir/rauc-data"
  dir=$(cd "$dir" && pwd)
  make_signer dev
  make_signer stranger
  # The bootloader script lives in the folder: a container that binds the folder finds it.
  install -m 0755 "$here/bootloader.sh" "$dir/bootloader.sh"
  # The slots: A holds the "factory" image, B is empty; on loop devices when there are any.
  "$0" bundle "$dir" "$dir/factory.raucb" 1.0.0 >/dev/null
  for s in A B; do truncate -s "${SLOT_MB}M" "$dir/slot-$s.img"; done
  dd if="$dir/work/rootfs-1.0.0.ext4" of="$dir/slot-A.img" conv=notrunc status=none
  if a=$(losetup --find --show "$dir/slot-A.img" 2>/dev/null) && b=$(losetup --find --show "$dir/slot-B.img" 2>/dev/null); then
    echo "$a $b" >"$dir/loops"
  else
    [ -n "${a:-}" ] && losetup -d "$a"
    echo "testbed: no loop device here: the slots are plain files" >&2
    a=$dir/slot-A.img
    b=$dir/slot-B.img
  fi
  cat >"$dir/system.conf" <<EOF
# The test bed's RAUC system configuration (scripts/rauc-testbed/testbed.sh): the box's
# (yocto-layer/meta-skycount/dynamic-layers/rauc/recipes-core/rauc/files/*/system.conf) with its
# slots on loop devices, its bootloader played by bootloader.sh and plain bundles allowed.
[system]
compatible=$COMPATIBLE
bootloader=custom
data-directory=$dir/rauc-data
bundle-formats=plain verity

[keyring]
path=$dir/keys/dev-ca.cert.pem
use-bundle-signing-time=true

[handlers]
bootloader-custom-backend=$dir/bootloader.sh

[slot.rootfs.0]
device=$a
type=ext4
bootname=A

[slot.rootfs.1]
device=$b
type=ext4
bootname=B
EOF
  {
    echo "RAUC_TESTBED=$dir"
    echo "RAUC_CONF=$dir/system.conf"
    echo "SLOT_A=$a"
    echo "SLOT_B=$b"
    echo "COMPATIBLE=$COMPATIBLE"
    echo "BOOTED="
  } >"$dir/env"
  if [ "$cmd" = prepare ]; then
    echo "testbed: prepared in $dir: slots $a (A) and $b (B)"
    exit 0
  fi
  dbus-daemon --session --fork --print-address=3 --print-pid=4 3>"$dir/bus.address" 4>"$dir/bus.pid"
  {
    echo "DBUS_STARTER_BUS_TYPE=session"
    echo "DBUS_SESSION_BUS_ADDRESS=$(cat "$dir/bus.address")"
  } >>"$dir/env"
  export RAUC_TESTBED=$dir
  booted=$("$here/bootloader.sh" boot)
  start_service "$booted"
  echo "testbed: up in $dir: slots $a (A) and $b (B), booted from $booted"
  ;;
bundle)
  out=${3:?OUT}
  version=${4:?VERSION}
  compatible=${5:-$COMPATIBLE}
  signer=${6:-dev}
  payload_kb=${7:-256}
  work=$dir/work
  mkdir -p "$work"
  root=$(mktemp -d "$work/root.XXXXXX")
  mkdir -p "$root/etc"
  printf 'NAME="skycount test bed"\nVERSION_ID=%s\nPRETTY_NAME="skycount test bed %s"\n' "$version" "$version" >"$root/etc/os-release"
  head -c "$((payload_kb * 1024))" /dev/urandom >"$root/payload"
  image=$work/rootfs-$version.ext4
  mkfs.ext4 -q -F -b 4096 -N 64 -L rootfs -d "$root" "$image" "$((payload_kb + payload_kb / 16 + 8192))k" >/dev/null
  rm -rf "$root"
  content=$(mktemp -d "$work/content.XXXXXX")
  cp "$image" "$content/rootfs.ext4"
  cat >"$content/manifest.raucm" <<EOF
[update]
compatible=$compatible
version=$version
description=skycount test bed $version
build=testbed

[bundle]
format=plain

[image.rootfs]
filename=rootfs.ext4
EOF
  rm -f "$out"
  case "$signer" in
  none) mksquashfs "$content" "$out" -quiet -noappend -all-root >/dev/null ;;
  dev | stranger)
    rauc bundle --cert="$dir/keys/$signer.cert.pem" --key="$dir/keys/$signer.key.pem" "$content" "$out" >/dev/null 2>"$work/bundle.log" \
      || die "rauc bundle failed: $(cat "$work/bundle.log")"
    ;;
  *) die "signer '$signer': dev, stranger or none" ;;
  esac
  rm -rf "$content"
  echo "$out"
  ;;
cut)
  if [ -f "$dir/rauc.pid" ]; then
    # The service was started with setsid: its process group is its own.
    kill -9 -- "-$(cat "$dir/rauc.pid")" 2>/dev/null || true
    rm -f "$dir/rauc.pid"
  fi
  rm -f "$dir/hold"
  ;;
reboot)
  dir=$(cd "$dir" && pwd)
  stop_pid "$dir/rauc.pid"
  export RAUC_TESTBED=$dir
  booted=$("$here/bootloader.sh" boot)
  start_service "$booted"
  echo "$booted"
  ;;
down)
  [ -d "$dir" ] || exit 0
  rm -f "$dir/hold"
  stop_pid "$dir/rauc.pid"
  stop_pid "$dir/bus.pid"
  # A service killed mid-install leaves its bundle mounted.
  for m in $(awk -v d="$dir/mnt/" 'index($2, d) == 1 {print $2}' /proc/mounts); do umount -l "$m" 2>/dev/null || true; done
  if [ -f "$dir/loops" ]; then
    for l in $(cat "$dir/loops"); do losetup -d "$l" 2>/dev/null || true; done
    rm -f "$dir/loops"
  fi
  rm -f "$dir/env"
  ;;
*) usage ;;
esac
