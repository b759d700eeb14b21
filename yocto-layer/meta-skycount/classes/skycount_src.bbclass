# Build from the skycount repository this layer is part of.
#
# meta-skycount sits at yocto-layer/meta-skycount inside the skycount
# repository, and the kas files in image/ build from that checkout as it is.
# The recipes for our own software therefore take their sources from it with
# file:// URIs instead of fetching a second copy from a git server: what gets
# built is what is checked out, and bitbake's file checksums rebuild exactly
# what changed. Each recipe unpacks the repository paths it needs into ${S}
# (subdir=${BP}), laid out as in the repository:
#
#   inherit skycount_src
#   SRC_URI = "${SKYCOUNT_LICENSE_URIS} file://daemon;subdir=${BP}"
#
# The repository's top is worked out in conf/layer.conf (SKYCOUNT_TOPDIR); set
# SKYCOUNT_SRC_DIR (e.g. in local.conf) to build from another checkout.

SKYCOUNT_SRC_DIR ??= "${SKYCOUNT_TOPDIR}"

# A class, not a bbappend: every recipe of ours finds repository paths this way.
# nooelint: oelint.vars.fileextrapaths,oelint.vars.outofcontext
FILESEXTRAPATHS:prepend := "${SKYCOUNT_SRC_DIR}:"

# The project is "MIT OR Apache-2.0"; both texts sit at the repository's top.
SKYCOUNT_LICENSE = "MIT | Apache-2.0"
SKYCOUNT_LICENSE_URIS = "file://LICENSE-MIT;subdir=${BP} file://LICENSE-APACHE;subdir=${BP}"

# md5sums of the two licence files: yocto-layer/scripts/check.sh compares them
# with the files, yocto-layer/scripts/lic_md5.py rewrites them.
SKYCOUNT_LIC_FILES_CHKSUM = "file://LICENSE-MIT;md5=3eca760d8e5aad770f3dfaf7bbf32ac0 \
                             file://LICENSE-APACHE;md5=22a53954e4e0ec258dfce4391e905dac"

python skycount_src_check () {
    import os
    top = d.getVar('SKYCOUNT_SRC_DIR')
    if not top or not os.path.isfile(os.path.join(top, 'Cargo.toml')):
        bb.fatal("skycount_src: SKYCOUNT_SRC_DIR (%s) is not a skycount checkout: meta-skycount "
                 "must sit at yocto-layer/meta-skycount of one, or SKYCOUNT_SRC_DIR must name one" % top)
}
do_fetch[prefuncs] += "skycount_src_check"
