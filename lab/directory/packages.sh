#!/usr/bin/env bash
# Installs the Debian packages of the lab's Samba AD DC, MIT Kerberos' headers that gssapi
# builds against (hvbot[kerberos]), and faketime (the clock skew test runs the bot with a clock
# of its own), when any is missing; quiet when all are.
# Needs root. Nothing starts on install: a policy-rc.d that exits 101 is put in place for the
# install (and removed afterwards if this script created it).
set -euo pipefail
packages=(samba samba-ad-dc samba-ad-provision samba-dsdb-modules winbind krb5-user ldb-tools libkrb5-dev faketime)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "lab/directory/packages.sh: missing ${missing[*]}; run as root to install them" >&2
  exit 1
fi
policy=/usr/sbin/policy-rc.d
created=""
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"
  chmod 755 "$policy"
  created=1
fi
trap '[ -n "$created" ] && rm -f "$policy"' EXIT
export DEBIAN_FRONTEND=noninteractive
apt="apt-get -q -o DPkg::Lock::Timeout=600"
$apt update >/dev/null
$apt install -y --no-install-recommends "${missing[@]}" >/dev/null
