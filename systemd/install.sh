#!/bin/sh
# Install or uninstall breakerwatch as a systemd service (`make install`, `make uninstall`).
#
#   systemd/install.sh install|uninstall [ROOT]
#
# install: a virtual environment with breakerwatch in $ROOT/opt/breakerwatch, the unit in
# $ROOT/etc/systemd/system, a starter config in $ROOT/etc/breakerwatch/config.toml (never
# over an existing one), $ROOT/etc/credstore for the secrets. Safe to run again: it upgrades
# the code and the unit, and leaves the config, the credentials and the state alone.
# uninstall: stops and disables the service, removes the code and the unit; keeps the
# config, the credentials and the state (it says where they are).
# ROOT (default: empty, the real system) installs a self-contained copy under a directory,
# with the unit pointing inside it: what the tests verify the unit against.
# The template breakerwatch@.service is installed beside it, made from the same unit: one
# instance per shard, on one machine and one config (breakerwatch@I-N is shard I of N, its
# own state, the config's port plus I). SHARDS=N (`make install SHARDS=N`) says how to
# start N of them.
set -eu

action=${1:-}
root=${2:-}
here=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-python3}
prefix="$root/opt/breakerwatch"
unit="$root/etc/systemd/system/breakerwatch.service"
template="$root/etc/systemd/system/breakerwatch@.service"
shards=${SHARDS:-}
config_dir="$root/etc/breakerwatch"
credstore="$root/etc/credstore"

say() { printf 'breakerwatch: %s\n' "$*"; }
live_systemd() { [ -z "$root" ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null; }

do_install() {
    "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11) and "breakerwatch needs Python 3.11 or newer (python3 is %d.%d)" % sys.version_info[:2])'
    if [ ! -x "$prefix/bin/python" ]; then
        "$python" -m venv "$prefix" || { say "cannot create a virtual environment: install python3-venv"; exit 1; }
    fi
    # Exactly the locked versions, each checked against its hash; pip itself and anything
    # outside $prefix are left alone (docs/operations.md, "Pinned dependencies").
    "$prefix/bin/pip" install --quiet --disable-pip-version-check --require-hashes \
        -r "$here/requirements/build.txt" -r "$here/requirements/run.txt"
    "$prefix/bin/pip" install --quiet --disable-pip-version-check --no-deps --no-build-isolation \
        --force-reinstall "$here"
    install -d -m 0755 "$(dirname "$unit")" "$prefix/share/doc"
    sed "s#/opt/breakerwatch#$prefix#g" "$here/systemd/breakerwatch.service" > "$unit.tmp"
    chmod 0644 "$unit.tmp"
    mv "$unit.tmp" "$unit"
    # %I is the instance unescaped: breakerwatch@1-4 -> BREAKERWATCH_SHARD=1/4.
    sed -e 's#^Description=\(.*\)$#Description=\1 (shard %I)#' \
        -e 's#^StateDirectory=breakerwatch$#StateDirectory=breakerwatch/shard-%i#' \
        -e 's#^\[Service\]$#[Service]\nEnvironment=BREAKERWATCH_SHARD=%I BREAKERWATCH_PORT_PER_SHARD=1#' \
        "$unit" > "$template.tmp"
    chmod 0644 "$template.tmp"
    mv "$template.tmp" "$template"
    cp "$here/docs/operations.md" "$prefix/share/doc/operations.md"
    install -d -m 0755 "$config_dir"
    if [ -e "$config_dir/config.toml" ]; then
        say "kept the existing $config_dir/config.toml"
    else
        "$prefix/bin/breakerwatch" init --credentials "$config_dir/config.toml" >/dev/null
        chmod 0644 "$config_dir/config.toml"
        say "wrote a starter $config_dir/config.toml"
    fi
    install -d -m 0700 "$credstore"
    if live_systemd; then
        systemctl daemon-reload
    fi
    say "installed $("$prefix/bin/breakerwatch" --version) in $prefix; unit $unit"
    say "next: put each secret in $credstore/NAME (chmod 600), edit the config, then"
    say "  $prefix/bin/breakerwatch check --config $config_dir/config.toml"
    if [ -n "$shards" ]; then
        instances=""
        i=0
        while [ "$i" -lt "$shards" ]; do
            instances="$instances breakerwatch@$i-$shards"
            i=$((i + 1))
        done
        say "  systemctl enable --now$instances"
        say "each listens on the config's port plus its index; Prometheus scrapes all $shards"
        say "(docs/scaling.md, \"Every core\")"
    else
        say "  systemctl enable --now breakerwatch"
    fi
}

do_uninstall() {
    if live_systemd && systemctl list-unit-files breakerwatch.service >/dev/null 2>&1; then
        systemctl disable --now breakerwatch.service 'breakerwatch@*.service' 2>/dev/null || true
    fi
    rm -f "$unit" "$template"
    rm -rf "$prefix"
    if live_systemd; then
        systemctl daemon-reload
    fi
    say "removed $prefix, $unit and $template"
    say "kept: $config_dir (config), $credstore (secrets), /var/lib/private/breakerwatch (state)"
}

case "$action" in
    install) do_install ;;
    uninstall) do_uninstall ;;
    *) echo "usage: systemd/install.sh install|uninstall [ROOT]" >&2; exit 2 ;;
esac
