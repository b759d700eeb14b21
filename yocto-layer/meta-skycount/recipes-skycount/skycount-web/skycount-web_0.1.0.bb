SUMMARY = "skycount dashboard: the web app skycountd serves"
DESCRIPTION = "The React dashboard (web/ in the skycount repository): live video over \
WebRTC from MediaMTX with the crowd count and heatmap from skycountd on top."
HOMEPAGE = "https://github.com/skycount/skycount"
SECTION = "web"
LICENSE = "${SKYCOUNT_LICENSE}"
LIC_FILES_CHKSUM = "${SKYCOUNT_LIC_FILES_CHKSUM}"

inherit skycount_src allarch

# The built app (web/dist), not its sources. bitbake cannot build it: the npm
# fetchers (npm://, npmsw://) are disabled in bitbake 2.18 ("disabled due to
# security issues"), and a Vite build needs its node_modules. So the app is
# built before bitbake runs, with the lock file, the same way in CI and on a
# build host:
#
#   cd web && npm ci && npm run build      (image/build.sh does this)
#
# and this recipe packages the result. The output is the same for every board.
SRC_URI = "${SKYCOUNT_LICENSE_URIS} \
           file://web/dist;subdir=${BP}"

# Parse-time on purpose: a missing file skips the recipe with the reason
# (and the image build says so) instead of failing later in do_fetch.
# nooelint: oelint.task.noanonpython
python __anonymous () {
    import os
    dist = os.path.join(d.getVar('SKYCOUNT_SRC_DIR'), 'web', 'dist', 'index.html')
    # reparse when it appears or changes, not only when the recipe does
    bb.parse.mark_dependency(d, dist)
    if not os.path.isfile(dist):
        raise bb.parse.SkipRecipe("%s is missing: build the dashboard first "
                                  "(cd web && npm ci && npm run build, or image/build.sh)" % dist)
}

do_configure[noexec] = "1"
do_compile[noexec] = "1"

do_install() {
    install -d ${D}${datadir}/skycount/web
    cp -R --no-preserve=ownership ${S}/web/dist/. ${D}${datadir}/skycount/web/
    find ${D}${datadir}/skycount/web -type d -exec chmod 0755 {} +
    find ${D}${datadir}/skycount/web -type f -exec chmod 0644 {} +
}

FILES:${PN} += "${datadir}/skycount/web"
