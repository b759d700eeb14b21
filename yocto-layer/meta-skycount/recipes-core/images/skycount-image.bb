SUMMARY = "skycount field box image"
DESCRIPTION = "Boots into a Wi-Fi hotspot that serves the skycount dashboard: MediaMTX \
receives the drone's RTMP stream, skycountd counts the crowd in it, browsers on \
the hotspot watch both."
HOMEPAGE = "https://github.com/skycount/skycount"
LICENSE = "MIT"

inherit core-image

IMAGE_INSTALL = "packagegroup-core-boot \
                 packagegroup-skycount \
                 ${CORE_IMAGE_EXTRA_INSTALL}"

# Raspberry Pi: U-Boot loads the kernel from the slot it boots (RAUC A/B; docs/update.md).
IMAGE_INSTALL:append:rpi = " kernel-image"

IMAGE_LINGUAS = ""

# Room for TensorRT's engine cache and logs on top of the rootfs contents.
IMAGE_ROOTFS_EXTRA_SPACE = "1048576"

# IMAGE_FSTYPES comes with the machine: meta-tegra's tegraflash package for the
# Jetson, a bmap-indexed SD card image (wic.bz2, wic.bmap) for the Raspberry Pis, whose
# layout (two system slots, a data partition) is the distro's WKS_FILE. The update bundle
# of this image is built by skycount-bundle (docs/update.md).

# Loud, every build: boxes made with the development keyring install bundles anyone can sign.
# nooelint: oelint.task.noanonpython
python __anonymous () {
    keys = d.getVar('SKYCOUNT_RAUC_KEYS') or ''
    if keys.rstrip('/').endswith('/files/rauc-development'):
        bb.warn("skycount-image trusts the DEVELOPMENT update key committed in meta-skycount "
                "(%s): anyone can sign bundles this box installs. Never ship a fleet with it: set "
                "SKYCOUNT_RAUC_KEYS to the fleet's keys (docs/update.md, Keys)." % keys)
}

