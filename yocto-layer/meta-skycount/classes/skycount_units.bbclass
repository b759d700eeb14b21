# Install systemd units from the repository's systemd/ folder.
#
# systemd/ holds every unit and drop-in of the box. Each entry there belongs to
# exactly one recipe: the owner of the first pattern of SKYCOUNT_UNITS_OWNERS
# its name matches (fnmatch), else SKYCOUNT_UNITS_DEFAULT_OWNER. A recipe that
# inherits this class installs its own entries and enables, through the systemd
# class, those of its units that have an [Install] section.
# yocto-layer/scripts/check.sh reads the same table, stages the result and runs
# `systemd-analyze verify` on it.
#
# Where things go:
#   NAME.service .socket .target .timer .path .mount  ${systemd_system_unitdir}/
#   NAME.d/*.conf (drop-ins for any unit)              ${systemd_system_unitdir}/NAME.d/
#   *.network .netdev .link (systemd-networkd)         ${nonarch_libdir}/systemd/network/
#   tmpfiles.d/*.conf, sysusers.d/*.conf               ${nonarch_libdir}/tmpfiles.d/, sysusers.d/
#   NAME.sysusers, NAME.tmpfiles                       ${nonarch_libdir}/sysusers.d/NAME.conf, tmpfiles.d/
# Not installed: *.md and *.sh (documentation and systemd/check.sh, the tests).

inherit skycount_src systemd

# skycount.sysusers declares the users skycount and mediamtx (in group
# skycount); it goes with skycountd. In the image both exist already, made by
# the useradd class of the skycountd and mediamtx recipes.
SKYCOUNT_UNITS_OWNERS ?= "skycountd:skycountd* \
                          skycountd:skycount.sysusers \
                          mediamtx:mediamtx* \
                          skycount-hotspot:skycount-hotspot* \
                          skycount-hotspot:skycount-dnsmasq* \
                          skycount-update:skycount-update-* \
                          skycount-update:skycount-reboot.* \
                          skycount-update:skycount-usb@* \
                          skycount-update:rauc.service.d \
                          skycount-update:data.mount \
                          skycount-update:skycount-data.*"
SKYCOUNT_UNITS_DEFAULT_OWNER ?= "skycount-units"

# Appended to whatever the recipe fetches (mediamtx: the release tarball first).
SRC_URI:append = " file://systemd;subdir=${BP}"

def skycount_unit_entries(d):
    """Top-level entries of systemd/; parsing depends on every file in it."""
    import os
    top = os.path.join(d.getVar('SKYCOUNT_SRC_DIR'), 'systemd')
    bb.parse.mark_dependency(d, top)
    if not os.path.isdir(top):
        return []
    names = []
    for name in sorted(os.listdir(top)):
        if name.startswith('.') or name.endswith(('.md', '.sh')):
            continue
        names.append(name)
        path = os.path.join(top, name)
        if os.path.isdir(path):
            for sub in sorted(os.listdir(path)):
                bb.parse.mark_dependency(d, os.path.join(path, sub))
        else:
            bb.parse.mark_dependency(d, path)
    return names

def skycount_unit_owner(name, d):
    import fnmatch
    for pair in (d.getVar('SKYCOUNT_UNITS_OWNERS') or '').split():
        owner, pattern = pair.split(':', 1)
        if fnmatch.fnmatch(name, pattern):
            return owner
    return d.getVar('SKYCOUNT_UNITS_DEFAULT_OWNER')

def skycount_units_mine(d):
    """This recipe's entries of systemd/, quoted for the shell: a mount unit's name carries
    systemd's escapes (var-lib-skycount\\x2dhotspot.mount)."""
    import shlex
    pn = d.getVar('PN')
    return ' '.join(shlex.quote(n) for n in skycount_unit_entries(d) if skycount_unit_owner(n, d) == pn)

def skycount_units_enable(d):
    """This recipe's units that have an [Install] section, for SYSTEMD_SERVICE."""
    import os
    import shlex
    top = os.path.join(d.getVar('SKYCOUNT_SRC_DIR'), 'systemd')
    unit_suffixes = ('.service', '.socket', '.target', '.timer', '.path', '.mount')
    enable = []
    for name in shlex.split(d.getVar('SKYCOUNT_UNITS') or ''):
        path = os.path.join(top, name)
        if not name.endswith(unit_suffixes) or not os.path.isfile(path):
            continue
        # template units (foo@.service) are enabled through their instances
        if name.split('.')[0].endswith('@'):
            continue
        with open(path) as f:
            if any(line.strip() == '[Install]' for line in f):
                # The systemd class enables them by name in a shell: none may need quoting.
                if shlex.quote(name) != name:
                    bb.fatal("systemd/%s has an [Install] section and a name the systemd class "
                             "cannot enable: pull it in from another unit (Wants=)" % name)
                enable.append(name)
    return ' '.join(enable)

# Parse-time on purpose: reparse the recipe whenever systemd/ changes (the
# units a recipe ships and enables are worked out from its contents).
# nooelint: oelint.task.noanonpython
python __anonymous () {
    skycount_unit_entries(d)
}

SKYCOUNT_UNITS = "${@skycount_units_mine(d)}"
SYSTEMD_SERVICE:${PN} = "${@skycount_units_enable(d)}"

skycount_units_install() {
    src=${S}/systemd
    for name in ${SKYCOUNT_UNITS}; do
        case "$name" in
        tmpfiles.d|sysusers.d)
            install -d ${D}${nonarch_libdir}/$name
            install -m 0644 $src/$name/*.conf ${D}${nonarch_libdir}/$name/
            ;;
        *.d)
            install -d ${D}${systemd_system_unitdir}/$name
            install -m 0644 $src/$name/*.conf ${D}${systemd_system_unitdir}/$name/
            ;;
        *.service|*.socket|*.target|*.timer|*.path|*.mount)
            install -d ${D}${systemd_system_unitdir}
            install -m 0644 $src/$name ${D}${systemd_system_unitdir}/
            ;;
        *.sysusers)
            install -d ${D}${nonarch_libdir}/sysusers.d
            install -m 0644 $src/$name ${D}${nonarch_libdir}/sysusers.d/$(basename $name .sysusers).conf
            ;;
        *.tmpfiles)
            install -d ${D}${nonarch_libdir}/tmpfiles.d
            install -m 0644 $src/$name ${D}${nonarch_libdir}/tmpfiles.d/$(basename $name .tmpfiles).conf
            ;;
        *.network|*.netdev|*.link)
            install -d ${D}${nonarch_libdir}/systemd/network
            install -m 0644 $src/$name ${D}${nonarch_libdir}/systemd/network/
            ;;
        *)
            bbfatal "systemd/$name: skycount_units does not know where it goes (see classes/skycount_units.bbclass)"
            ;;
        esac
    done
}
do_install[postfuncs] += "skycount_units_install"

FILES:${PN} += "${systemd_system_unitdir} \
                ${nonarch_libdir}/systemd/network \
                ${nonarch_libdir}/tmpfiles.d \
                ${nonarch_libdir}/sysusers.d"
