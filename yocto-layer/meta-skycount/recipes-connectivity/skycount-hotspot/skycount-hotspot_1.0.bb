SUMMARY = "skycount Wi-Fi hotspot: hostapd, dnsmasq and the box's networks"
DESCRIPTION = "Makes the box a WPA2 access point with a fixed address, DHCP and DNS \
for the phones and laptops that join it, and captive-portal answers that lead them \
to the dashboard. skycountd renders hostapd's and dnsmasq's configuration and the \
hotspot's .network file from [hotspot] in /etc/skycount/skycount.toml at every \
start (systemd/skycount-hotspot.service, systemd/skycount-dnsmasq.service); this \
recipe adds the units, the wired network, multicast DNS and the console banner."
HOMEPAGE = "https://github.com/skycount/skycount"
SECTION = "net"
LICENSE = "${SKYCOUNT_LICENSE}"
LIC_FILES_CHKSUM = "${SKYCOUNT_LIC_FILES_CHKSUM}"

# Its units (skycount-hotspot.service, skycount-dnsmasq.service) come from the
# repository's systemd/ folder; classes/skycount_units.bbclass says which.
inherit skycount_units allarch

SRC_URI = "${SKYCOUNT_LICENSE_URIS} \
           file://80-skycount-wired.network \
           file://skycount-resolved.conf"

do_configure[noexec] = "1"
do_compile[noexec] = "1"

do_install() {
    install -d ${D}${nonarch_libdir}/systemd/network
    install -m 0644 ${UNPACKDIR}/80-skycount-wired.network ${D}${nonarch_libdir}/systemd/network/

    install -d ${D}${nonarch_libdir}/systemd/resolved.conf.d
    install -m 0644 ${UNPACKDIR}/skycount-resolved.conf ${D}${nonarch_libdir}/systemd/resolved.conf.d/skycount.conf

    # The console's login banner: the hotspot's name, passphrase and dashboard,
    # rendered by skycountd at every start. agetty reads /run/issue.d only when
    # /etc/issue is absent, and base-files ships one, so link it from
    # /etc/issue.d (dangling until the first render, which agetty skips).
    install -d ${D}${sysconfdir}/issue.d
    ln -sf /run/skycount-hotspot/hotspot.issue ${D}${sysconfdir}/issue.d/50-skycount-hotspot.issue
}

# (${nonarch_libdir}/systemd/network is in FILES through skycount_units.)
FILES:${PN} += "${nonarch_libdir}/systemd/resolved.conf.d \
                ${sysconfdir}/issue.d"

# hostapd's and dnsmasq's own units stay disabled (conf/distro/skycount.conf):
# ours run them with the rendered files. iw and the regulatory database let
# hostapd set the country's channels.
RDEPENDS:${PN} = "dnsmasq hostapd iw skycountd wireless-regdb-static"
