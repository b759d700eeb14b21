#!/usr/bin/env bash
# The keys that sign skycount's update bundles (RAUC), made with openssl:
#
#   yocto-layer/scripts/rauc_keys.sh development   the development keys committed in the layer
#                                                  (files/rauc-development/); never for a fleet
#   yocto-layer/scripts/rauc_keys.sh production DIR
#                                                  a fleet's own: a CA and a signing key and
#                                                  certificate issued by it, in DIR (docs/update.md
#                                                  says where each part goes)
#
# Both make, in their folder: skycount-keyring.pem (the CA's certificate: every box gets it and
# installs only bundles signed under it), development-1.key.pem and development-1.cert.pem (the
# signing key and its certificate, for the bundle recipe). `production` also keeps the CA's key
# (ca.key.pem): take it off the build machine and keep it offline; it is needed only to issue the
# next signing certificate. Existing files are never overwritten.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
kind=${1:-}
case "$kind" in
development)
  dir=$here/../meta-skycount/files/rauc-development
  org="skycount development (NOT FOR PRODUCTION)"
  days=36500
  ;;
production)
  dir=${2:?usage: rauc_keys.sh production DIR}
  org=${SKYCOUNT_RAUC_ORG:-skycount fleet}
  days=${SKYCOUNT_RAUC_DAYS:-3650}
  ;;
*)
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2
  exit 2
  ;;
esac
mkdir -p "$dir"
for f in skycount-keyring.pem development-1.key.pem development-1.cert.pem; do
  [ ! -e "$dir/$f" ] || { echo "rauc_keys.sh: $dir/$f exists: not overwriting it" >&2; exit 1; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
umask 077
openssl req -x509 -newkey rsa:4096 -nodes -days "$days" -sha256 \
  -keyout "$work/ca.key.pem" -out "$dir/skycount-keyring.pem" \
  -subj "/O=$org/CN=$org update CA" \
  -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -addext "subjectKeyIdentifier=hash" 2>/dev/null
openssl req -newkey rsa:4096 -nodes -sha256 -keyout "$dir/development-1.key.pem" \
  -out "$work/signing.csr.pem" -subj "/O=$org/CN=$org bundle signing 1" 2>/dev/null
printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
  "subjectKeyIdentifier=hash" "authorityKeyIdentifier=keyid" >"$work/leaf.ext"
openssl x509 -req -in "$work/signing.csr.pem" -CA "$dir/skycount-keyring.pem" -CAkey "$work/ca.key.pem" \
  -set_serial "0x$(openssl rand -hex 8)" -days "$days" -sha256 -extfile "$work/leaf.ext" \
  -out "$dir/development-1.cert.pem" 2>/dev/null
chmod 0644 "$dir/skycount-keyring.pem" "$dir/development-1.cert.pem"
if [ "$kind" = production ]; then
  cp "$work/ca.key.pem" "$dir/ca.key.pem"
  echo "rauc_keys.sh: $dir/ca.key.pem is the fleet's CA key: move it off this machine and keep it offline"
fi
openssl verify -CAfile "$dir/skycount-keyring.pem" "$dir/development-1.cert.pem"
echo "rauc_keys.sh: $kind keys in $dir"
