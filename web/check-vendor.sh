#!/usr/bin/env bash
# Checks that web/vendor/socket.io.min.js (compiled into the binary, served as
# /static/socket.io.min.js) is byte for byte the file of the socket.io-client npm package
# pinned in web/package.json and package-lock.json: installs exactly the locked packages
# (`npm ci`), then compares. To move to a new version: pin it in package.json, `npm install`,
# copy node_modules/socket.io-client/dist/socket.io.min.js to vendor/, run this script.
set -euo pipefail
cd "$(dirname "$0")"

pinned=$(node -p 'require("./package.json").dependencies["socket.io-client"]')
if ! [[ $pinned =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
  echo "web/package.json must pin socket.io-client to an exact version, not '$pinned'" >&2
  exit 1
fi
npm ci --no-audit --no-fund --loglevel=error
installed=$(node -p 'require("./node_modules/socket.io-client/package.json").version')
if [ "$installed" != "$pinned" ]; then
  echo "package-lock.json installs socket.io-client $installed, package.json pins $pinned" >&2
  exit 1
fi
upstream=node_modules/socket.io-client/dist/socket.io.min.js
if ! cmp -s "$upstream" vendor/socket.io.min.js; then
  echo "web/vendor/socket.io.min.js differs from socket.io-client $pinned's dist/socket.io.min.js;" >&2
  echo "copy it again: cp web/$upstream web/vendor/socket.io.min.js" >&2
  exit 1
fi
echo "web/vendor/socket.io.min.js is socket.io-client $pinned ($(sha256sum vendor/socket.io.min.js | cut -c1-16)…)"
