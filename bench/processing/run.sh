#!/bin/sh
# Benchmark a processing run ('ethos process run': encrypted blobs in,
# de-identification, SHA-256 of the outputs (the inputs' come from ingest),
# the pixel-data comparison, encrypted outputs, processing record, lineage,
# audit) against
# 'ethos deid' (plain files in and out, with its report) on the same
# files, in one run. The ratio of CPU times (user + system) is the cost of
# the bookkeeping; the aim is at most 25 % extra.
#
# Usage: bench/processing/run.sh [SCRATCH_DIR]   (default /tmp/ethos-processing-bench)
# FILES (default 400) files are built by bench/deid/mkcorpus.py; REPS
# (default 3) rounds run both tools in turn; the table keeps each tool's
# least CPU time and best wall time. BEFORE=/path/to/ethos adds a third
# tool, 'process-before': the same processing run by another build (e.g.
# the main branch before a change), measured in the same rounds. Every
# processing run starts from a fresh copy of the prepared data directory
# (moved into the blob layout used before 2026-11-27 when BEFORE_LEGACY
# is set, for a BEFORE binary that old). BEFORE_SQL, when set, is run
# (sqlite3) on the BEFORE binary's copy of the database first: e.g. to
# take back a migration the older binary does not know, for a binary
# before migration 0084:
#   BEFORE_SQL="ALTER TABLE instances DROP COLUMN plain_sha256;
#     DELETE FROM schema_migrations WHERE name = '0084_instance_sha256.sql'"
# and for a binary before migration 0085 (main before session 6), the five
# pixel_* columns (pixel_tag, pixel_offset, pixel_length,
# pixel_encapsulated, pixel_syntax) dropped the same way and the row of
# '0085_instance_pixels.sql' deleted.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
shared=${ETHOS_SHARED:-$repo/../shared}
scratch=${1:-/tmp/ethos-processing-bench}
py=/usr/bin/python3
files=${FILES:-400}

mkdir -p "$scratch"
if [ ! -d "$scratch/in" ]; then
	"$py" "$repo/bench/deid/mkcorpus.py" "$shared" "$scratch/in" "$files"
fi
(cd "$repo" && go build -o "$scratch/ethos" ./cmd/ethos && go build -o "$scratch/prepare" ./bench/processing/prepare)
head -c 32 /dev/urandom > "$scratch/project.key"
rm -rf "$scratch/data" "$scratch/data-0" "$scratch/trash"
"$scratch/ethos" init --data "$scratch/data-0" > /dev/null 2>&1
set -- $("$scratch/prepare" "$scratch/data-0" "$scratch/in")
user=$1 project=$2 n=$3
bytes=$(du -sb "$scratch/in" | cut -f1)
echo "corpus: $n instances, $bytes bytes; $(nproc) CPUs; $(go version); load: $(cut -d' ' -f1-3 /proc/loadavg)"
cat $(find "$scratch/in" -type f) > /dev/null

reps=${REPS:-3}
results="$scratch/results.txt"
: > "$results"
# fresh: every processing run starts from a copy of the prepared data
# directory (not timed), so each is a first run: no output of an earlier
# round is already in the blob store (which would be deduplicated).
# "fresh legacy" also moves every blob into the store layout used before
# 2026-11-27 (<key>/<2 hex>/<digest>), which an older BEFORE binary reads
# (the current one reads both).
# The previous copy is moved aside and deleted only at the end: ext4 skips
# inodes freed in the last seconds when it allocates new ones, so deleting
# hundreds of files right before a timed run makes every file that run
# creates cost several times more (perf: recently_deleted).
fresh() {
	mkdir -p "$scratch/trash"
	[ ! -d "$scratch/data" ] || mv "$scratch/data" "$scratch/trash/data-$(date +%s%N)"
	cp -a "$scratch/data-0" "$scratch/data"
	if [ -n "${2:-}" ]; then
		sqlite3 "$scratch/data/ethos.db" "$2"
	fi
	if [ "${1:-}" = legacy ]; then
		for f in "$scratch"/data/blobs/*/*; do
			b=$(basename "$f")
			[ ${#b} -eq 64 ] || continue
			mkdir -p "$(dirname "$f")/$(echo "$b" | cut -c1-2)"
			mv "$f" "$(dirname "$f")/$(echo "$b" | cut -c1-2)/$b"
		done
	fi
}
measure() { # name, command...
	name=$1
	shift
	sync
	/usr/bin/time -f "%e %M %U %S" -o "$scratch/time-$name" "$@" > "$scratch/log-$name" 2>&1 || {
		echo "$name: failed, see $scratch/log-$name"
		exit 1
	}
	read -r secs rss usr sys < "$scratch/time-$name"
	echo "$name $secs $rss $usr $sys" >> "$results"
	echo "  round $round: $name $secs s, $usr user + $sys sys"
}
round=0
while [ "$round" -lt "$reps" ]; do
	round=$((round + 1))
	mkdir -p "$scratch/trash"
	[ ! -d "$scratch/out-deid" ] || mv "$scratch/out-deid" "$scratch/trash/out-deid-$round"
	measure deid "$scratch/ethos" deid --in "$scratch/in" --out "$scratch/out-deid" \
		--key-file "$scratch/project.key" --report "$scratch/report-deid.json"
	fresh
	measure process "$scratch/ethos" process run --data "$scratch/data" --user "$user" --project "$project" \
		--key-file "$scratch/project.key" --json
	if [ -n "${BEFORE:-}" ]; then
		fresh "${BEFORE_LEGACY:+legacy}" "${BEFORE_SQL:-}"
		measure process-before "$BEFORE" process run --data "$scratch/data" --user "$user" --project "$project" \
			--key-file "$scratch/project.key" --json
	fi
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
rm -rf "$scratch/trash"
awk '
	{
		if (!($1 in best) || $2 < best[$1]) best[$1] = $2
		if ($3 > rss[$1]) rss[$1] = $3
		c = $4 + $5
		if (!($1 in cpu) || c < cpu[$1]) cpu[$1] = c
	}
	END {
		printf "| tool | best wall s | least CPU s | peak RSS MB |\n| --- | ---: | ---: | ---: |\n"
		for (t in best) printf "| %s | %.2f | %.2f | %.0f |\n", t, best[t], cpu[t], rss[t] / 1024
		printf "\nCPU ratio process/deid: %.2f (bookkeeping %+.0f %%)\n", cpu["process"] / cpu["deid"], 100 * (cpu["process"] / cpu["deid"] - 1)
		if ("process-before" in cpu) printf "CPU ratio process-before/deid: %.2f\n", cpu["process-before"] / cpu["deid"]
	}' "$results"
