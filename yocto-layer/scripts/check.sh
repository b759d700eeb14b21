#!/usr/bin/env bash
# Offline checks of the Yocto layer (yocto-layer/meta-skycount) and the kas
# files (image/). Nothing here runs bitbake.
#
#   yocto-layer/scripts/check.sh              # every check
#   yocto-layer/scripts/check.sh oelint kas   # some of them
#
# Checks: oelint (oelint-adv --release wrynose: no errors, no warnings), kas (every file
# valid against kas's JSON schema and loadable by kas, every repository
# pinned), crates (the skycountd crates .inc matches Cargo.lock; no crate needs
# a newer Rust than wrynose's), licenses (LIC_FILES_CHKSUM md5s match
# LICENSE-MIT/LICENSE-APACHE), units (`systemd-analyze verify` on the units the
# image installs, in a staged root; its sysusers.d file as oe-core's do_rootfs
# reads it), hotspot (each board's skycount.toml, made by skycount-config's own
# do_compile, through the real skycountd render-hotspot as on first and later
# boots and with a build-time name and passphrase; dnsmasq --test), config
# (skycountd check-config on each board's skycount.toml; MediaMTX's recipe
# version against skycountd's pinned one, and its sha256 set; hotspot is skipped, and config's check-config, without a skycountd
# build), readme (what yocto-check-layer asks of the layer's README and
# SECURITY files), rauc (each board's RAUC system.conf against the bundle recipe,
# the card's layout and the backend; the development keys; a verity bundle signed
# with them checked by Debian's rauc against their keyring).
#
# Python: $PYTHON when set (e.g. the repository's .venv/bin/python); else
# .venv/bin/python at the repository's top, created when missing. The PyPI
# tools below are installed into it (pinned). systemd-analyze comes from
# Debian's systemd package.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)

if [ -n "${PYTHON:-}" ]; then
    py=$PYTHON
else
    py=$top/.venv/bin/python
    if [ ! -x "$py" ]; then
        echo "check.sh: creating $top/.venv"
        python3 -m venv "$top/.venv"
    fi
fi

# The tools, pinned so that CI and developers see the same findings.
tools=(oelint-adv==9.11.2 oelint-parser==8.13.2 oelint-data==1.5.26 kas==5.5 jsonschema==4.26.0 PyYAML)
if ! "$py" - "${tools[@]}" <<'PYEOF'
import sys
from importlib import metadata
for spec in sys.argv[1:]:
    name, _, want = spec.partition("==")
    try:
        have = metadata.version(name)
    except metadata.PackageNotFoundError:
        sys.exit(1)
    if want and have != want:
        sys.exit(1)
PYEOF
then
    echo "check.sh: installing ${tools[*]} into $("$py" -c 'import sys; print(sys.prefix)')"
    "$py" -m pip install --quiet --disable-pip-version-check "${tools[@]}"
fi

exec "$py" "$here/checks.py" "$@"
