#!/bin/sh
# The test bed's bootloader: RAUC's `custom` bootloader backend, and the choice made at power-on.
# It keeps the state a U-Boot environment keeps on the Raspberry Pi image (BOOT_ORDER and
# BOOT_<slot>_LEFT) and changes it as RAUC's `uboot` backend and the image's boot script
# (yocto-layer/meta-skycount/recipes-bsp/rpi-u-boot-scr/files/boot.cmd.in) do:
#
#   get-primary             the first slot of BOOT_ORDER with attempts left
#   set-primary SLOT        SLOT first in BOOT_ORDER, with 3 attempts       (RAUC, after an install)
#   get-state SLOT          good while SLOT has attempts left, else bad
#   set-state SLOT good     3 attempts again                                 (rauc status mark-good)
#   set-state SLOT bad      0 attempts, out of BOOT_ORDER                    (rauc status mark-bad)
#   boot                    power-on: the first slot of BOOT_ORDER with attempts left boots, and
#                           one attempt is used; with none left anywhere, all get 3 again and
#                           the first boots (the boot script's "no valid slot" branch)
#
# The state is $RAUC_TESTBED/bootloader.env; every call is appended to
# $RAUC_TESTBED/bootloader.log (a test reads which calls RAUC made, and in which order).
set -eu
dir=${RAUC_TESTBED:?RAUC_TESTBED names the test bed folder}
envf=$dir/bootloader.env
ATTEMPTS=3
[ -f "$envf" ] || printf 'BOOT_ORDER=A B\nBOOT_A_LEFT=3\nBOOT_B_LEFT=3\n' >"$envf"
echo "$*" >>"$dir/bootloader.log"
# A test holds a command here to cut the power in it (testbed.sh cut).
if [ -f "$dir/hold" ] && [ "$(cat "$dir/hold")" = "${1:-}" ]; then
  n=0
  while [ -f "$dir/hold" ] && [ $n -lt 1200 ]; do sleep 0.1; n=$((n + 1)); done
fi

get() { sed -n "s/^$1=//p" "$envf"; }
put() {
  grep -v "^$1=" "$envf" >"$envf.new" || true
  echo "$1=$2" >>"$envf.new"
  mv "$envf.new" "$envf"
}
slot_ok() {
  case "$1" in A | B) ;; *) echo "no slot '$1' (A or B)" >&2; exit 1 ;; esac
}
left() { v=$(get "BOOT_$1_LEFT"); echo "${v:-0}"; }

case "${1:-}" in
get-primary)
  for s in $(get BOOT_ORDER); do
    if [ "$(left "$s")" -gt 0 ]; then echo "$s"; exit 0; fi
  done
  echo "no slot has attempts left" >&2
  exit 1
  ;;
set-primary)
  slot_ok "$2"
  order=$2
  for s in $(get BOOT_ORDER); do [ "$s" = "$2" ] || order="$order $s"; done
  put BOOT_ORDER "$order"
  put "BOOT_$2_LEFT" "$ATTEMPTS"
  ;;
get-state)
  slot_ok "$2"
  if [ "$(left "$2")" -gt 0 ]; then echo good; else echo bad; fi
  ;;
set-state)
  slot_ok "$2"
  case "$3" in
  good) put "BOOT_$2_LEFT" "$ATTEMPTS" ;;
  bad)
    order=
    for s in $(get BOOT_ORDER); do [ "$s" = "$2" ] || order="${order:+$order }$s"; done
    put BOOT_ORDER "$order"
    put "BOOT_$2_LEFT" 0
    ;;
  *) echo "set-state: '$3' is not good or bad" >&2; exit 1 ;;
  esac
  ;;
boot)
  for s in $(get BOOT_ORDER); do
    n=$(left "$s")
    if [ "$n" -gt 0 ]; then
      put "BOOT_${s}_LEFT" $((n - 1))
      echo "$s"
      exit 0
    fi
  done
  # No slot left: as the boot script does, every slot gets its attempts back.
  [ -n "$(get BOOT_ORDER)" ] || put BOOT_ORDER "A B"
  for s in A B; do put "BOOT_${s}_LEFT" "$ATTEMPTS"; done
  first=$(get BOOT_ORDER | cut -d' ' -f1)
  put "BOOT_${first}_LEFT" $((ATTEMPTS - 1))
  echo "$first"
  ;;
*)
  echo "usage: bootloader.sh get-primary | set-primary SLOT | get-state SLOT | set-state SLOT good|bad | boot" >&2
  exit 1
  ;;
esac
