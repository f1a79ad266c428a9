#!/usr/bin/env bash
# update.sh times one SAC update (batch 128, 3 stacked RGB frames cropped
# 100→84, replay sampling and crops included) side by side on this machine:
# ours (BenchmarkUpdate in sdk/rl/runner: pixel SAC, CURL in process, CURL
# as a plugin, each in float32 and the bfloat16-conv option) and the
# official CurlSacAgent.update (bench/rl/official_update.py), the official
# one both as it runs by default and at its best setting (glibc keeping
# freed memory, OpenBLAS not spinning). Our runs use selfsup-rl's settings
# (OMP_WAIT_POLICY=PASSIVE, OPENBLAS_THREAD_TIMEOUT=4, HoldFreedMemory).
#
#   CURL_REPO=/tmp/curl bash bench/rl/update.sh     # writes docs/bench/rl-update.md
#
# CURL_REPO is a checkout of github.com/MishaLaskin/curl outside this
# repository; without it only our rows are measured.
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${N:-20}
OUT=${OUT:-docs/bench/rl-update.md}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
eval "$(sh sdk/backend/env.sh)"
go test -c -o "$tmp/runner.test" ./sdk/rl/runner/
best="MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=68719476736 OPENBLAS_THREAD_TIMEOUT=4"
official() { # label, extra env
	[ -n "${CURL_REPO:-}" ] || return 0
	echo "measuring the official agent ($1)..." >&2
	env OMP_WAIT_POLICY=PASSIVE $2 /usr/bin/python3 bench/rl/official_update.py "$CURL_REPO" "$N" | sed "s/^/$1 /" >>"$tmp/official.txt"
}
official default "X=1"
echo "measuring ours..." >&2
(cd sdk/rl/runner && OMP_WAIT_POLICY=PASSIVE OPENBLAS_THREAD_TIMEOUT=4 "$tmp/runner.test" -test.run '^$' -test.bench Update -test.benchtime "${N}x" -test.timeout 60m) | tee "$tmp/ours.txt" >&2
official best "$best"
/usr/bin/python3 - "$tmp/ours.txt" "$tmp/official.txt" "$OUT" "$N" <<'PY'
import re, sys, os, datetime
ours_f, off_f, out, n = sys.argv[1:]
ours = {}
for l in open(ours_f):
    m = re.match(r"BenchmarkUpdate/(\S+?)-\d+\s+\d+\s+\d+ ns/op\s+([\d.]+) s/update", l)
    if m:
        ours[m.group(1)] = float(m.group(2))
off = {}
if os.path.exists(off_f):
    for l in open(off_f):
        m = re.match(r"(\w+) official (\S+): ([\d.]+) (s/update|ms/step)", l)
        if m:
            off[(m.group(1), m.group(2))] = float(m.group(3))
load = open("/proc/loadavg").read().split()[:3]
rows = [
    ("pixel SAC", "pixel-sac", "pixel-sac-bf16", "pixel-sac"),
    ("CURL, method in process", "curl-in-process", None, "curl"),
    ("CURL, method as a plugin", "curl-plugin", "curl-plugin-bf16", "curl"),
]
def f(v): return "%.3f" % v if v else "—"
with open(out, "w") as w:
    w.write("# One SAC update, ours and the official CURL agent's, side by side\n\n")
    w.write("Measured by bench/rl/update.sh on %d CPUs, %s, load average after %s; %s updates each, batch 128, 84×84, 3 stacked RGB frames, replay sampling and crops included. Seconds per update.\n\n" % (os.cpu_count(), datetime.date.today(), " ".join(load), n))
    w.write("| agent | ours float32 | ours bfloat16 convs | official (default) | official (best setting) | ours float32 / official best | ours bfloat16 / official best |\n|---|---|---|---|---|---|---|\n")
    for label, k32, k16, ko in rows:
        o32, o16 = ours.get(k32), ours.get(k16) if k16 else None
        od, ob = off.get(("default", ko)), off.get(("best", ko))
        r = lambda x: "%.2f" % (x / ob) if x and ob else "—"
        w.write("| %s | %s | %s | %s | %s | %s | %s |\n" % (label, f(o32), f(o16), f(od), f(ob), r(o32), r(o16)))
    a = off.get(("best", "acting"))
    if a:
        w.write("\nOfficial acting (one observation, best setting): %.2f ms/step.\n" % a)
    w.write("\nThe official's best setting: `%s` (its default: OMP_WAIT_POLICY=PASSIVE only).\n" % "MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=68719476736 OPENBLAS_THREAD_TIMEOUT=4")
print(open(out).read())
PY
