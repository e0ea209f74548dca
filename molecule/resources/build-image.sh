#!/usr/bin/env bash
# Build the Molecule target image: a minimal Debian 12 that boots systemd as PID 1.
#
# No registry is reachable from CI, so the image is made from Debian packages with debootstrap
# and handed to the engine with `docker import`. It is cached: nothing happens when the tag exists
# (pass --rebuild to replace it). Needs root, debootstrap and a running docker engine.
set -euo pipefail

# Bump the tag whenever this script changes what goes into the image (molecule.yml names it too).
readonly IMAGE_TAG="local/debian12-systemd:2"
readonly SUITE="bookworm"
readonly FALLBACK_MIRROR="http://deb.debian.org/debian"
readonly FALLBACK_SECURITY_MIRROR="http://deb.debian.org/debian-security"
# What a fresh VPS image ships: an init, a way in (sshd), and Python for Ansible.
# Everything the server role installs itself is left out on purpose, so converge proves it.
readonly INCLUDE_PACKAGES="systemd,systemd-sysv,dbus,python3,sudo,cron,logrotate,iproute2,procps,openssh-server"

die() {
    printf 'build-image: %s\n' "$*" >&2
    exit 1
}

# Print the first http(s) URI that apt on this machine uses for the Debian suite $1.
apt_mirror_for_suite() {
    local suite=$1
    local -a list_files=() deb822_files=()
    local f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [[ -r $f ]] && list_files+=("$f")
    done
    for f in /etc/apt/sources.list.d/*.sources; do
        [[ -r $f ]] && deb822_files+=("$f")
    done
    {
        if ((${#list_files[@]})); then
            # One-line style: deb [options] URI SUITE COMPONENT...
            awk -v suite="$suite" '
                $1 == "deb" {
                    i = 2
                    if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
                    if ($(i + 1) == suite) print $i
                }' "${list_files[@]}"
        fi
        if ((${#deb822_files[@]})); then
            # deb822 style: paragraphs with Types:, URIs:, Suites:, Enabled: fields.
            awk -v suite="$suite" '
                BEGIN { RS = ""; FS = "\n" }
                {
                    types = ""; uris = ""; suites = ""; enabled = "yes"
                    for (i = 1; i <= NF; i++) {
                        if ($i ~ /^#/ || !match($i, /^[A-Za-z-]+:/)) continue
                        key = tolower(substr($i, 1, RLENGTH - 1))
                        value = substr($i, RLENGTH + 1)
                        if (key == "types") types = value
                        else if (key == "uris") uris = value
                        else if (key == "suites") suites = value
                        else if (key == "enabled") enabled = value
                    }
                    if (enabled ~ /no/ || (" " types " ") !~ /[ \t]deb[ \t]/) next
                    n = split(suites, names, /[ \t]+/)
                    for (j = 1; j <= n; j++) {
                        if (names[j] != suite) continue
                        sub(/^[ \t]+/, "", uris)
                        split(uris, first, /[ \t]+/)
                        print first[1]
                    }
                }' "${deb822_files[@]}"
        fi
    } | grep -E '^https?://' | head -n 1 || true
}

main() {
    local rebuild=false
    case "${1:-}" in
        --rebuild) rebuild=true ;;
        "") ;;
        *) die "unknown argument '$1'; usage: build-image.sh [--rebuild]" ;;
    esac

    if [[ $rebuild == false ]] && docker image inspect "$IMAGE_TAG" >/dev/null 2>&1; then
        echo "build-image: $IMAGE_TAG already exists, keeping it (--rebuild replaces it)"
        return 0
    fi
    [[ $(id -u) -eq 0 ]] || die "debootstrap needs root; run this script as root (sudo)"
    command -v debootstrap >/dev/null || die "debootstrap is missing; install it with: apt-get install debootstrap"

    local mirror security_mirror
    mirror=${PILLARS_DEBIAN_MIRROR:-$(apt_mirror_for_suite "$SUITE")}
    mirror=${mirror:-$FALLBACK_MIRROR}
    security_mirror=${PILLARS_DEBIAN_SECURITY_MIRROR:-$(apt_mirror_for_suite "$SUITE-security")}
    security_mirror=${security_mirror:-$FALLBACK_SECURITY_MIRROR}

    # /var/tmp, not /tmp: /tmp is often a small or noexec tmpfs and debootstrap runs binaries in the tree.
    local rootfs
    rootfs=$(mktemp -d "${TMPDIR:-/var/tmp}/pillars-rootfs.XXXXXX")
    # --one-file-system: a failed debootstrap can leave /proc mounted inside the tree.
    trap 'umount -R "'"$rootfs"'/proc" 2>/dev/null || true; rm -rf --one-file-system "'"$rootfs"'"' EXIT

    echo "build-image: debootstrap $SUITE from $mirror into $rootfs"
    debootstrap --variant=minbase --include="$INCLUDE_PACKAGES" "$SUITE" "$rootfs" "$mirror"

    # Each container must get its own machine id at first boot, as a cloned VPS image would.
    : >"$rootfs/etc/machine-id"
    rm -f "$rootfs/var/lib/dbus/machine-id"

    # The same archive areas a Debian 12 VPS has, so unattended-upgrades finds its security origin.
    cat >"$rootfs/etc/apt/sources.list" <<EOF
deb $mirror $SUITE main
deb $mirror $SUITE-updates main
deb $security_mirror $SUITE-security main
EOF
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*

    # A container starts with / as a private mount; on a VM systemd makes it shared. Units with
    # LoadCredential= (every agent) need it shared, at every boot, before any service starts.
    cat >"$rootfs/etc/systemd/system/pillars-shared-root.service" <<'UNIT'
[Unit]
Description=Make / a shared mount, as on a VM (test containers only)
DefaultDependencies=no
Before=local-fs.target sysinit.target

[Service]
Type=oneshot
ExecStart=/bin/mount --make-rshared /

[Install]
WantedBy=sysinit.target
UNIT
    mkdir -p "$rootfs/etc/systemd/system/sysinit.target.wants"
    ln -sf /etc/systemd/system/pillars-shared-root.service \
        "$rootfs/etc/systemd/system/sysinit.target.wants/pillars-shared-root.service"

    echo "build-image: importing the tree as $IMAGE_TAG"
    tar -C "$rootfs" --numeric-owner -c . |
        docker import \
            --change 'CMD ["/sbin/init"]' \
            --change 'ENV container=docker' \
            - "$IMAGE_TAG"
    echo "build-image: $IMAGE_TAG ready"
}

main "$@"
