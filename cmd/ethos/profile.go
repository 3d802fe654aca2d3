package main

import (
	"fmt"
	"os"
	"runtime/pprof"
	"runtime/trace"
)

// profileFromEnv starts the diagnostics engineers ask for through the
// environment, for any command (a server's are written when it stops):
// ETHOS_CPUPROFILE=FILE a CPU profile (go tool pprof), ETHOS_TRACE=FILE an
// execution trace (go tool trace). It returns the function that ends
// them; a diagnostic that cannot start is reported and skipped.
func profileFromEnv(env *Env) func() {
	var stops []func()
	start := func(name string, begin func(*os.File) error, end func()) {
		path := env.Getenv(name)
		if path == "" {
			return
		}
		f, err := os.Create(path)
		if err == nil {
			if err = begin(f); err != nil {
				f.Close()
			}
		}
		if err != nil {
			fmt.Fprintf(env.Stderr, "ethos: %s: %v\n", name, err)
			return
		}
		stops = append(stops, func() {
			end()
			if err := f.Close(); err != nil {
				fmt.Fprintf(env.Stderr, "ethos: %s: %v\n", name, err)
			}
		})
	}
	start("ETHOS_CPUPROFILE", func(f *os.File) error { return pprof.StartCPUProfile(f) }, pprof.StopCPUProfile)
	start("ETHOS_TRACE", func(f *os.File) error { return trace.Start(f) }, trace.Stop)
	return func() {
		for _, stop := range stops {
			stop()
		}
	}
}
