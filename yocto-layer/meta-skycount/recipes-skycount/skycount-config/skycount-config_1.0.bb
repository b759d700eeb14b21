SUMMARY = "skycount configuration for this board: /etc/skycount/skycount.toml"
DESCRIPTION = "skycountd's configuration file as the image ships it: the ONNX Runtime \
library and execution providers of this machine and the hotspot's settings \
(conf/distro/skycount.conf). Every other key keeps skycountd's default. A hotspot \
passphrase set at build time goes to the file skycountd keeps it in (root \
only), not into skycount.toml."
HOMEPAGE = "https://github.com/skycount/skycount"
SECTION = "base"
LICENSE = "${SKYCOUNT_LICENSE}"
LIC_FILES_CHKSUM = "${SKYCOUNT_LIC_FILES_CHKSUM}"

inherit skycount_src useradd

SRC_URI = "${SKYCOUNT_LICENSE_URIS} \
           file://skycount.toml.in"

# Set per machine in the distro; these are the fallbacks.
SKYCOUNT_ONNXRUNTIME_LIBRARY ??= "${libdir}/libonnxruntime.so"
SKYCOUNT_EXECUTION_PROVIDERS ??= '"cpu"'
SKYCOUNT_HOTSPOT_SSID ??= "skycount"
SKYCOUNT_HOTSPOT_PASSPHRASE ??= ""
SKYCOUNT_HOTSPOT_INTERFACE ??= "wlan0"
SKYCOUNT_HOTSPOT_COUNTRY ??= ""
SKYCOUNT_HOTSPOT_CHANNEL ??= "6"
SKYCOUNT_HOTSPOT_ADDRESS ??= "192.168.50.1/24"
SKYCOUNT_HOTSPOT_DHCP_RANGE ??= "192.168.50.10-192.168.50.250"

# What it says depends on the machine.
PACKAGE_ARCH = "${MACHINE_ARCH}"

do_configure[noexec] = "1"

# @NAME@ in the template is SKYCOUNT_NAME: strings as TOML strings (JSON's
# escaping is TOML's for these), so any SSID survives; the execution
# providers and the channel as they are.
SKYCOUNT_TOML_STRINGS = "ONNXRUNTIME_LIBRARY HOTSPOT_SSID HOTSPOT_INTERFACE HOTSPOT_COUNTRY \
                         HOTSPOT_ADDRESS HOTSPOT_DHCP_RANGE"
SKYCOUNT_TOML_RAW = "EXECUTION_PROVIDERS HOTSPOT_CHANNEL"

# Renders ${B}/skycount.toml and, when SKYCOUNT_HOTSPOT_PASSPHRASE is set,
# ${B}/passphrase. Python, so that any character of a value survives (no shell
# quoting). yocto-layer/scripts/check.sh runs this function for every board.
B = "${WORKDIR}/build"
do_compile[cleandirs] = "${B}"
python do_compile() {
    import json, os, re, unicodedata
    text = open(d.expand('${UNPACKDIR}/skycount.toml.in')).read()
    for name in d.getVar('SKYCOUNT_TOML_STRINGS').split():
        text = text.replace('@%s@' % name, json.dumps(d.getVar('SKYCOUNT_' + name) or ''))
    for name in d.getVar('SKYCOUNT_TOML_RAW').split():
        text = text.replace('@%s@' % name, d.getVar('SKYCOUNT_' + name) or '')
    left = re.findall(r'@[A-Z_]+@', text)
    if left:
        bb.fatal('skycount.toml.in: no value for %s' % ' '.join(left))
    build = d.getVar('B')
    with open(os.path.join(build, 'skycount.toml'), 'w') as f:
        f.write(text)

    # skycountd checks every value at each start and refuses to run with a bad
    # one; the two that are set per fleet are checked here already, by its rules
    # (daemon/src/hotspot.rs), so that a typo fails the build, not the box.
    ssid = d.getVar('SKYCOUNT_HOTSPOT_SSID') or ''
    if not 1 <= len(ssid.encode()) <= 32 or any(unicodedata.category(c) == 'Cc' for c in ssid):
        bb.fatal("SKYCOUNT_HOTSPOT_SSID %r: a Wi-Fi name is 1 to 32 bytes (UTF-8) without "
                 "control characters" % ssid)
    passphrase = d.getVar('SKYCOUNT_HOTSPOT_PASSPHRASE') or ''
    if passphrase:
        if not 8 <= len(passphrase) <= 63:
            bb.fatal("SKYCOUNT_HOTSPOT_PASSPHRASE has %d characters: a WPA2 passphrase has 8 to 63 "
                     "(or leave it empty: each box then generates its own)" % len(passphrase))
        if not all(' ' <= c <= '~' for c in passphrase):
            bb.fatal("SKYCOUNT_HOTSPOT_PASSPHRASE has characters other than printable ASCII "
                     "(letters, digits, punctuation, space), which WPA2 does not allow")
        with open(os.path.join(build, 'passphrase'), 'w') as f:
            f.write(passphrase + '\n')
}
do_compile[vardeps] += "${@' '.join('SKYCOUNT_' + n for n in (d.getVar('SKYCOUNT_TOML_STRINGS') + ' ' + d.getVar('SKYCOUNT_TOML_RAW')).split())}"

# skycount.toml is read by skycountd (user skycount) and by MediaMTX's
# ExecStartPre (user mediamtx, in group skycount), and may get secrets on the
# box (hotspot.passphrase, stream.key): root:skycount 0640, as
# docs/mediamtx.md says. A build-time passphrase goes where skycountd keeps
# the hotspot's passphrase (hotspot.passphrase_file, the StateDirectory of
# skycount-hotspot.service), root only; only root's render-hotspot reads it.
do_install() {
    install -d ${D}${sysconfdir}/skycount
    install -m 0640 -o root -g skycount ${B}/skycount.toml ${D}${sysconfdir}/skycount/
    if [ -f ${B}/passphrase ]; then
        install -d -m 0700 ${D}${localstatedir}/lib/skycount-hotspot
        install -m 0600 ${B}/passphrase ${D}${localstatedir}/lib/skycount-hotspot/
    fi
}

# The skycount group for the file above; skycountd and mediamtx create it too,
# whichever package is installed first.
USERADD_PACKAGES = "${PN}"
GROUPADD_PARAM:${PN} = "--system skycount"

FILES:${PN} += "${localstatedir}/lib/skycount-hotspot"
CONFFILES:${PN} = "${sysconfdir}/skycount/skycount.toml"
