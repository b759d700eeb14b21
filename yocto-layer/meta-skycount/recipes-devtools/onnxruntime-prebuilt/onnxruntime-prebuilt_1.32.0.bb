SUMMARY = "ONNX Runtime, CPU execution provider (the PyPI aarch64 wheel's library)"
DESCRIPTION = "libonnxruntime.so from the PyPI onnxruntime wheel for aarch64, the very \
file skycount's tests run (models/requirements.txt pins the version; \
scripts/aarch64.sh runs this wheel's library under qemu), for boards without \
CUDA (Raspberry Pi). skycountd loads it at run time. Jetson boards use the \
onnxruntime recipe of meta-tegra-community instead, built with the CUDA and \
TensorRT execution providers."
HOMEPAGE = "https://pypi.org/project/onnxruntime/"
SECTION = "libs"
LICENSE = "MIT"
# The wheel packs the repository's LICENSE (the same md5 as meta-tegra-community's
# onnxruntime recipe checks); third-party notices are in ThirdPartyNotices.txt.
LIC_FILES_CHKSUM = "file://onnxruntime/LICENSE;md5=0f7e3b1308cb5c00b372a6e78835732d"

COMPATIBLE_HOST = "aarch64.*-linux"

# One version for the project: ${PV} must be models/requirements.txt's onnxruntime
# (yocto-layer/scripts/check.sh fails otherwise). A wheel is a zip: fetched under a
# .zip name, bitbake unpacks it. The path and sha256 are PyPI's for this file
# (https://pypi.org/simple/onnxruntime/); the sha256 was also computed here from
# the download scripts/aarch64.sh makes.
ONNXRUNTIME_WHEEL = "onnxruntime-${PV}-cp311-cp311-manylinux_2_28_aarch64.whl"
SRC_URI = "https://files.pythonhosted.org/packages/b7/30/103820b32e9dc1d1fcfc5b519fd2de5bd699d25a25895caf5d726350d1b5/${ONNXRUNTIME_WHEEL};downloadfilename=${ONNXRUNTIME_WHEEL}.zip;subdir=onnxruntime-wheel"
SRC_URI[sha256sum] = "2303372a85299b6757b0e11e1cbf13e410ddf7e10c37f4b37e99d1c90e7daf7c"

S = "${UNPACKDIR}/onnxruntime-wheel"

UPSTREAM_CHECK_URI = "https://pypi.org/simple/onnxruntime/"
UPSTREAM_CHECK_REGEX = "onnxruntime-(?P<pver>\d+(\.\d+)+)-cp311-cp311-manylinux_2_28_aarch64\.whl"

# Built by upstream (manylinux_2_28: glibc 2.28 or newer); it needs only the C++ runtime.
do_configure[noexec] = "1"
do_compile[noexec] = "1"

do_install() {
    install -d ${D}${libdir}
    install -m 0755 ${S}/onnxruntime/capi/libonnxruntime.so.${PV} ${D}${libdir}/
    ln -sf libonnxruntime.so.${PV} ${D}${libdir}/libonnxruntime.so.1
    ln -sf libonnxruntime.so.${PV} ${D}${libdir}/libonnxruntime.so
    install -m 0755 ${S}/onnxruntime/capi/libonnxruntime_providers_shared.so ${D}${libdir}/
}

# skycountd dlopens libonnxruntime.so, the name ort looks for, so the
# unversioned link belongs with the library (as in meta-tegra-community).
FILES_SOLIBSDEV = ""
FILES:${PN} += "${libdir}/libonnxruntime*.so"

# Upstream's build, not ours: its library may come stripped. The unversioned
# link is wanted in the package (see FILES_SOLIBSDEV above).
# nooelint: oelint.vars.insaneskip
INSANE_SKIP:${PN} = "already-stripped dev-so"
