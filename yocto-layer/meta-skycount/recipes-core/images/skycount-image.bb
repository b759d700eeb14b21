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

IMAGE_LINGUAS = ""

# Room for TensorRT's engine cache and logs on top of the rootfs contents.
IMAGE_ROOTFS_EXTRA_SPACE = "1048576"

# IMAGE_FSTYPES comes with the machine: meta-tegra's tegraflash package for the
# Jetson, a bmap-indexed SD card image (wic.bz2, wic.bmap) for the Raspberry Pis.

