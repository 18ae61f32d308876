#!/usr/bin/env bash
# GPU check: the core and end-to-end tests with CUDA as the default device, then a short
# flagship training run on the GPU. Every phase runs even when an earlier one fails; each one's
# log and exit status go to OUTDIR, so one run of this script on a lent GPU machine says
# everything it can.
#
#   bash bench/gpu_check.sh OUTDIR [MINUTES]
#
# Needs the project importable (PYTHONPATH=. or an install) and a python3 with torch.
# Writes OUTDIR/{info.txt,pytest.log,train.log,summary.txt} and OUTDIR/vae_gpu/ (model.json,
# weights.safetensors, history.jsonl: evaluate it on any machine, as trained models load on CPU).
set -u
out=${1:?usage: gpu_check.sh OUTDIR [MINUTES]}
minutes=${2:-2}
py=${PYTHON:-python3}
mkdir -p "$out"
summary="$out/summary.txt"
: >"$summary"
work=$(mktemp -d)

phase() {  # phase NAME LOG COMMAND...: run, log, and note the exit status in the summary
    local name=$1 log=$2
    shift 2
    local start=$SECONDS
    "$@" >"$log" 2>&1
    local rc=$?
    echo "$name: rc=$rc in $((SECONDS - start)) s" | tee -a "$summary"
}

info() {
    nvidia-smi -L 2>&1 || true
    $py -c 'import sys, torch; print(sys.version.split()[0], "torch", torch.__version__,
"cuda", torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")'
    $py -m synth_core info
    $py -c 'from synth_core.train import select_device; print("default training device:", select_device())'
}

tests() {
    # serially and verbose: under pytest-xdist (8 workers) the suite hung on an H200 with no
    # output, and a run killed at its limit still names every test it finished
    $py -m pytest tests/core tests/e2e -v -p no:cacheprovider -p no:xdist --timeout 300
}

train() {
    $py -m synth_core starter-data "$work/data" >/dev/null || return
    $py -m synth_core train "$work/data/train" --family vae --device cuda --out "$work/vae_gpu" \
        --max-minutes "$minutes" --progress jsonl | tail -n 3 || return
    $py -m synth_core generate "$work/vae_gpu" --n 4 --seed 1 --out "$work/gen" || return
    ls -l "$work/gen"
    mkdir -p "$out/vae_gpu"
    cp "$work/vae_gpu"/{model.json,weights.safetensors,history.jsonl} "$out/vae_gpu/"
}

phase info "$out/info.txt" info
phase tests "$out/pytest.log" tests
phase train "$out/train.log" train
rm -rf "$work"
