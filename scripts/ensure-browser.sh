#!/usr/bin/env bash
# The browser tests drive Debian's Chromium (never a downloaded browser); Chinese text needs Noto CJK fonts.
# Paper PDFs embed WenQuanYi Micro Hei (TrueType outlines, Apache-2.0): reportlab cannot embed Noto CJK's CFF.
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
dpkg -s fonts-noto-cjk >/dev/null 2>&1 || need+=(fonts-noto-cjk)
dpkg -s fonts-wqy-microhei >/dev/null 2>&1 || need+=(fonts-wqy-microhei)
[ ${#need[@]} -eq 0 ] && exit 0
echo "Installing ${need[*]} from Debian's packages..."
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
