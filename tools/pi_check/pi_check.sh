#!/usr/bin/env bash
# make pi-check: the device end on an emulated Raspberry Pi OS userland (Debian bookworm, the base
# of Pi OS Bookworm; arm64 by default, PI_ARCH=armhf for 32-bit), compared with x86.
#
# Stages (all by default, or name some: host rootfs inputs pi x86 compare):
#   host     qemu-user-static, binfmt-support, debootstrap from Debian's archive; the architecture
#            in binfmt_misc with the F flag (the kernel keeps the interpreter open, so the chroot
#            needs no copy of qemu).
#   rootfs   debootstrap --foreign, then --second-stage under qemu, into $PI_ROOT (cached; a root
#            without its completion stamp is half-built and is built again).
#   inputs   on this x86 machine: the wheel, a small real model, real digit PNGs, the test split.
#   pi       in the chroot as user pi, under QEMU_CPU=cortex-a72 (armhf: cortex-a15) with a Pi 4's
#            /proc/cpuinfo: venvs as the README says, pip's resolution recorded, every command run.
#   x86      the same commands on x86: for each Pi venv a twin with the very package versions
#            the Pi resolved (so only the CPU differs), and one venv as pip resolves it here.
#   compare  labels identical, scores within one output quantization step; a table on stdout
#            and bench/results-pi[-armhf].md. Exits 1 on any mismatch.
# Progress lines go to stdout; everything else to $PI_CACHE/pi-check[-armhf].log.
set -Eeuo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
PI_CACHE="${PI_CACHE:-/var/cache/mnist-edge}"
# arm64: Pi OS 64-bit (the README's device section); armhf: Pi OS 32-bit, where only [tflite] has
# wheels (ai-edge-litert publishes no armv7l wheel).
ARCH="${PI_ARCH:-arm64}"
case "$ARCH" in
    arm64) QEMU=aarch64 CPU=cortex-a72 CPUINFO=cpuinfo-pi4.txt SUFFIX=
           VENVS="litert litert-np1 tflite" ;;
    # qemu-arm has no cortex-a72; the A15 has the same 32-bit features (VFPv4, NEON, idiv)
    armhf) QEMU=arm CPU=cortex-a15 CPUINFO=cpuinfo-pi4-armv7.txt VENVS=tflite SUFFIX=-armhf ;;
    *) echo "error: PI_ARCH=$ARCH: choose arm64 or armhf" >&2; exit 2 ;;
esac
PI_ROOT="${PI_ROOT:-$PI_CACHE/pi-rootfs$SUFFIX}"
WORK="$PI_CACHE/pi-check$SUFFIX"           # host-side inputs and every run's answers
LOG="$PI_CACHE/pi-check$SUFFIX.log"
PI_VENVS="${PI_VENVS:-$VENVS}"
SUITE=bookworm                             # Raspberry Pi OS 64-bit (Bookworm) is built on it
MIRROR="${PI_MIRROR:-http://deb.debian.org/debian}"
# python3-pil and python3-numpy: what picamera2 brings from apt on Pi OS. python3-numexpr: a
# C extension built against Debian's numpy 1.24, standing in for Pi OS's python3-simplejpeg
# (not in Debian) to show whether a venv's numpy breaks apt's numpy extensions.
PACKAGES=python3,python3-venv,python3-numpy,python3-pil,python3-numexpr,ca-certificates
STAMP="$PI_ROOT/.pi-check-complete"        # written last; holds the recipe it was built from
RECIPE="$SUITE $ARCH $MIRROR $PACKAGES v1"
# qemu's default "max" CPU gives wrong XNNPACK results; PI_QEMU_CPU / PI_CPUINFO (empty: the
# emulator's own /proc/cpuinfo) exist to show that the check catches those quirks.
export QEMU_CPU="${PI_QEMU_CPU:-$CPU}"
PI_CPUINFO="${PI_CPUINFO-$HERE/$CPUINFO}"
RESULTS="${PI_RESULTS:-$REPO/bench/results-pi$SUFFIX.md}"
HOST_PY="${HOST_PY:-python3}"              # builds the model: TensorFlow (the project's .venv)
PI_HOME=/home/pi

trap 'say "error: line $LINENO: $BASH_COMMAND failed (see $LOG)"' ERR
say() { printf '[pi-check %s] %s\n' "$(date +%H:%M:%S)" "$*" | tee -a "$LOG"; }
die() { say "error: $*"; exit 1; }
quiet() { "$@" >>"$LOG" 2>&1 || die "failed: $* (see $LOG)"; }

need_root() {
    [ "$(id -u)" = 0 ] || die "run as root (debootstrap, binfmt_misc, mounts and chroot need it)"
    # rm -rf of the root below: refuse anything shallower than /a/b/c
    case "$PI_ROOT" in
        /*/*/*) ;;
        *) die "PI_ROOT=$PI_ROOT: give a folder at least 3 levels deep" ;;
    esac
}

