#!/usr/bin/env bash
# Installs the Debian packages the test suite uses, once: PC/SC (pcscd, the vpcd virtual reader
# driver, the libpcsclite headers), openssl (an independent check of our certificates and CMS),
# the card face's fonts (OCR-B for the MRZ, DejaVu for the rest), tesseract (reads the printed MRZ
# back), CUPS with the cups-pdf queue driver (a real IPP printer that writes PDFs), and Chromium
# with chromedriver (the checkpoint and console screens, tested in a real browser), SoftHSM2 and
# OpenSC's pkcs11-tool (the PKCS#11 token that holds the CSCA and Document Signer keys).
# Idempotent; needs root (or sudo) only when something is missing.
set -euo pipefail
PKGS="pcscd libpcsclite-dev pkg-config vsmartcard-vpcd openssl fonts-ocr-b fonts-dejavu-core tesseract-ocr cups printer-driver-cups-pdf chromium chromium-driver curl softhsm2 opensc"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -z "$missing" ]; then
    echo "install-deps: all present ($PKGS)"
    exit 0
fi
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get install -y --no-install-recommends $missing; then
    $SUDO apt-get update
    $SUDO apt-get install -y --no-install-recommends $missing
fi
