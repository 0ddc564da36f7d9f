#!/usr/bin/env bash
# A real CUPS with a PDF-writing queue, for the ecard-print IPP tests (ECARD_CUPS_TESTS=1).
#
#   tools/cups-pdf.sh start   installs cups + printer-driver-cups-pdf when missing (Debian, as root),
#                             starts cupsd without systemd, creates the queue `ecard-pdf`, waits until
#                             it accepts jobs, and prints two lines:
#                               ECARD_CUPS_URI=ipp://localhost:631/printers/ecard-pdf
#                               ECARD_CUPS_OUT=<folder where cups-pdf writes its PDFs>
#   tools/cups-pdf.sh stop    stops the cupsd this script started (by the pid it recorded).
#
# CI: eval "$(tools/cups-pdf.sh start)"; ECARD_CUPS_TESTS=1 cargo test -p ecard-print; tools/cups-pdf.sh stop
set -euo pipefail

QUEUE=ecard-pdf
PIDFILE=/run/ecard-cupsd.pid
CONF=/etc/cups/cups-pdf.conf

need_install() {
    [ -x /usr/sbin/cupsd ] && [ -x /usr/sbin/lpadmin ] && [ -e /usr/lib/cups/backend/cups-pdf ]
}

out_dir() {
    # cups-pdf writes anonymous jobs (our IPP client sends no authenticated user) to AnonDirName,
    # or to Out (usually ${HOME}/PDF) for a known local user; Debian's default AnonDirName is
    # /var/spool/cups-pdf/ANONYMOUS. Both are reported so the tests can look in the right one.
    local anon
    anon=$(sed -n 's/^AnonDirName[[:space:]]\+//p' "$CONF" 2>/dev/null | tail -1)
    echo "${anon:-/var/spool/cups-pdf/ANONYMOUS}"
}

start() {
    if ! need_install; then
        echo "installing cups and printer-driver-cups-pdf" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -q >&2
        apt-get install -y -q cups printer-driver-cups-pdf >&2
    fi
    # Every job goes to one folder, whoever sends it: the tests look there.
    if ! grep -q '^AnonDirName' "$CONF"; then
        echo 'AnonDirName /var/spool/cups-pdf/ANONYMOUS' >>"$CONF"
    fi
    mkdir -p "$(out_dir)"
    chmod 1777 "$(out_dir)"

    if ! lpstat -r 2>/dev/null | grep -q 'is running'; then
        /usr/sbin/cupsd
        # cupsd daemonizes; record the daemon's pid for `stop`.
        for _ in $(seq 1 50); do
            if lpstat -r 2>/dev/null | grep -q 'is running'; then break; fi
            sleep 0.2
        done
        pgrep -n -x cupsd >"$PIDFILE" || true
    fi
    lpstat -r | grep -q 'is running' || { echo "cupsd did not start" >&2; exit 1; }

    local model
    model=$(lpinfo -m 2>/dev/null | awk '/CUPS-PDF_opt\.ppd/ {print $1; exit}')
    if [ -z "$model" ]; then
        model=$(lpinfo -m 2>/dev/null | awk 'tolower($0) ~ /cups-pdf/ {print $1; exit}')
    fi
    [ -n "$model" ] || { echo "no cups-pdf model found by lpinfo -m" >&2; exit 1; }
    lpadmin -p "$QUEUE" -E -v cups-pdf:/ -m "$model"
    cupsenable "$QUEUE"
    cupsaccept "$QUEUE"
    echo "ECARD_CUPS_URI=ipp://localhost:631/printers/$QUEUE"
    echo "ECARD_CUPS_OUT=$(out_dir)"
}

stop() {
    if [ -s "$PIDFILE" ]; then
        local pid
        pid=$(cat "$PIDFILE")
        kill "$pid" 2>/dev/null || true
        # cupsd finishes its jobs and saves state before it exits: wait for that.
        for _ in $(seq 1 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.2
        done
        rm -f "$PIDFILE"
    fi
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