HOST_READY=
stage_host() {
    [ -z "$HOST_READY" ] || return 0
    local missing=()
    [ -x "/usr/bin/qemu-$QEMU-static" ] || missing+=(qemu-user-static)
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    command -v update-binfmts >/dev/null || missing+=(binfmt-support)
    if [ ${#missing[@]} -gt 0 ]; then
        say "apt-get install ${missing[*]}"
        quiet apt-get update
        DEBIAN_FRONTEND=noninteractive quiet apt-get install -y "${missing[@]}"
    fi
    local bm=/proc/sys/fs/binfmt_misc
    [ -e "$bm/register" ] || quiet mount -t binfmt_misc binfmt_misc "$bm"
    local entry="$bm/qemu-$QEMU"
    if [ -e "$entry" ] && ! grep -q '^flags:.*F' "$entry"; then
        echo -1 >"$entry"   # registered without F: a chroot could not find the interpreter
    fi
    if [ ! -e "$entry" ]; then
        # Debian's own rule (magic and mask of the architecture's ELF), with the fix-binary flag.
        local rule
        rule="$(cat "/usr/lib/binfmt.d/qemu-$QEMU.conf")"
        case "${rule##*:}" in *F*) ;; *) rule="${rule}F" ;; esac
        printf '%s' "$rule" >"$bm/register"
    fi
    grep -q '^enabled' "$entry" && grep -q '^flags:.*F' "$entry" ||
        die "$QEMU binfmt_misc entry not usable"
    say "host: $("qemu-$QEMU-static" --version | head -1)," \
        "binfmt $QEMU flags $(sed -n 's/^flags: //p' "$entry")"
    HOST_READY=1
}

# Unmount whatever this script (or an interrupted run) left mounted under the root, deepest first.
unmount_all() {
    local targets
    targets="$(findmnt -rn -o TARGET | grep -F "$PI_ROOT/" | sort -r || true)"
    for t in $targets; do umount -l "$t" 2>>"$LOG" || true; done
}

stage_rootfs() {
    stage_host
    if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$RECIPE" ]; then
        say "rootfs: reusing $PI_ROOT"
        return
    fi
    unmount_all
    if [ -e "$PI_ROOT" ]; then
        say "rootfs: $PI_ROOT is half-built or from another recipe: building it again"
        rm -rf --one-file-system "$PI_ROOT"
    fi
    mkdir -p "$PI_ROOT"
    say "rootfs: debootstrap --foreign $SUITE $ARCH (first stage, a few minutes)"
    quiet debootstrap --foreign --arch="$ARCH" --variant=minbase --include="$PACKAGES" \
        "$SUITE" "$PI_ROOT" "$MIRROR"
    say "rootfs: debootstrap --second-stage under qemu (the slow part, 5-15 minutes)"
    quiet chroot "$PI_ROOT" /debootstrap/debootstrap --second-stage
    configure_root
    echo "$RECIPE" >"$STAMP"
    say "rootfs: ready ($(du -sh --one-file-system "$PI_ROOT" | cut -f1))"
}

configure_root() {
    cat >"$PI_ROOT/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb http://deb.debian.org/debian-security $SUITE-security main
EOF
    echo raspberrypi >"$PI_ROOT/etc/hostname"
    chroot "$PI_ROOT" id pi >/dev/null 2>&1 ||
        quiet chroot "$PI_ROOT" useradd -m -u 1000 -s /bin/bash pi
    carry_network_settings
}

