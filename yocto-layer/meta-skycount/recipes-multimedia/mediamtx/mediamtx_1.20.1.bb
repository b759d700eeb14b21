SUMMARY = "MediaMTX: real-time media server and proxy (upstream release binary)"
DESCRIPTION = "Receives the drone's RTMP stream on port 1935 and serves it to browsers \
over WebRTC/WHEP on port 8889 and to skycountd over RTSP on the box. Packaged from \
the upstream release tarball (a static Go binary). Its configuration is rendered \
from skycount.toml by skycountd at every start (systemd/mediamtx.service)."
HOMEPAGE = "https://github.com/bluenviron/mediamtx"
SECTION = "multimedia"
LICENSE = "MIT"
# The release tarball packs LICENSE from the tagged tree (scripts/binaries.mk:
# `cp mediamtx.yml LICENSE tmp/`). This is the md5 of LICENSE at the v1.20.1
# tag (the same at v1.20.1-6), computed from MediaMTX's git repository, not
# from the tarball: do_populate_lic compares it on the first build.
LIC_FILES_CHKSUM = "file://LICENSE;md5=77fd2623bd5398430be5ce60489c2e81"

# Only the arm64 build is pinned: every skycount board is aarch64.
COMPATIBLE_HOST = "aarch64.*-linux"

# PV must be skycountd's mediamtx::PINNED_VERSION (daemon/src/mediamtx/mod.rs):
# what skycountd renders needs v1.20.0 or later (`forward`), and
# yocto-layer/scripts/check.sh compares the two.
SRC_URI = "https://github.com/bluenviron/mediamtx/releases/download/v${PV}/mediamtx_v${PV}_linux_arm64.tar.gz;subdir=${BP}"
# The sha256 of mediamtx_v1.20.1_linux_arm64.tar.gz, the value independent
# public install scripts and a Dockerfile check with sha256sum before they
# install this release (none pins another; their amd64 value for the same
# release is 81b143f55a5d23d4a8c028d52869c14ea4a59919900528698fcc97a747fd69c6).
# It was not computed here from the download: GitHub's release files are out of
# reach where this layer is checked. bitbake checks it at every do_fetch.
# To re-check it, or to move to another release: download the tarball and the
# release's checksums.sha256 and compare. That file is made with `sha256sum -b`,
# so its lines read `<hash> *<name>` (a space and a `*`, binary mode, before the
# name); `sha256sum -c checksums.sha256 --ignore-missing` in the folder holding
# the tarball checks it as is. Copy only the hash, without the `*<name>` part.
# Stay on v1.20.1 for now: v1.21.0 has an open regression with RTMP publishers
# from phones (HLS child playlists answer 401; MediaMTX issue 6230).
SRC_URI[sha256sum] = "d1689f0bfefb1864e5ed3dcc8495eb2d7ec0a654f90bf3cd48980cb3bd08718a"

UPSTREAM_CHECK_URI = "https://github.com/bluenviron/mediamtx/releases"
UPSTREAM_CHECK_REGEX = "releases/tag/v(?P<pver>\d+(\.\d+)+)"

# Its unit, mediamtx.service, comes from the repository's systemd/ folder; the
# mediamtx user reads skycountd's stream key through the skycount group.
inherit skycount_units useradd

USERADD_PACKAGES = "${PN}"
GROUPADD_PARAM:${PN} = "--system skycount"
USERADD_PARAM:${PN} = "--system --home-dir /run/mediamtx --no-create-home \
                       --shell ${base_sbindir}/nologin --user-group --groups skycount mediamtx"

do_configure[noexec] = "1"
do_compile[noexec] = "1"

do_install() {
    install -d ${D}${bindir}
    install -m 0755 ${S}/mediamtx ${D}${bindir}/mediamtx
}
