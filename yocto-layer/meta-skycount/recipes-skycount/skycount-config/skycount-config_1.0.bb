SUMMARY = "skycount configuration for this board: /etc/skycount/skycount.toml"
DESCRIPTION = "skycountd's configuration file as the image ships it: the ONNX Runtime \
library and execution providers of this machine and the hotspot's settings \
(conf/distro/skycount.conf). Every other key keeps skycountd's default. A hotspot \
passphrase set at build time goes to the file skycountd keeps it in, not into \
the world-readable TOML."
HOMEPAGE = "https://github.com/skycount/skycount"
SECTION = "base"
LICENSE = "${SKYCOUNT_LICENSE}"
LIC_FILES_CHKSUM = "${SKYCOUNT_LIC_FILES_CHKSUM}"

inherit skycount_src

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
do_compile[noexec] = "1"

# @NAME@ in the template is SKYCOUNT_NAME: strings as TOML strings (JSON's
# escaping is TOML's for these), so any SSID survives; the execution
# providers and the channel as they are.
SKYCOUNT_TOML_STRINGS = "ONNXRUNTIME_LIBRARY HOTSPOT_SSID HOTSPOT_INTERFACE HOTSPOT_COUNTRY \
                         HOTSPOT_ADDRESS HOTSPOT_DHCP_RANGE"
SKYCOUNT_TOML_RAW = "EXECUTION_PROVIDERS HOTSPOT_CHANNEL"

python do_install() {
    import json, os, re
    text = open(d.expand('${UNPACKDIR}/skycount.toml.in')).read()
    for name in d.getVar('SKYCOUNT_TOML_STRINGS').split():
        text = text.replace('@%s@' % name, json.dumps(d.getVar('SKYCOUNT_' + name) or ''))
    for name in d.getVar('SKYCOUNT_TOML_RAW').split():
        text = text.replace('@%s@' % name, d.getVar('SKYCOUNT_' + name) or '')
    left = re.findall(r'@[A-Z_]+@', text)
    if left:
        bb.fatal('skycount.toml.in: no value for %s' % ' '.join(left))
    etc = d.expand('${D}${sysconfdir}/skycount')
    os.makedirs(etc, exist_ok=True)
    with open(os.path.join(etc, 'skycount.toml'), 'w') as f:
        f.write(text)
    os.chmod(os.path.join(etc, 'skycount.toml'), 0o644)
}
do_install[vardeps] += "${@' '.join('SKYCOUNT_' + n for n in (d.getVar('SKYCOUNT_TOML_STRINGS') + ' ' + d.getVar('SKYCOUNT_TOML_RAW')).split())}"

# A build-time passphrase goes where skycountd keeps the hotspot's passphrase
# (hotspot.passphrase_file), root only. Python, so that any character of it
# survives (no shell quoting).
python skycount_install_passphrase() {
    import os
    passphrase = d.getVar('SKYCOUNT_HOTSPOT_PASSPHRASE') or ''
    if not passphrase:
        return
    if not 8 <= len(passphrase) <= 63 or not all(' ' <= c <= '~' for c in passphrase):
        bb.fatal("SKYCOUNT_HOTSPOT_PASSPHRASE: a WPA2 passphrase is 8 to 63 printable ASCII "
                 "characters; this one has %d" % len(passphrase))
    state = d.expand('${D}${localstatedir}/lib/skycount-hotspot')
    os.makedirs(state, mode=0o700, exist_ok=True)
    os.chmod(state, 0o700)
    path = os.path.join(state, 'passphrase')
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), 'w') as f:
        f.write(passphrase + '\n')
}
do_install[postfuncs] += "skycount_install_passphrase"

FILES:${PN} += "${localstatedir}/lib/skycount-hotspot"
CONFFILES:${PN} = "${sysconfdir}/skycount/skycount.toml"
