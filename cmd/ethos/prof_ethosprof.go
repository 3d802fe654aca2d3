//go:build ethosprof

package main

// Built only with -tags ethosprof (benchmarks): ETHOS_CPUPROFILE=file
// starts a CPU profile at start-up; SIGUSR1 stops it and writes the file.

import (
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
)

func init() {
	path := os.Getenv("ETHOS_CPUPROFILE")
	if path == "" {
		return
	}
	f, err := os.Create(path)
	if err != nil {
		return
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return
	}
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGUSR1)
	go func() {
		<-c
		pprof.StopCPUProfile()
		f.Sync()
		f.Close()
	}()
}
