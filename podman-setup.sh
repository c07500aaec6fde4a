#!/usr/bin/env bash
# One-time setup for `./submit.sh build --local` and `local --container`: podman, runc and debootstrap
# from Debian's packages, and podman's settings for a sandbox that lacks CAP_SYS_RESOURCE (default ulimits
# off) and has hybrid cgroups that crun refuses (runc instead). Run as root or with sudo; safe to rerun.
set -euo pipefail

sudo=""
if [[ $(id -u) != 0 ]]; then
  sudo=sudo
fi
if ! command -v podman >/dev/null || ! command -v runc >/dev/null || ! command -v debootstrap >/dev/null; then
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc debootstrap >/dev/null
fi
conf=/etc/containers/containers.conf
if [[ ! -e $conf ]]; then
  $sudo mkdir -p /etc/containers
  printf '[containers]\ndefault_ulimits = []\n\n[engine]\nruntime = "runc"\n' | $sudo tee "$conf" >/dev/null
fi
podman --version
