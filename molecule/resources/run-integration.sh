#!/usr/bin/env bash
# Run the Ansible proof: lint gates, then Molecule against a real systemd Debian 12 container.
#
# Written for a fresh Debian 12 CI machine, as root, where no container engine runs and no image
# can be pulled: it installs docker.io and debootstrap when missing, starts dockerd for the run
# (and stops it at the end), builds the target image once, and runs `molecule test`.
# When a docker engine already answers, it is used and left running.
# Run it from a Python environment with requirements-integration.txt installed.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
readonly REPO_ROOT
readonly RESOURCES_DIR="$REPO_ROOT/molecule/resources"
readonly DOCKERD_START_TIMEOUT_SECONDS=60
readonly DOCKERD_STOP_TIMEOUT_SECONDS=30
readonly REQUIRED_TOOLS=(ansible-playbook ansible-lint yamllint molecule cookiecutter pytest ssh ssh-keygen openssl ssh-audit)
# The rows the day-one walk (molecule/dayone) adds to the fault and attack report.
readonly DAY_ONE_ROWS=("README commands as written" "root login refused after a failed first run" "backups outside the inventory")

dockerd_pid=""
dockerd_log=""

section() {
    printf '\n==== %s ====\n' "$*"
}

die() {
    printf 'run-integration: %s\n' "$*" >&2
    exit 1
}

stop_dockerd() {
    [[ -n $dockerd_pid ]] || return 0
    section "Stopping the docker engine (pid $dockerd_pid)"
    kill -TERM "$dockerd_pid" 2>/dev/null || true
    local waited=0
    while kill -0 "$dockerd_pid" 2>/dev/null && ((waited < DOCKERD_STOP_TIMEOUT_SECONDS)); do
        sleep 1
        waited=$((waited + 1))
    done
    if kill -0 "$dockerd_pid" 2>/dev/null; then
        echo "dockerd did not stop in ${DOCKERD_STOP_TIMEOUT_SECONDS}s; killing it"
        kill -KILL "$dockerd_pid" 2>/dev/null || true
    fi
    dockerd_pid=""
}

