SUMMARY = "skycount's systemd units"
DESCRIPTION = "The units of the repository's systemd/ folder that belong to no single \
program (skycount.target and whatever else ties the box together). skycountd, \
mediamtx and skycount-hotspot install their own units from the same folder; \
classes/skycount_units.bbclass says which file goes where."
HOMEPAGE = "https://github.com/skycount/skycount"
SECTION = "base"
LICENSE = "${SKYCOUNT_LICENSE}"
LIC_FILES_CHKSUM = "${SKYCOUNT_LIC_FILES_CHKSUM}"

inherit skycount_units allarch

SRC_URI = "${SKYCOUNT_LICENSE_URIS}"

do_configure[noexec] = "1"
do_compile[noexec] = "1"

# skycount_units. install step (do_install[postfuncs]) installs the files.
do_install() {
    :
}

ALLOW_EMPTY:${PN} = "1"
