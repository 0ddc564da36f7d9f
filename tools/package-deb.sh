#!/usr/bin/env bash
# Builds the Debian package target/debian/ecard-station_<version>_<arch>.deb with dpkg-deb: the
# `ecard` binary, the firmware profiles, a hardened systemd unit, /etc/ecard/station.toml as a
# conffile, man pages generated from the binary's own clap definitions, and the READMEs.
#
#   tools/package-deb.sh                      # cargo build --release, then package
#   tools/package-deb.sh --binary PATH        # package an already built binary (CI reuses its test build)
#   tools/package-deb.sh --check              # also: install it with dpkg -i, run `ecard --version`
#                                             # and `systemd-analyze verify` on the unit (needs root)
set -euo pipefail
cd "$(dirname "$0")/.."

binary=""
check=false
while [ $# -gt 0 ]; do
    case "$1" in
        --binary) binary="$2"; shift 2 ;;
        --check) check=true; shift ;;
        -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
        *) echo "package-deb: unknown argument $1 (see --help)" >&2; exit 3 ;;
    esac
done

command -v dpkg-deb >/dev/null || { echo "package-deb: dpkg-deb is missing: run it on Debian or Ubuntu" >&2; exit 3; }

version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)
arch=$(dpkg --print-architecture)
target_dir=${CARGO_TARGET_DIR:-target}
if [ -z "$binary" ]; then
    cargo build --release --bin ecard
    binary="$target_dir/release/ecard"
fi
[ -x "$binary" ] || { echo "package-deb: no executable at $binary" >&2; exit 3; }

out=target/debian
root="$out/ecard-station_${version}_${arch}"
rm -rf "$root"
install -d "$root/DEBIAN" "$root/usr/bin" "$root/usr/share/ecard/firmware-profiles" \
    "$root/usr/share/man/man1" "$root/usr/share/doc/ecard-station" "$root/etc/ecard" \
    "$root/lib/systemd/system"

install -m 0755 "$binary" "$root/usr/bin/ecard"
strip --strip-debug "$root/usr/bin/ecard" 2>/dev/null || true
install -m 0644 firmware-profiles/*.toml "$root/usr/share/ecard/firmware-profiles/"
install -m 0644 packaging/debian/ecard-station.service "$root/lib/systemd/system/"
install -m 0644 packaging/debian/station.toml "$root/etc/ecard/station.toml"
install -m 0755 packaging/debian/postinst packaging/debian/postrm "$root/DEBIAN/"
echo "/etc/ecard/station.toml" > "$root/DEBIAN/conffiles"

"$root/usr/bin/ecard" generate man --out "$root/usr/share/man/man1" >/dev/null
gzip -9n "$root"/usr/share/man/man1/*.1
install -m 0644 README.md "$root/usr/share/doc/ecard-station/README.md"
install -m 0644 crates/ecard-station/README.md "$root/usr/share/doc/ecard-station/station-README.md"
cat > "$root/usr/share/doc/ecard-station/copyright" <<COPY
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: ecard-station
Files: *
License: Apache-2.0 OR MIT
COPY

installed_kb=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
cat > "$root/DEBIAN/control" <<CONTROL
Package: ecard-station
Version: $version
Architecture: $arch
Maintainer: ecard-station maintainers <maintainers@ecard-station.invalid>
Section: admin
Priority: optional
Installed-Size: $installed_kb
Depends: libc6 (>= 2.36), libpcsclite1, adduser
Recommends: pcscd, softhsm2, fonts-ocr-b, fonts-dejavu-core
Suggests: postgresql, cups
Description: Moscow e-card issuance station (ICAO Doc 9303 chip cards)
 Takes enrollment records from the Multifunctional Migration Centre, validates
 them, allocates card numbers, personalizes contact chips through PC/SC readers,
 prints card faces with a signed QR seal, verifies each card and serves an HTTP
 API and console. The ecard command also reads and verifies cards for
 checkpoints and QA.
CONTROL

deb="$out/ecard-station_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz -z6 --build "$root" "$deb" >/dev/null
echo "package-deb: $deb ($(du -h "$deb" | cut -f1))"

if $check; then
    dpkg -i "$deb"
    /usr/bin/ecard --version
    systemd-analyze verify /lib/systemd/system/ecard-station.service
    test "$(stat -c %a /var/lib/ecard)" = 700
    test "$(stat -c %U /var/lib/ecard)" = ecard
    getent passwd ecard >/dev/null
    dpkg -L ecard-station | grep -q '/usr/share/man/man1/ecard-station-serve.1.gz'
    # The shipped conffile starts the packaged daemon as the service user, as the unit would.
    log=$(mktemp)
    runuser -u ecard -- /usr/bin/ecard station serve --config /etc/ecard/station.toml \
        --data-dir /var/lib/ecard --listen 127.0.0.1:18089 >"$log" 2>&1 &
    pid=$!
    up=false
    for _ in $(seq 1 60); do
        if curl -fsS http://127.0.0.1:18089/api/v1/healthz >/dev/null 2>&1; then up=true; break; fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 1
    done
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    if ! $up; then
        echo "package-deb: the packaged daemon did not answer /api/v1/healthz with the shipped conffile:" >&2
        cat "$log" >&2
        exit 1
    fi
    rm -f "$log"
    echo "package-deb: installed; ecard --version, systemd-analyze verify, the data directory and a start of the packaged daemon passed"
fi
