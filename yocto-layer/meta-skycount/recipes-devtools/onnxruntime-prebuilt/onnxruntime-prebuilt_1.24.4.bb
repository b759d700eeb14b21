SUMMARY = "ONNX Runtime, CPU execution provider (upstream release binary for aarch64)"
DESCRIPTION = "libonnxruntime.so from Microsoft's onnxruntime-linux-aarch64 release, \
for boards without CUDA (Raspberry Pi). skycountd loads it at run time. Jetson \
boards use the onnxruntime recipe of meta-tegra-community instead, built with \
the CUDA and TensorRT execution providers."
HOMEPAGE = "https://github.com/microsoft/onnxruntime"
SECTION = "libs"
LICENSE = "MIT"
# The release packs the repository's LICENSE (its packaging script copies it;
# meta-tegra-community's onnxruntime recipe checks the same md5); third-party
# notices are in ThirdPartyNotices.txt.
LIC_FILES_CHKSUM = "file://LICENSE;md5=0f7e3b1308cb5c00b372a6e78835732d"

COMPATIBLE_HOST = "aarch64.*-linux"

# sha256 of onnxruntime-linux-aarch64-1.24.4.tgz: the value that several
# public projects fetching this release asset pin (Spack's package among
# them); it was not computed here from the download.
SRC_URI = "https://github.com/microsoft/onnxruntime/releases/download/v${PV}/onnxruntime-linux-aarch64-${PV}.tgz"
SRC_URI[sha256sum] = "866109a9248d057671a039b9d725be4bd86888e3754140e6701ec621be9d4d7e"

S = "${UNPACKDIR}/onnxruntime-linux-aarch64-${PV}"

UPSTREAM_CHECK_URI = "https://github.com/microsoft/onnxruntime/releases"
UPSTREAM_CHECK_REGEX = "releases/tag/v(?P<pver>\d+(\.\d+)+)"

# Built by upstream against an older glibc; it needs only the C++ runtime.
do_configure[noexec] = "1"
do_compile[noexec] = "1"

do_install() {
    install -d ${D}${libdir}
    cp -P --no-preserve=ownership ${S}/lib/libonnxruntime.so* ${D}${libdir}/
    if [ -e ${S}/lib/libonnxruntime_providers_shared.so ]; then
        install -m 0755 ${S}/lib/libonnxruntime_providers_shared.so ${D}${libdir}/
    fi

    install -d ${D}${includedir}/onnxruntime
    install -m 0644 ${S}/include/*.h ${D}${includedir}/onnxruntime/
}

# skycountd dlopens libonnxruntime.so, the name ort looks for, so the
# unversioned link belongs with the library (as in meta-tegra-community).
FILES_SOLIBSDEV = ""
FILES:${PN} += "${libdir}/libonnxruntime*.so"

# Upstream's build, not ours: its library may come stripped. The unversioned
# link is wanted in the package (see FILES_SOLIBSDEV above).
# nooelint: oelint.vars.insaneskip
INSANE_SKIP:${PN} = "already-stripped dev-so"
