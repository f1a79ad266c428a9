#!/usr/bin/env bash
# step.sh times one CUT and one FastCUT iteration (resnet_6blocks, batch 1,
# 64×64 and 128×128, 1 and 2 threads) side by side on this machine: ours
# (BenchmarkStep in translate: PatchNCE as a plugin and in process) and the
# official CUTModel.optimize_parameters (bench/translate/official_step.py),
# one configuration after the other, and writes a Markdown table.
#
#   CUT_REPO=/tmp/cut bash bench/translate/step.sh   # writes docs/bench/translate-step.md
#
# CUT_REPO is a checkout of github.com/taesungp/contrastive-unpaired-translation
# outside this repository; without it only our rows are measured.
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${N:-10}
OUT=${OUT:-docs/bench/translate-step.md}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
eval "$(sh sdk/backend/env.sh)"
go test -c -o "$tmp/translate.test" ./translate/
export OMP_WAIT_POLICY=PASSIVE OPENBLAS_THREAD_TIMEOUT=4
for mode in cut fastcut; do
	for size in 64 128; do
		for th in 1 2; do
			echo "measuring $mode $size×$size, $th thread(s)..." >&2
			(cd translate && TRANSLATE_SIZES=$size TRANSLATE_THREADS=$th "$tmp/translate.test" -test.run '^$' -test.bench "Step/$mode/$size/threads=$th/" -test.benchtime "${N}x") | grep '^BenchmarkStep' >>"$tmp/ours.txt" || true
			if [ -n "${CUT_REPO:-}" ]; then
				/usr/bin/python3 bench/translate/official_step.py "$CUT_REPO" "$mode" "$size" "$th" "$N" | grep '^official' >>"$tmp/official.txt" || true
			fi
		done
	done
done
/usr/bin/python3 - "$tmp/ours.txt" "$tmp/official.txt" "$OUT" "$N" <<'PY'
import datetime, os, re, sys
ours_f, off_f, out, n = sys.argv[1:]
ours, off = {}, {}
for l in open(ours_f):
    m = re.match(r"BenchmarkStep/(\w+)/(\d+)/threads=(\d+)/([\w-]+?)-\d+\s+\d+\s+\d+ ns/op\s+([\d.]+) s/iter", l)
    if m:
        ours[(m.group(1), m.group(2), m.group(3), m.group(4))] = float(m.group(5))
if os.path.exists(off_f):
    for l in open(off_f):
        m = re.match(r"official (\w+) (\d+)x\d+ (\d+) thread\(s\): median ([\d.]+)", l)
        if m:
            off[(m.group(1), m.group(2), m.group(3))] = float(m.group(4))
f = lambda v: "%.3f" % v if v else "—"
with open(out, "w") as w:
    w.write("# One CUT / FastCUT iteration, ours and the official code's, side by side\n\n")
    w.write("Measured by bench/translate/step.sh on %d CPUs, %s, load average after %s; resnet_6blocks, ngf 64, batch 1, %s iterations each after 2 warm-up ones; random images (the official timing is `optimize_parameters` alone, ours `Model.Step`). Seconds per iteration.\n\n" % (os.cpu_count(), datetime.date.today(), " ".join(open("/proc/loadavg").read().split()[:3]), n))
    w.write("| mode | crop | threads | ours, PatchNCE plugin | ours, in process | official | ours (plugin) / official |\n|---|---|---|---|---|---|---|\n")
    for mode in ("cut", "fastcut"):
        for size in ("64", "128"):
            for th in ("1", "2"):
                p, i, o = ours.get((mode, size, th, "plugin")), ours.get((mode, size, th, "in-process")), off.get((mode, size, th))
                w.write("| %s | %s | %s | %s | %s | %s | %s |\n" % (mode, size, th, f(p), f(i), f(o), "%.2f" % (p / o) if p and o else "—"))
print(open(out).read())
PY
