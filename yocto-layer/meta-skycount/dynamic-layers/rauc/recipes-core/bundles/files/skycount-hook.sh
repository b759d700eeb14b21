#!/bin/sh
# RAUC's hooks in skycount's update bundles (docs/update.md), run by the RAUC service on the box.
#
# slot-post-install, after the root file system is written into the other slot: on the Jetson,
# the bundle also carries the boot firmware's UEFI capsule (tegra-bl.cap), built from the same
# L4T release as the root file system. It is staged on the ESP, where the firmware applies it to
# the other bootloader slot at the next boot and switches to it; the root file system slot
# follows the bootloader slot (NVIDIA's rootfs A/B). The Raspberry Pis' bundles have no capsule:
# nothing to do.
set -eu
case "${1:-}" in
slot-post-install)
  [ "${RAUC_SLOT_CLASS:-}" = rootfs ] || exit 0
  capsule=${RAUC_BUNDLE_MOUNT_POINT:?}/tegra-bl.cap
  [ -f "$capsule" ] || exit 0
  dir=/boot/efi/EFI/UpdateCapsule
  mountpoint -q /boot/efi || { echo "the ESP is not mounted at /boot/efi: cannot stage the boot firmware's capsule" >&2; exit 1; }
  mkdir -p "$dir"
  cp "$capsule" "$dir/TEGRA_BL.Cap.new"
  sync "$dir/TEGRA_BL.Cap.new"
  mv "$dir/TEGRA_BL.Cap.new" "$dir/TEGRA_BL.Cap"
  sync
  echo "staged the boot firmware's capsule for slot $RAUC_SLOT_BOOTNAME"
  ;;
*) ;;
esac