# pip in the chroot reaches PyPI the way pip on this machine does: same resolver, same local CAs
# (a TLS-inspecting proxy's, say) and pip's cert setting. This machine's file:// indexes hold
# x86 wheels only and are not carried over.
carry_network_settings() {
    cp -L /etc/resolv.conf "$PI_ROOT/etc/resolv.conf"
    local local_cas=/usr/local/share/ca-certificates dest="$PI_ROOT/usr/local/share/ca-certificates"
    local cas=("$local_cas"/*.crt)
    if [ -e "${cas[0]}" ] && ! diff -rq "$local_cas" "$dest" >/dev/null 2>&1; then
        rm -rf "$dest"
        cp -r "$local_cas" "$dest"
        quiet chroot "$PI_ROOT" update-ca-certificates --fresh
    fi
    local cert=
    if [ -n "${PIP_CERT:-}" ] || python3 -m pip config list 2>/dev/null | grep -q '\.cert='; then
        cert="cert = /etc/ssl/certs/ca-certificates.crt"   # the system store, local CAs included
    fi
    printf '[global]\ntimeout = %s\ndisable-pip-version-check = true\n%s\n' \
        "${PIP_DEFAULT_TIMEOUT:-60}" "$cert" >"$PI_ROOT/etc/pip.conf"
}

stage_inputs() {
    say "inputs: wheel, model (trains ~1 min), digit photos, test split"
    mkdir -p "$WORK"
    (cd "$REPO" && quiet "$HOST_PY" "$HERE/reference.py" prepare "$WORK")
}

# One x86 venv: NAME, then pip arguments; the wheel goes in without its dependencies last.
x86_venv() {
    local name=$1 venv="$PI_CACHE/x86-venvs/$1" out="$WORK/out/x86/$1"
    shift
    rm -rf "$venv" "$out"
    mkdir -p "$out"
    quiet python3 -m venv "$venv"
    quiet "$venv/bin/pip" install "$@"
    quiet "$venv/bin/pip" install --no-deps --force-reinstall "$(ls "$WORK"/dist/mnist_edge-*.whl)"
    "$venv/bin/pip" freeze --all >"$out/pip-freeze.txt" 2>>"$LOG"
    quiet "$venv/bin/python" "$HERE/run_commands.py" --bin "$venv/bin" --inputs "$WORK" --out "$out"
}

stage_x86() {
    [ -d "$WORK/out/pi" ] || die "no Pi answers in $WORK/out/pi: run the pi stage"
    local freeze name
    for freeze in "$WORK"/out/pi/*/pip-freeze.txt; do
        name="$(basename "$(dirname "$freeze")")"
        [ -f "$WORK/out/pi/$name/commands.json" ] || continue
        say "x86: twin of the Pi's $name venv (same package versions)"
        # apt's numexpr is only the Pi's probe; the project's wheel goes in last.
        grep -v -i -E '^(mnist-edge|pip|setuptools|numexpr)[ =@]' "$freeze" \
            >"$WORK/out/pi/$name/twin.txt"
        x86_venv "$name" -r "$WORK/out/pi/$name/twin.txt"
    done
    say "x86: [litert] as pip resolves it on this machine"
    x86_venv latest "$(ls "$WORK"/dist/mnist_edge-*.whl)[litert]"
}

mount_pi() {
    unmount_all
    carry_network_settings
    mount -t proc proc "$PI_ROOT/proc"
    # LiteRT reads /proc/cpuinfo to pick its ARM kernels; qemu-user shows the x86 host's.
    [ -z "$PI_CPUINFO" ] || mount --bind "$PI_CPUINFO" "$PI_ROOT/proc/cpuinfo"
    mount --bind /dev "$PI_ROOT/dev"
    mount -t tmpfs tmpfs "$PI_ROOT/dev/shm"
    mount -t sysfs sysfs "$PI_ROOT/sys"
}

stage_pi() {
    [ -f "$STAMP" ] || die "no complete root in $PI_ROOT: run the rootfs stage"
    [ -d "$WORK/dist" ] || die "no inputs in $WORK: run the inputs stage"
    stage_host
    local dest="$PI_ROOT$PI_HOME/pi-check"
    rm -rf "$dest"
    mkdir -p "$dest"
    cp -r "$WORK/dist" "$WORK/models" "$WORK/digits" "$WORK/mnist-5k.npz" "$dest/"
    cp "$HERE/run_commands.py" "$HERE/pi_venvs.sh" "$dest/"
    chroot "$PI_ROOT" chown -R pi:pi "$PI_HOME"
    trap unmount_all EXIT
    mount_pi
    say "pi: venvs $PI_VENVS and their commands under qemu ($QEMU_CPU," \
        "cpuinfo ${PI_CPUINFO:-of the emulator}), ~8 min"
    # A clean environment, as user pi; QEMU_CPU reaches qemu through binfmt_misc's exec.
    env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$PI_HOME" USER=pi LANG=C.UTF-8 \
        QEMU_CPU="$QEMU_CPU" PIP_DEFAULT_TIMEOUT="${PIP_DEFAULT_TIMEOUT:-180}" \
        "$(command -v chroot)" --userspec=1000:1000 "$PI_ROOT" \
        /bin/bash "$PI_HOME/pi-check/pi_venvs.sh" $PI_VENVS >>"$LOG" 2>&1 ||
        die "the run inside the Pi userland failed (see $LOG)"
    unmount_all
    trap - EXIT
    rm -rf "$WORK/out/pi"
    mkdir -p "$WORK/out"
    cp -r "$dest/out" "$WORK/out/pi"
    say "pi: answers in $WORK/out/pi"
}

stage_compare() {
    local host_info
    host_info="$("qemu-$QEMU-static" --version | head -1)"
    "$HOST_PY" "$HERE/compare.py" --work "$WORK" --qemu "$host_info" --qemu-cpu "$QEMU_CPU" \
        --cpuinfo "${PI_CPUINFO#"$REPO"/}" --arch "$ARCH" --venvs "$PI_VENVS" --results "$RESULTS"
}

main() {
    need_root
    mkdir -p "$PI_CACHE"
    # One run at a time per cache: two runs share the root, the inputs and the answers.
    exec 9>"$PI_CACHE/.pi-check.lock"
    if ! flock -n 9; then
        say "waiting for another pi-check run on $PI_CACHE to finish"
        flock 9
    fi
    local stages=("$@")
    [ ${#stages[@]} -gt 0 ] || stages=(host rootfs inputs pi x86 compare)
    say "start: ${stages[*]} (log: $LOG)"
    for s in "${stages[@]}"; do
        case "$s" in
            host|rootfs|inputs|pi|x86|compare) "stage_$s" ;;
            *) die "unknown stage $s (host rootfs inputs pi x86 compare)" ;;
        esac
    done
}

main "$@"
