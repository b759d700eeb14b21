SUMMARY = "skycount daemon: crowd counts and density heatmaps from a drone's live video"
DESCRIPTION = "skycountd pulls the drone's H.264/H.265 stream from MediaMTX, decodes it \
with GStreamer (hardware decoders where the board has them), runs the CSRNet \
crowd-counting model with ONNX Runtime and serves the counts, heatmaps and the \
dashboard over HTTP and Socket.IO."
HOMEPAGE = "https://github.com/skycount/skycount"
SECTION = "multimedia"
LICENSE = "${SKYCOUNT_LICENSE}"
LIC_FILES_CHKSUM = "${SKYCOUNT_LIC_FILES_CHKSUM}"

# gstreamer-rs finds GStreamer with pkg-config; ort loads ONNX Runtime at run
# time (load-dynamic), so ONNX Runtime is only needed on the target.
DEPENDS = "glib-2.0 gstreamer1.0 gstreamer1.0-plugins-base"

# The crates (crate://): regenerate with yocto-layer/scripts/cargo_crates_inc.py
# (or `bitbake -c update_crates skycountd`, which writes the same file).
require ${BPN}-crates.inc

# The workspace, from this repository.
SRC_URI += "${SKYCOUNT_LICENSE_URIS} \
            file://Cargo.toml;subdir=${BP} \
            file://Cargo.lock;subdir=${BP} \
            file://daemon;subdir=${BP} \
            file://docs/skycount.example.toml;subdir=${BP}"

# Its unit, skycountd.service, comes from the repository's systemd/ folder.
inherit skycount_units cargo cargo-update-recipe-crates pkgconfig useradd

# A workspace: the package is daemon/, the lock file is at the top.
CARGO_SRC_DIR = "daemon"
CARGO_LOCK_PATH = "${S}/Cargo.lock"
CARGO_LOCK_SRC_DIR = "${S}"

# The group is made on its own, not with --user-group: mediamtx and
# skycount-config create it too (whichever package is installed first), and
# useradd --user-group refuses a group that already exists.
USERADD_PACKAGES = "${PN}"
GROUPADD_PARAM:${PN} = "--system skycount"
USERADD_PARAM:${PN} = "--system --home-dir ${localstatedir}/lib/skycount --no-create-home \
                       --shell ${base_sbindir}/nologin --gid skycount --groups video skycount"

do_install:append() {
    # cargo_do_install has put skycountd in ${bindir}. Every key of the
    # configuration, with its default, goes next to it for the field team.
    install -d ${D}${datadir}/skycount
    install -m 0644 ${S}/docs/skycount.example.toml ${D}${datadir}/skycount/

    # The console's login banner also shows the operator's passphrase that
    # skycountd generates on its first start (operator.banner_file; dangling
    # until then, which agetty skips). See docs/security.md.
    install -d ${D}${sysconfdir}/issue.d
    ln -sf ${localstatedir}/lib/skycount/operator.issue ${D}${sysconfdir}/issue.d/51-skycount-operator.issue
}

FILES:${PN} += "${datadir}/skycount/skycount.example.toml \
                ${sysconfdir}/issue.d"

# The plugins skycountd's pipelines use on every board
# (rtmp2src|rtspsrc|filesrc ! parsebin ! h26Xparse ! decoder ! scaler ! appsink);
# the board's decoder and ONNX Runtime come with packagegroup-skycount.
RDEPENDS:${PN} = "gstreamer1.0-plugins-bad-rtmp2 \
                  gstreamer1.0-plugins-bad-videoparsersbad \
                  gstreamer1.0-plugins-base-app \
                  gstreamer1.0-plugins-base-playback \
                  gstreamer1.0-plugins-base-typefindfunctions \
                  gstreamer1.0-plugins-base-videoconvertscale \
                  gstreamer1.0-plugins-good-flv \
                  gstreamer1.0-plugins-good-rtp \
                  gstreamer1.0-plugins-good-rtpmanager \
                  gstreamer1.0-plugins-good-rtsp \
                  gstreamer1.0-plugins-good-udp \
                  skycount-config \
                  skycount-model-csrnet"
RRECOMMENDS:${PN} = "skycount-web"
