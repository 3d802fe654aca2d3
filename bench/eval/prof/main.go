// Command prof runs the evaluation that `ethos eval` runs (read, evaluate,
// marshal the JSON report) on a table from bench/eval/gen under a CPU
// profile, to see where the time of one run goes:
//
//	go run ./bench/eval/prof -in rows.csv -cpuprofile cpu.out [-n 5]
//	go tool pprof -top cpu.out
package main

import (
	"encoding/json"
	"flag"
	"log"
	"os"
	"runtime/pprof"

	"github.com/ethos-imaging/ethos/evalstat"
)

func main() {
	in := flag.String("in", "", "table written by bench/eval/gen")
	out := flag.String("cpuprofile", "cpu.out", "profile `file`")
	n := flag.Int("n", 5, "runs")
	flag.Parse()
	f, err := os.Create(*out)
	if err != nil {
		log.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		log.Fatal(err)
	}
	for range *n {
		r, err := os.Open(*in)
		if err != nil {
			log.Fatal(err)
		}
		t, err := evalstat.ReadCSV(r, evalstat.CSVSpec{Label: "label", Score: "score", Groups: []string{"sex", "age_band", "race"}})
		r.Close()
		if err != nil {
			log.Fatal(err)
		}
		cfg := evalstat.DefaultConfig()
		cfg.Intersect, cfg.Prevalence = true, 0.1
		rep, err := evalstat.Evaluate(t, cfg)
		if err != nil {
			log.Fatal(err)
		}
		if _, err := json.Marshal(rep); err != nil {
			log.Fatal(err)
		}
	}
	pprof.StopCPUProfile()
	if err := f.Close(); err != nil {
		log.Fatal(err)
	}
}
