SUMMARY = "skycount software update: a signed RAUC bundle of skycount-image"
DESCRIPTION = "The bundle a box installs into its other system slot, from the dashboard or a \
USB stick (docs/update.md): skycount-image's root file system (ext4, the kernel in its /boot), \
for this MACHINE only (compatible skycount-MACHINE), in RAUC's verity format, signed with the \
key in SKYCOUNT_RAUC_KEYS. On the Jetson it also carries the boot firmware's UEFI capsule."
HOMEPAGE = "https://github.com/skycount/skycount"
LICENSE = "MIT"

inherit bundle

SRC_URI = "file://skycount-hook.sh"

RAUC_BUNDLE_COMPATIBLE = "skycount-${MACHINE}"
RAUC_BUNDLE_VERSION = "${DISTRO_VERSION}"
RAUC_BUNDLE_DESCRIPTION = "skycount ${DISTRO_VERSION} for ${MACHINE}"
RAUC_BUNDLE_FORMAT = "verity"

RAUC_BUNDLE_SLOTS = "rootfs"
RAUC_SLOT_rootfs = "skycount-image"
RAUC_SLOT_rootfs[fstype] = "ext4"
RAUC_SLOT_rootfs[hooks] = "post-install"
RAUC_BUNDLE_HOOKS[file] = "skycount-hook.sh"

# Jetson: the boot firmware's capsule, for the other bootloader slot (files/skycount-hook.sh).
RAUC_BUNDLE_EXTRA_DEPENDS:append:tegra = " tegra-uefi-capsules"
RAUC_BUNDLE_EXTRA_FILES:append:tegra = " tegra-bl.cap"

# The signing key and certificate: the development ones in the layer unless SKYCOUNT_RAUC_KEYS
# names a fleet's (or RAUC_KEY_FILE is set, e.g. to a PKCS#11 URL).
RAUC_KEY_FILE ?= "${SKYCOUNT_RAUC_KEYS}/development-1.key.pem"
RAUC_CERT_FILE ?= "${SKYCOUNT_RAUC_KEYS}/development-1.cert.pem"
RAUC_KEYRING_FILE ?= "${SKYCOUNT_RAUC_KEYS}/skycount-keyring.pem"

# Loud, every build: a bundle signed with the committed development key can be made by anyone.
# nooelint: oelint.task.noanonpython
python __anonymous () {
    key = d.getVar('RAUC_KEY_FILE') or ''
    if '/files/rauc-development/' in key:
        bb.warn("skycount-bundle is signed with the DEVELOPMENT key committed in meta-skycount "
                "(%s): anyone can sign bundles that boxes built with its keyring install. Never ship "
                "a fleet with it: make the fleet's keys (yocto-layer/scripts/rauc_keys.sh production "
                "DIR) and set SKYCOUNT_RAUC_KEYS = \"DIR\" (docs/update.md, Keys)." % key)
}
