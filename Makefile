# The two commands of the README: `make demo` runs Ethos, `make test` runs
# every test (installing what the tests need when it is missing).
.PHONY: test demo build generate bench

build:
	go build -o bin/ethos ./cmd/ethos

test:
	./scripts/test.sh

generate:
	go generate ./...

bench:
	./bench/run.sh
