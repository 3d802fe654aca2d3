#!/usr/bin/env bash
# The test command (make test). On a fresh Debian machine with Go it
# installs the tools the tests use, starts a throw-away PostgreSQL server on
# loopback, and runs vet, the formatting check and the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests run: dcmtk (dcmdump), dicom3tools (dciodvfy),
# scikit-learn and scipy (reference numbers), PostgreSQL (the second store),
# Chromium (rendered pages), sqlite3 (tampering with a database in a test),
# python3-cryptography (an independent Ed25519 check of audit exports).
need=(dcmtk dicom3tools python3-sklearn python3-scipy python3-numpy python3-cryptography python3-pydicom postgresql chromium sqlite3)
missing=()
for p in "${need[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "test: installing ${missing[*]}"
	sudo=""
	[ "$(id -u)" = 0 ] || sudo="sudo"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# A PostgreSQL server of our own, on loopback only, removed at exit.
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [ -n "${pgbin}" ] && [ -z "${ETHOS_TEST_POSTGRES:-}" ]; then
	pgdir=$(mktemp -d /tmp/ethos-pg.XXXXXX)
	port=$(( 20000 + RANDOM % 20000 ))
	run=()
	if [ "$(id -u)" = 0 ]; then
		chown postgres "$pgdir"
		run=(runuser -u postgres --)
	fi
	"${run[@]}" "$pgbin/initdb" -D "$pgdir/data" -A trust -U ethos >/dev/null
	"${run[@]}" "$pgbin/pg_ctl" -D "$pgdir/data" -l "$pgdir/log" -w \
		-o "-h 127.0.0.1 -p $port -k $pgdir -F" start >/dev/null
	trap '"${run[@]}" "$pgbin/pg_ctl" -D "$pgdir/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$pgdir"' EXIT
	export ETHOS_TEST_POSTGRES="postgres://ethos@127.0.0.1:$port/postgres?sslmode=disable"
fi

echo "test: postgres at ${ETHOS_TEST_POSTGRES:-none}"
echo "test: go vet"
go vet ./...
echo "test: gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt -l lists:"; echo "$unformatted"; exit 1
fi
echo "test: go test"
go test -count=1 -timeout 20m "$@" ./...
