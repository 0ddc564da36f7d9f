#!/usr/bin/env bash
# Refreshes the phone checkpoint's vendored npm packages (crates/ecard-pwa/assets/vendor/) from the
# npm registry with the ordinary client: each package at a pinned version, its tarball checked
# against the pinned sha512 integrity before anything is copied, then the files the app serves and
# the package's LICENSE copied unmodified. The app loads them from the server only (no CDN).
#
# To move to a new version: change VERSION and INTEGRITY below (`npm view jsqr@X dist.integrity`),
# run this script, run the browser tests (ECARD_BROWSER_TESTS=1 cargo test -p ecard-cli --test
# cli_pwa), and commit the result together with this file.
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=crates/ecard-pwa/assets/vendor

# name version integrity files...
PACKAGES=(
    "jsqr 1.4.0 sha512-dxLob7q65Xg2DvstYkRpkYtmKm2sPJ9oFhrhmudT1dZvNFFTlroai3AWSpLey/w5vMcLBXRgOJsbXpdN9HzU/A== dist/jsQR.js"
)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for entry in "${PACKAGES[@]}"; do
    read -r name version integrity files <<<"$entry"
    (cd "$tmp" && npm pack --silent "$name@$version" >/dev/null)
    tgz="$tmp/$name-$version.tgz"
    got="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
    if [ "$got" != "$integrity" ]; then
        echo "vendor-pwa: $name@$version: tarball integrity $got, expected $integrity; not copied" >&2
        exit 1
    fi
    mkdir -p "$tmp/$name"
    tar -xzf "$tgz" -C "$tmp/$name"
    out="$DEST/$name"
    rm -rf "$out"
    mkdir -p "$out"
    for f in $files; do
        cp "$tmp/$name/package/$f" "$out/"
    done
    cp "$tmp/$name/package/LICENSE" "$out/LICENSE"
    printf '%s@%s\n%s\nfrom the npm registry by tools/vendor-pwa.sh; files copied unmodified: %s LICENSE\n' \
        "$name" "$version" "$integrity" "$files" >"$out/VERSION"
    echo "vendor-pwa: $name@$version -> $out"
done
