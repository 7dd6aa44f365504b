#!/bin/sh
# Writes the demo's greeting; run by the shell provisioner in the container.
set -e
echo "${GREETING:-Hello}"
echo "built on $(uname -m) by a shell provisioner; $(wc -l < /srv/hello/motd) lines of motd were uploaded by the file provisioner"
