SUMMARY = "skycount field box: everything the box runs"
DESCRIPTION = "MediaMTX, skycountd with its model, dashboard and configuration, the \
board's H.264 decoder and ONNX Runtime, the Wi-Fi hotspot (hostapd, systemd-networkd, \
dnsmasq), software updates with RAUC and the systemd units that tie them together."
HOMEPAGE = "https://github.com/skycount/skycount"
SECTION = "base"
LICENSE = "MIT"

# The decoder and ONNX Runtime differ per board (conf/distro/skycount.conf).
PACKAGE_ARCH = "${MACHINE_ARCH}"

inherit packagegroup

SKYCOUNT_GST_DECODER ??= "gstreamer1.0-libav"
SKYCOUNT_ONNXRUNTIME ??= "onnxruntime"

RDEPENDS:${PN} = "${SKYCOUNT_GST_DECODER} \
                  ${SKYCOUNT_ONNXRUNTIME} \
                  mediamtx \
                  skycount-config \
                  skycount-hotspot \
                  skycount-model-csrnet \
                  skycount-units \
                  skycount-update \
                  skycount-web \
                  skycountd"

# Tools to look at the radio in the field; the Wi-Fi firmware comes with the
# machine (MACHINE_EXTRA_RRECOMMENDS).
RRECOMMENDS:${PN} = "iw wireless-regdb-static"