check_tools() {
    section "Checking the Python tools"
    local tool missing=()
    for tool in "${REQUIRED_TOOLS[@]}"; do
        command -v "$tool" >/dev/null || missing+=("$tool")
    done
    if ((${#missing[@]})); then
        die "missing ${missing[*]}; run 'make test-integration', or activate a venv with 'pip install -r requirements-integration.txt'"
    fi
    ansible-playbook --version | sed -n 1p
    molecule --version 2>/dev/null | sed -n 1p || true
}

install_system_packages() {
    section "Checking docker.io, debootstrap, the SSH client and openssl"
    local packages=()
    command -v dockerd >/dev/null || packages+=(docker.io)
    command -v debootstrap >/dev/null || packages+=(debootstrap)
    # The user's side of the day-one walk: an SSH client and openssl (README's vault password).
    command -v ssh >/dev/null || packages+=(openssh-client)
    command -v openssl >/dev/null || packages+=(openssl)
    if ((${#packages[@]} == 0)); then
        echo "dockerd and debootstrap are installed"
        return 0
    fi
    [[ $(id -u) -eq 0 ]] || die "${packages[*]} missing and not root; install them with: sudo apt-get install ${packages[*]}"
    echo "installing ${packages[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${packages[@]}" </dev/null
}

start_dockerd() {
    section "Starting the docker engine"
    if docker info >/dev/null 2>&1; then
        echo "a docker engine already answers; using it and leaving it running"
        return 0
    fi
    [[ $(id -u) -eq 0 ]] || die "no docker engine answers and starting one needs root; run as root or start docker first"
    dockerd_log="${PILLARS_DOCKERD_LOG:-/var/log/pillars-dockerd.log}"
    # Output to a file and stdin from /dev/null: a daemon holding the caller's pipes can hang a CI step.
    dockerd >"$dockerd_log" 2>&1 </dev/null &
    dockerd_pid=$!
    trap stop_dockerd EXIT
    # Without these traps bash dies on INT/TERM without running the EXIT trap.
    trap 'exit 130' INT
    trap 'exit 143' TERM
    local waited=0
    until docker info >/dev/null 2>&1; do
        if ! kill -0 "$dockerd_pid" 2>/dev/null; then
            dockerd_pid=""
            tail -n 20 "$dockerd_log" >&2 || true
            die "dockerd exited at start; its log is $dockerd_log"
        fi
        if ((waited >= DOCKERD_START_TIMEOUT_SECONDS)); then
            tail -n 20 "$dockerd_log" >&2 || true
            die "dockerd did not answer within ${DOCKERD_START_TIMEOUT_SECONDS}s; its log is $dockerd_log"
        fi
        sleep 1
        waited=$((waited + 1))
    done
    echo "dockerd pid $dockerd_pid answers after ${waited}s (log: $dockerd_log)"
}

build_image() {
    section "Building the Debian 12 systemd image (cached)"
    bash "$RESOURCES_DIR/build-image.sh"
}

lint() {
    section "yamllint"
    yamllint --strict .
    echo "yamllint: clean"

    section "ansible-lint (production profile)"
    ansible-lint --profile production

    section "Syntax check of every playbook"
    local playbook inventory
    # An inline inventory declaring the groups the playbooks target; syntax does not need hosts.
    inventory="$(mktemp)"
    printf '[pillars]\n[fresh]\n' >"$inventory"
    for playbook in playbooks/*.yml; do
        ansible-playbook --syntax-check -i "$inventory" "$playbook"
    done
    rm -f "$inventory"
}

run_molecule() {
    section "Molecule: create, prepare, converge, idempotence, verify, destroy"
    # The units the roles render are checked with systemd-analyze verify inside the target,
    # during verify: that is where systemd 252 and the referenced binaries exist.
    # The verify records rows of the fault and attack report (one per check).
    molecule test --scenario-name default
}

run_day_one() {
    # Its own pytest options: one walk in order, not spread over workers. It runs beside Molecule
    # (its containers are pillars-dayone-*, on loopback ports of their own), into its own report
    # file, since Molecule's verify starts its report afresh.
    PILLARS_FAULT_REPORT="$1" python3 -m pytest -p no:cacheprovider -p no:xdist -o addopts= -v -x molecule/dayone
}

print_report() {
    [[ -s $PILLARS_FAULT_REPORT ]] || return 1
    section "Fault and attack report (on the systemd target)"
    python3 "$RESOURCES_DIR/fault-report.py" "$PILLARS_FAULT_REPORT" "${DAY_ONE_ROWS[@]/#/--require=}"
}

main() {
    cd "$REPO_ROOT"
    install_system_packages
    check_tools
    lint
    start_dockerd
    build_image
    local report_dir status=0 day_one_pid day_one_status=0
    report_dir="$(mktemp -d)"
    export PILLARS_FAULT_REPORT="$report_dir/fault-report.jsonl"
    # The day-one walk and Molecule share nothing but the engine and the image: they run at once,
    # the walk's output shown after Molecule's.
    run_day_one "$report_dir/day-one.jsonl" >"$report_dir/day-one.log" 2>&1 </dev/null &
    day_one_pid=$!
    run_molecule || status=$?
    wait "$day_one_pid" || day_one_status=$?
    section "Day one over SSH: README's server commands as written, on fresh VPS containers"
    cat "$report_dir/day-one.log"
    ((status)) || status=$day_one_status
    [[ -s $report_dir/day-one.jsonl ]] && cat "$report_dir/day-one.jsonl" >>"$PILLARS_FAULT_REPORT"
    print_report || status=$((status ? status : 1))
    rm -rf "$report_dir"
    ((status == 0)) || die "the integration proof failed (exit $status); the output above says where"
    section "Integration proof passed"
}

main "$@"
