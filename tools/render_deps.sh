#!/usr/bin/env bash
# System libraries for offscreen MuJoCo rendering on the CPU (pixel environments):
# EGL with Mesa's software rasteriser (the default, MUJOCO_GL=egl) and OSMesa (MUJOCO_GL=osmesa).
# Installs them with apt-get when they are missing and we are root on a Debian/Ubuntu machine;
# otherwise says what to install. Called by `make install`.
set -euo pipefail
have() { ldconfig -p | grep -q "$1"; }
if have "libEGL.so.1" && have "libEGL_mesa.so.0" && have "libOSMesa.so"; then
    echo "render deps ok (EGL + Mesa, OSMesa)"
    exit 0
fi
PACKAGES="libegl1 libegl-mesa0 libgl1-mesa-dri libosmesa6"
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing render deps: $PACKAGES"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $PACKAGES >/dev/null \
        || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $PACKAGES >/dev/null; }
else
    echo "WARNING: pixel environments need EGL/Mesa or OSMesa; install: $PACKAGES" >&2
fi
