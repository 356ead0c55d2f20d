#!/usr/bin/env bash
# Headless Chromium for the browser tier (the report and the viewer driven in a real browser): Debian's
# `chromium` package. Installed when missing and this user can (root with apt-get); otherwise the browser
# tests skip and say why.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing Debian's chromium for the browser tests..." >&2
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
else
  echo "chromium is not installed and cannot be installed here: the browser tier will be skipped" >&2
fi
