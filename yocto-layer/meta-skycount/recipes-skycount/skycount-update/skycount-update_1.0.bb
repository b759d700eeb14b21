SUMMARY = "skycount software updates: RAUC access, USB sticks, the data partition"
DESCRIPTION = "What the box needs around RAUC for skycount's A/B updates (docs/update.md): \
the D-Bus policy that lets only root and skycountd ask RAUC anything, the udev rule that mounts \
a USB stick for skycountd to find bundles on, the units of the repository's systemd/ folder for \
the data partition, the boot confirmation and the operator's reboot, and on the Jetson RAUC's \
bootloader backend over nvbootctrl and the data partition's first-boot formatting."
HOMEPAGE = "https://github.com/skycount/skycount"
SECTION = "base"
LICENSE = "${SKYCOUNT_LICENSE}"
LIC_FILES_CHKSUM = "${SKYCOUNT_LIC_FILES_CHKSUM}"

# Its units (skycount-update-confirm.service, skycount-reboot.*, skycount-usb@.service,
# data.mount, skycount-data.service, rauc.service.d/) come from the
# repository's systemd/ folder; classes/skycount_units.bbclass says which.
inherit skycount_units

SRC_URI = "${SKYCOUNT_LICENSE_URIS} \
           file://90-skycount-usb.rules \
           file://skycount-rauc.conf \
           file://data-format \
           file://rauc-tegra-bootloader \
           file://skycount-data-format.service"

do_configure[noexec] = "1"
do_compile[noexec] = "1"

do_install() {
    install -d ${D}${nonarch_base_libdir}/udev/rules.d
    install -m 0644 ${UNPACKDIR}/90-skycount-usb.rules ${D}${nonarch_base_libdir}/udev/rules.d/
    # Read after RAUC's own de.pengutronix.rauc.conf (alphabetical order): its rules win.
    install -d ${D}${datadir}/dbus-1/system.d
    install -m 0644 ${UNPACKDIR}/skycount-rauc.conf ${D}${datadir}/dbus-1/system.d/
    install -d ${D}${libexecdir}/skycount
    install -m 0755 ${UNPACKDIR}/data-format ${D}${libexecdir}/skycount/
    # The data partition's mount point (data.mount).
    install -d ${D}/data
}

do_install:append:tegra() {
    install -m 0755 ${UNPACKDIR}/rauc-tegra-bootloader ${D}${libexecdir}/skycount/
    install -m 0644 ${UNPACKDIR}/skycount-data-format.service ${D}${systemd_system_unitdir}/
}

SYSTEMD_SERVICE:${PN}:append:tegra = " skycount-data-format.service"

# The Jetson's backend and unit make it the board's own.
PACKAGE_ARCH = "${MACHINE_ARCH}"

FILES:${PN} += "${nonarch_base_libdir}/udev/rules.d \
                ${datadir}/dbus-1/system.d \
                ${libexecdir}/skycount \
                /data"

# The partition tools, and what RAUC is driven by.
RDEPENDS:${PN} = "e2fsprogs-e2label e2fsprogs-mke2fs rauc skycountd util-linux-blkid util-linux-mount"
RDEPENDS:${PN}:append:tegra = " efivar setup-nv-boot-control tegra-redundant-boot-base"
