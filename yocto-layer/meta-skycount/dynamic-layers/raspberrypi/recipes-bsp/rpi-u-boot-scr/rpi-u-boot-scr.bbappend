# skycount distro only: U-Boot's boot script picks one of RAUC's two system slots
# (files/boot.cmd.in; docs/update.md).
FILESEXTRAPATHS:prepend:skycount := "${THISDIR}/files:"
