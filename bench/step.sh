#!/usr/bin/env bash
# step.sh measures a full SimCLR pre-training step (convnet-s, batch 256,
# two 28x28 views, Adam) three ways on this machine, one after the other:
# selfsup with the method in process, selfsup with the method as a plugin
# process, and the PyTorch 1.13 reference (when Debian's python3-torch is
# installed). It writes a Markdown table to $OUT (default
# docs/bench/step.md): median and p90 step seconds after warm-up, and the
# plugin's share of the step.
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${STEPS:-40}
WARM=${WARM:-8}
OUT=${OUT:-docs/bench/step.md}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$(dirname "$OUT")"

# median/p90 of step_s over steps after warm-up, from a metrics.jsonl
stats() {
	/usr/bin/python3 - "$1" "$WARM" <<'PY'
import json, sys, statistics
rows = [json.loads(l) for l in open(sys.argv[1])]
xs = sorted(r["step_s"] for r in rows[int(sys.argv[2]):])
print("%.3f %.3f %d" % (statistics.median(xs), xs[int(0.9 * (len(xs) - 1))], len(xs)))
PY
}

run_selfsup() { # name, extra flags
	bin/selfsup pretrain --steps "$STEPS" --batch-size 256 --no-eval --out "$tmp/$1" $2 >/dev/null 2>"$tmp/$1.log"
	stats "$tmp/$1/metrics.jsonl"
}

load() { cut -d' ' -f1-3 /proc/loadavg; }
echo "measuring in process ($STEPS steps)..." >&2
read -r in_med in_p90 n <<<"$(run_selfsup inproc --in-process)"
echo "measuring with the plugin ($STEPS steps)..." >&2
read -r pl_med pl_p90 _ <<<"$(run_selfsup plugin "")"
share=$(/usr/bin/python3 -c "print('%.1f' % (100 * ($pl_med - $in_med) / $pl_med))")

py_row="| PyTorch 1.13 reference (bench_step.py) | not measured: apt-get install python3-torch | | |"
ref=../shared/reference/pytorch-fmnist
if /usr/bin/python3 -c "import torch" 2>/dev/null && [ -d "$ref" ]; then
	echo "measuring the PyTorch reference ($STEPS steps)..." >&2
	cp -r "$ref" "$tmp/ref"
	(cd "$tmp/ref" && OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench_step.py 2 "$STEPS" >"$tmp/py.log" 2>&1)
	read -r py_med py_p90 <<<"$(/usr/bin/python3 - "$tmp/py.log" "$WARM" <<'PY'
import sys, statistics
rows = []
for line in open(sys.argv[1]):
    parts = line.split()
    if len(parts) > 5 and parts[0].isdigit():
        rows.append(float(parts[5].strip("[]',")))
xs = sorted(rows[int(sys.argv[2]):])
print("%.3f %.3f" % (statistics.median(xs), xs[int(0.9 * (len(xs) - 1))]))
PY
)"
	py_row="| PyTorch 1.13 reference (bench_step.py, 2 threads, PASSIVE) | $py_med | $py_p90 | |"
fi

{
	echo "# One SimCLR pre-training step (convnet-s, batch 256, two 28x28 views, Adam)"
	echo
	echo "Measured by \`make bench\` (bench/step.sh) on $(nproc) CPUs, $(date -u +%Y-%m-%d), load average $(load)."
	echo "Seconds per step after $WARM warm-up steps ($n steps each), augmentation included."
	echo
	echo "| run | median s | p90 s | plugin share |"
	echo "|---|---|---|---|"
	echo "| selfsup, method in process | $in_med | $in_p90 | |"
	echo "| selfsup, method as a plugin process | $pl_med | $pl_p90 | $share % |"
	echo "$py_row"
} >"$OUT"
cat "$OUT"
