#!/bin/sh
# Benchmark `ethos deid` against gdcmanon (Basic Profile, two processes),
# a pydicom Annex E de-identifier (two processes) and `cp -r`, in one run,
# on a corpus of about 2,000 files / 1 GB built under a scratch directory.
#
# Usage: bench/deid/run.sh [SCRATCH_DIR]   (default /tmp/ethos-deid-bench)
# REPS (default 3) rounds run every tool in turn; the table gives each
# tool's best time (the machine is shared, so the minimum is the least
# disturbed run), its largest peak RSS and its least CPU time (user +
# system, children included: less sensitive to other load than wall time),
# then the ratios.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
shared=${ETHOS_SHARED:-$repo/../shared}
scratch=${1:-/tmp/ethos-deid-bench}
py=/usr/bin/python3

mkdir -p "$scratch"
# Two runs on one scratch directory overwrite each other's binary and
# outputs (this happened on the shared machine): refuse a second one.
exec 9>"$scratch/.lock"
if ! flock -n 9; then
	echo "run.sh: another run is using $scratch; pass another directory" >&2
	exit 1
fi
if [ ! -d "$scratch/in" ]; then
	"$py" "$here/mkcorpus.py" "$shared" "$scratch/in" 2000
fi
# $scratch/in may be a symbolic link to a corpus built elsewhere (read
# only): resolve it once so that cp, find and du see the directory.
in=$(cd "$scratch/in" && pwd -P)
(cd "$repo" && go build -o "$scratch/ethos" ./cmd/ethos)
# BEFORE=path/to/binary adds an "ethos-before-*" row for each ethos row,
# run in the same rounds (a build of the code before a change).
before=${BEFORE:-}
if [ ! -f "$scratch/cert.pem" ]; then
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$scratch/key.pem" -out "$scratch/cert.pem" \
		-subj /CN=ethos-bench -days 30 2>/dev/null
fi
head -c 32 /dev/urandom > "$scratch/project.key"
bytes=$(du -sb "$in" | cut -f1)
files=$(find "$in" -type f | wc -l)
echo "corpus: $files files, $bytes bytes; $(nproc) CPUs; $(go version)"

# warm the page cache so every tool reads from memory
find "$in" -type f -exec cat {} + > /dev/null
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"

reps=${REPS:-3}
results="$scratch/results.txt"
: > "$results"
measure() { # name, command...
	name=$1
	shift
	rm -rf "$scratch/out-$name"
	sync
	/usr/bin/time -f "%e %M %U %S" -o "$scratch/time-$name" "$@" > "$scratch/log-$name" 2>&1 || {
		echo "$name: failed, see $scratch/log-$name"
	}
	read -r secs rss usr sys < "$scratch/time-$name"
	echo "$name $secs $rss $usr $sys" >> "$results"
	echo "  round $round: $name $secs s"
}

round=0
while [ "$round" -lt "$reps" ]; do
round=$((round + 1))
measure cp cp -r "$in" "$scratch/out-cp"
for b in "" ${before:+before}; do
	bin="$scratch/ethos"
	[ -n "$b" ] && bin=$before
	p=ethos${b:+-$b}
	# ethos as shipped, no record asked for: one syncfs at the end
	measure $p "$bin" deid --in "$in" --out "$scratch/out-$p" \
		--key-file "$scratch/project.key"
	# like the other tools: no final sync (writeback left to the OS)
	measure $p-nosync "$bin" deid --in "$in" --out "$scratch/out-$p-nosync" \
		--key-file "$scratch/project.key" --sync none
	# with the processing record (QC-PRO-1): SHA-256 of every input and
	# output, one syncfs at the end
	measure $p-record "$bin" deid --in "$in" --out "$scratch/out-$p-record" \
		--key-file "$scratch/project.key" --report "$scratch/report-$p-record.json"
done
measure gdcmanon sh -c "mkdir -p '$scratch/out-gdcmanon' &&
	gdcmanon -e -c '$scratch/cert.pem' --continue -r -i '$in/shard0' -o '$scratch/out-gdcmanon/shard0' &
	gdcmanon -e -c '$scratch/cert.pem' --continue -r -i '$in/shard1' -o '$scratch/out-gdcmanon/shard1' &
	wait"
measure pydicom "$py" "$here/pydicom_deid.py" "$shared/dicom-standard/confidentiality_profile_attributes.json" \
	"$in" "$scratch/out-pydicom" 2
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
awk -v b="$bytes" '
	{
		if (!($1 in best) || $2 < best[$1]) best[$1] = $2
		if ($3 > rss[$1]) rss[$1] = $3
		c = $4 + $5
		if (!($1 in cpu) || c < cpu[$1]) cpu[$1] = c
	}
	END {
		n = split("cp ethos ethos-nosync ethos-record ethos-before ethos-before-nosync ethos-before-record gdcmanon pydicom", names, " ")
		printf "%-20s %7s %8s %8s %7s %7s %7s %8s %7s %7s\n", "tool", "best s", "MB/s", "RSS MB", "vs cp", "vs gdcm", "vs py", "CPU s", "CPU/gd", "CPU/py"
		for (i = 1; i <= n; i++) {
			t = names[i]
			if (!(t in best)) continue
			printf "%-20s %7.2f %8.1f %8.1f %6.0f%% %6.2fx %6.1fx %8.2f %6.2fx %6.1fx\n", t, best[t], b / 1e6 / best[t], rss[t] / 1024,
				100 * best["cp"] / best[t], best["gdcmanon"] / best[t], best["pydicom"] / best[t],
				cpu[t], cpu["gdcmanon"] / cpu[t], cpu["pydicom"] / cpu[t]
		}
	}' "$results"
for t in ethos gdcmanon pydicom; do
	printf '%-12s %6s files written\n' "$t" "$(find "$scratch/out-$t" -name '*.dcm' -type f | wc -l)"
done
