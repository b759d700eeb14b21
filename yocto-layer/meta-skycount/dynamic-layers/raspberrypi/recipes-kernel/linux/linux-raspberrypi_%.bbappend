# skycount distro only: the kernel options RAUC's "verity" bundles need (docs/update.md).
FILESEXTRAPATHS:prepend:skycount := "${THISDIR}/files:"
SRC_URI:append:skycount = " file://skycount-rauc.cfg"
