#!/usr/bin/env bash
# OpenCL training speed of two cltrain builds, interleaved in one run so that both see the same
# machine: `bench train --device opencl` for each model, ROUNDS times each, then the median img/s
# and kernel launches per step of each build and their ratio.
#
#   scripts/opencl-compare.sh BASE_BINARY NEW_BINARY [models...]
#   ROUNDS=3 BATCH=64 STEPS=1 DEVICE=opencl scripts/opencl-compare.sh ...
#
# Each build keeps its own program and tuning cache (CLTRAIN_CACHE_DIR under $WORK), so the new
# build's first round includes no tuning only if `cltrain tune` ran before (the script runs it
# and prints the time it took, then a second, cached, start).
set -euo pipefail
base=$1; new=$2; shift 2
models=("$@")
[ ${#models[@]} -gt 0 ] || models=(densenet-bc-40 densenet-bc-100 drn-c-26)
rounds=${ROUNDS:-3}; batch=${BATCH:-64}; steps=${STEPS:-1}; device=${DEVICE:-opencl}
work=${WORK:-$(mktemp -d)}
echo "work folder: $work; batch $batch, $steps timed steps, $rounds rounds, device $device"

median() { sort -g | awk '{v[NR]=$1} END {if (NR == 0) print "nan"; else if (NR % 2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'; }

for model in "${models[@]}"; do
    for build in base new; do mkdir -p "$work/$build-cache"; done
    # Tuning ahead of the run (new build only): first start, then a cached start.
    if "$new" tune --help >/dev/null 2>&1; then
        t0=$(date +%s.%N)
        CLTRAIN_CACHE_DIR="$work/new-cache" "$new" tune --model "$model" --batch-size "$batch" --device "$device" >"$work/$model-tune.txt"
        t1=$(date +%s.%N)
        CLTRAIN_CACHE_DIR="$work/new-cache" "$new" tune --model "$model" --batch-size "$batch" --device "$device" >"$work/$model-tune-cached.txt"
        t2=$(date +%s.%N)
        printf '%s tune: first start %.1f s, cached start %.1f s (%s)\n' "$model" "$(echo "$t1 - $t0" | bc)" \
            "$(echo "$t2 - $t1" | bc)" "$(tail -n 1 "$work/$model-tune.txt")"
    fi
    for round in $(seq "$rounds"); do
        for build in base new; do
            binary=$base; [ $build = new ] && binary=$new
            CLTRAIN_CACHE_DIR="$work/$build-cache" "$binary" bench train --model "$model" --device "$device" \
                --batch-size "$batch" --steps "$steps" --json >"$work/$model-$build-$round.json"
        done
    done
    for build in base new; do
        cat "$work/$model"-$build-*.json | python3 -c "
import json, sys
text = sys.stdin.read()
dec = json.JSONDecoder(); i = 0; rows = []
while i < len(text):
    text_i = text[i:].lstrip()
    if not text_i: break
    obj, n = dec.raw_decode(text_i); rows.append(obj); i = len(text) - len(text_i) + n
ips = sorted(r['imagesPerSecond'] for r in rows)
work = [r['openCLPerStep'] for r in rows if r.get('openCLPerStep')]
launches = [w['kernelLaunches'] + w['clblastCalls'] for w in work]
print('$model $build', 'img/s', ips[len(ips)//2], 'runs', [round(v, 2) for v in ips],
      'launches/step (kernels + CLBlast calls)', (sorted(launches)[len(launches)//2] if launches else '-'))
" | tee -a "$work/summary.txt"
    done
done
echo "summary in $work/summary.txt"
