#!/bin/sh
# Benchmark consent-gated ingest against `cp -r` in one run, on the
# de-identification benchmark corpus (about 2,000 DICOM files / 1 GB from
# bench/deid/mkcorpus.py, 1,000 patients), plus DICOMweb STOW-RS through a
# running server with the Go client of bench/ingest.
#
# Usage: bench/ingest/run.sh [SCRATCH_DIR]   (default /tmp/ethos-ingest-bench)
# CORPUS=DIR reuses an existing corpus (e.g. /tmp/ethos-deid-bench/in).
# BASELINE=BIN also times an older ethos binary (e.g. built from main) as
# ingest-base-w2, in the same rounds. VARIANTS limits the variants run
# (default: all). REPS (default 3) rounds. Every ingest round starts from a fresh data
# directory with 1,000 research consents imported (not timed), so nothing
# dedupes. The table gives each variant's best wall time, its least CPU
# time (user + system; less sensitive to the other load on a shared
# machine) and its largest peak RSS, then throughput and ratios to cp.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
shared=${ETHOS_SHARED:-$repo/../shared}
scratch=${1:-/tmp/ethos-ingest-bench}
py=/usr/bin/python3
issuer=urn:oid:2.999.4711.1

mkdir -p "$scratch"
corpus=${CORPUS:-$scratch/in}
if [ ! -d "$corpus" ]; then
	"$py" "$repo/bench/deid/mkcorpus.py" "$shared" "$corpus" 2000
fi
(cd "$repo" && go build -o "$scratch/ethos" ./cmd/ethos && go build -o "$scratch/ingest-bench" ./bench/ingest)
E=$scratch/ethos
B=$scratch/ingest-bench
bytes=$(du -sb "$corpus" | cut -f1)
files=$(find "$corpus" -type f | wc -l)
"$B" consents -n $((files / 2)) -issuer "$issuer" > "$scratch/consents.json"
echo "corpus: $files files, $bytes bytes; $(nproc) CPUs; $(go version)"
cat $(find "$corpus" -type f) > /dev/null # warm the page cache

# Directories of earlier runs are moved aside and deleted only at the
# start of the next round (disk space): ext4 skips inodes freed in the
# last minute or so when it allocates new ones, so deleting thousands of
# files right before a timed run makes every file and directory that run
# creates cost more (perf: recently_deleted), for cp and ingest alike.
aside() {
	mkdir -p "$scratch/trash"
	[ ! -e "$1" ] || mv "$1" "$scratch/trash/$(basename "$1")-$(date +%s%N)"
}

# fresh DIR: an initialised data directory with a steward, a project,
# collection rules and the consents; prints "user project token".
fresh() {
	aside "$1"
	"$E" init --data "$1" --json > /dev/null 2>&1
	ids=$("$B" setup -data "$1")
	u=$(echo "$ids" | "$py" -c 'import json,sys; print(json.load(sys.stdin)["user"])')
	p=$(echo "$ids" | "$py" -c 'import json,sys; print(json.load(sys.stdin)["project"])')
	t=$(echo "$ids" | "$py" -c 'import json,sys; print(json.load(sys.stdin)["token"])')
	"$E" ingest rules --data "$1" --user "$u" --project "$p" --purpose research --issuer "$issuer" > /dev/null
	"$E" consent import --data "$1" --user "$u" --project "$p" "$scratch/consents.json" > /dev/null
	echo "$u $p $t"
}

reps=${REPS:-3}
results="$scratch/results.txt"
: > "$results"
record() { # name; reads $scratch/time-NAME ("wall rss user sys")
	read -r secs rss usr sys < "$scratch/time-$1"
	echo "$1 $secs $rss $usr $sys" >> "$results"
	echo "  round $round: $1 $secs s wall, $usr s user, $sys s sys (load $(cut -d' ' -f1 /proc/loadavg))"
}

