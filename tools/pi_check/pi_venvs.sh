#!/bin/bash
# Inside the emulated Pi, as user pi: install the wheel the way the README tells a Pi user to, in
# the venvs named as arguments (default: all three), record what pip resolved, and run every
# command in each (run_commands.py).
#   litert      python3 -m venv --system-site-packages (the picamera2 way) + wheel[litert]
#   litert-np1  the README's way: wheel[pi], which is [litert] with numpy<2, so apt's numpy 1.24 is kept
#   tflite      python3 -m venv --system-site-packages + wheel[tflite] (tflite-runtime 2.14,
#               numpy<2)
# A venv whose install fails is recorded (install.log, install-rc) and the next one still runs.
set -u
cd "$HOME/pi-check" || exit 1
wheel="$(ls "$PWD"/dist/mnist_edge-*.whl)"
echo 'numpy<2' >numpy1.txt
rm -rf out
mkdir -p out
{ python3 --version; uname -m; ldd --version | head -1; } >out/system.txt 2>&1

setup() {  # name venv-folder pip-args...
    local name=$1 venv=$2
    shift 2
    local dest="out/$name"
    mkdir -p "$dest"
    rm -rf "$venv"
    echo "== $name: python3 -m venv --system-site-packages $venv; pip install $*"
    python3 -m venv --system-site-packages "$venv"
    local start=$SECONDS rc=0
    "$venv/bin/pip" install --report "$dest/pip-report.json" "$@" >"$dest/install.log" 2>&1 || rc=$?
    echo "$rc $((SECONDS - start))" >"$dest/install-rc"
    "$venv/bin/pip" freeze --all >"$dest/pip-freeze.txt" 2>&1
    if [ "$rc" != 0 ]; then
        echo "== $name: pip install failed ($rc)"
        tail -20 "$dest/install.log"
        return
    fi
    "$venv/bin/python" run_commands.py --bin "$venv/bin" --inputs "$PWD" --out "$dest"
}

names=("$@")
[ ${#names[@]} -gt 0 ] || names=(litert litert-np1 tflite)
for name in "${names[@]}"; do
    case "$name" in
        litert) setup litert "$HOME/mnist-edge-venv" "${wheel}[litert]" ;;
        litert-np1) setup litert-np1 "$HOME/mnist-edge-venv-np1" "${wheel}[pi]" ;;
        tflite) setup tflite "$HOME/mnist-edge-venv-tflite" "${wheel}[tflite]" ;;
        *) echo "unknown venv $name" ;;
    esac
done
echo "== done"
