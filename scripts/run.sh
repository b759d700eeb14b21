#!/usr/bin/env bash
# Sets up everything on a fresh Debian 12 machine, then runs skycount on this machine:
# an RTMP ingest on port 1935 (MediaMTX when it is installed, else nginx-rtmp), skycountd with
# the dashboard on http://localhost:8080, and the built-in demo recording analysed while no
# drone streams. Ctrl-C stops it all.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/setup.sh"
exec "$root/scripts/dev_up.sh" "$@"