round=0
while [ "$round" -lt "$reps" ]; do
	round=$((round + 1))
	rm -rf "$scratch/trash"
	aside "$scratch/out-cp"
	sync
	/usr/bin/time -f "%e %M %U %S" -o "$scratch/time-cp" cp -r "$corpus" "$scratch/out-cp"
	record cp
	# the same copy made durable (ingest syncs every blob before it
	# acknowledges it): cp, then syncfs of the target's file system
	aside "$scratch/out-cp"
	sync
	/usr/bin/time -f "%e %M %U %S" -o "$scratch/time-cp+sync" sh -c "cp -r '$corpus' '$scratch/out-cp' && sync -f '$scratch/out-cp'"
	record cp+sync
	aside "$scratch/out-cp"
	# ingest-wN: N workers, group commit of --batch files (default);
	# ingest-b1-w2: every file committed on its own (--batch 1);
	# ingest-base-w2: the BASELINE binary.
	for v in ${VARIANTS:-ingest-w1 ingest-w2 ingest-w4 ingest-b1-w2 ingest-base-w2}; do
		bin=$E
		extra=
		case $v in
		ingest-*) ;;
		*) continue ;;
		esac
		case $v in
		ingest-base-*)
			[ -n "${BASELINE:-}" ] || continue
			bin=$BASELINE
			;;
		ingest-b1-*) extra="--batch 1" ;;
		esac
		w=${v##*-w}
		set -- $(fresh "$scratch/data")
		sync
		/usr/bin/time -f "%e %M %U %S" -o "$scratch/time-$v" \
			"$bin" ingest --workers $w $extra --data "$scratch/data" --user "$1" --project "$2" "$corpus" > "$scratch/log-$v"
		tail -1 "$scratch/log-$v" | grep -q "done: stored $files" || { echo "ingest: not every file stored, see $scratch/log-$v"; exit 1; }
		record $v
	done
	case " ${VARIANTS:-stow-rs} " in *" stow-rs "*) ;; *) continue ;; esac
	# STOW-RS: the server's CPU is measured (time of the server process,
	# stopped by SIGTERM after the client is done); the wall time is the
	# client's.
	set -- $(fresh "$scratch/data")
	/usr/bin/time -f "%e %M %U %S" -o "$scratch/time-server" "$E" serve --data "$scratch/data" --addr 127.0.0.1:18787 --retention-interval 0 2> "$scratch/log-server" &
	tpid=$!
	sleep 2
	sync
	start=$(date +%s.%N)
	ETHOS_TOKEN=$3 "$B" stow -server http://127.0.0.1:18787 -project "$2" -parts 20 -workers 2 "$corpus" > "$scratch/log-stow"
	end=$(date +%s.%N)
	kill -TERM $(pgrep -P $tpid) 2> /dev/null || true
	wait $tpid || true
	grep -q "($files stored" "$scratch/log-stow" || { echo "stow: not every file stored, see $scratch/log-stow"; exit 1; }
	read -r _ rss usr sys < "$scratch/time-server"
	echo "$(echo "$end - $start" | bc) $rss $usr $sys" > "$scratch/time-stow-rs"
	record stow-rs
done
rm -rf "$scratch/trash"
echo
awk -v b="$bytes" -v f="$files" '
	{
		if (!($1 in best) || $2 < best[$1]) best[$1] = $2
		if ($3 > rss[$1]) rss[$1] = $3
		c = $4 + $5
		if (!($1 in cpu) || c < cpu[$1]) cpu[$1] = c
	}
	END {
		printf "| variant | best wall s | files/s | MB/s | CPU s (user+sys) | peak RSS MB | wall vs cp | wall vs cp+sync | CPU vs cp |\n"
		printf "|---|---|---|---|---|---|---|---|---|\n"
		n = split("cp cp+sync ingest-w1 ingest-w2 ingest-w4 ingest-b1-w2 ingest-base-w2 stow-rs", order, " ")
		for (i = 1; i <= n; i++) {
			k = order[i]
			if (!(k in best)) continue
			printf "| %s | %.2f | %.0f | %.1f | %.2f | %.0f | %.0f%% | %.0f%% | %.1fx |\n", k, best[k], f / best[k], b / 1e6 / best[k], cpu[k], rss[k] / 1024, 100 * best["cp"] / best[k], 100 * best["cp+sync"] / best[k], cpu[k] / cpu["cp"]
		}
	}' "$results"
