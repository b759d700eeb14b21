# skycount distro only: RAUC's system configuration for this board (files/<machine>/system.conf)
# and the keyring bundles are checked against, from SKYCOUNT_RAUC_KEYS (the development keys
# unless a fleet's are set; conf/distro/skycount.conf, docs/update.md).
FILESEXTRAPATHS:prepend:skycount := "${SKYCOUNT_RAUC_KEYS}:${THISDIR}/files:"
RAUC_KEYRING_FILE:skycount = "skycount-keyring.pem"
