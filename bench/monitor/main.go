package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/ethos-imaging/ethos/deployment/monitor"
)

func cpu() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func main() {
	events := flag.Int("events", 1_000_000, "events in the monitored windows")
	days := flag.Int("days", 30, "daily windows")
	repeat := flag.Int("repeat", 3, "timed passes")
	perSite := flag.Bool("per-site", false, "add two per-site drift rules")
	prof := flag.String("cpuprofile", "", "write a CPU profile of the timed checks to this file")
	flag.Parse()
	r, p, ws, err := workload(*events, *days, *perSite)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	runtime.GC()
	ctx := context.Background()
	fmt.Printf("plan: %d rules, %d windows; GOMAXPROCS %d\n", len(p.Rules), len(ws), runtime.GOMAXPROCS(0))
	if *prof != "" {
		f, err := os.Create(*prof)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	for i := range *repeat {
		w0, c0 := time.Now(), cpu()
		e, err := monitor.NewEngine(ctx, p, r)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		w1, c1 := time.Now(), cpu()
		var st monitor.State
		res, err := e.Check(ctx, r, ws, &st)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		w2, c2 := time.Now(), cpu()
		checks, raised := 0, 0
		for _, w := range res.Windows {
			checks += len(w.Checks)
		}
		for _, ch := range res.Changes {
			if a := ch.Raise; a != nil {
				raised++
				if i == 0 {
					fmt.Printf("  alert %s %s %s (window %s)\n", a.RuleID, a.Key, a.Site, a.WindowStart.Format("2006-01-02"))
				}
			}
		}
		fmt.Printf("pass %d: reference %d events: wall %.3fs cpu %.3fs | check %d events, %d checks, %d alerts raised: wall %.3fs cpu %.3fs\n",
			i+1, e.ReferenceSize(), w1.Sub(w0).Seconds(), (c1 - c0).Seconds(), res.Events, checks, raised, w2.Sub(w1).Seconds(), (c2 - c1).Seconds())
	}
}
