#!/bin/bash
# Score one index pair on the four calibration sets, one after the other (the machine has 2 cores):
#   bench/calibration/all-sets.sh OUT DB612 DB61
# writes OUT-612.txt (6.12 vmlinux, every miss), OUT-612m.txt (6.12 modules, every miss), OUT-61.txt and
# OUT-61m.txt (6.1, held out: summary lines only). Inputs default to the paths of bench/calibration/README.md;
# override with CALIBRATION (truth files), IMAGE612 and IMAGE61 (the `dpkg-deb -x` of each unsigned image).
set -euo pipefail
if [ $# -ne 3 ]; then echo "usage: $0 OUT DB612 DB61" >&2; exit 2; fi
out=$(realpath -m "$1") db612=$(realpath -m "$2") db61=$(realpath -m "$3")
truth=${CALIBRATION:-/work/cache/calibration}
img612=${IMAGE612:-/work/cache/img-6.12/x}
img61=${IMAGE61:-/var/cache/dropsite-ci/img-6.1.0-56}
for f in "$db612" "$db61" "$truth/truth-6.12.117.jsonl" "$img612/boot/vmlinuz-6.12.117+deb12-amd64" "$img61/boot/vmlinuz-6.1.0-56-amd64"; do
  [ -e "$f" ] || { echo "$0: $f: not found (an index, truth file or unpacked image was expected)" >&2; exit 2; }
done
cd "$(dirname "$0")/../.."
score() { node --import tsx bench/calibration/evaluate.ts "$@"; }
score --db "$db612" --truth "$truth/truth-6.12.117.jsonl" --kernel "$img612/boot/vmlinuz-6.12.117+deb12-amd64" --misses --all-misses > "$out-612.txt"
score --db "$db612" --truth "$truth/truth-6.12.117-modules.jsonl" --kernel "$img612/boot/vmlinuz-6.12.117+deb12-amd64" \
  --modules "$img612/lib/modules/6.12.117+deb12-amd64" --held-out --misses --all-misses > "$out-612m.txt"
score --db "$db61" --truth "$truth/truth-6.1.0-56.jsonl" --kernel "$img61/boot/vmlinuz-6.1.0-56-amd64" --held-out > "$out-61.txt"
score --db "$db61" --truth "$truth/truth-6.1.0-56-modules.jsonl" --kernel "$img61/boot/vmlinuz-6.1.0-56-amd64" \
  --modules "$img61/lib/modules/6.1.0-56-amd64" --held-out > "$out-61m.txt"
grep -hE '^source-only, perf|half|whole set' "$out-612.txt" "$out-612m.txt" "$out-61.txt" "$out-61m.txt" | cut -c1-160
