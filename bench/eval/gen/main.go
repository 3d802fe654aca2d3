// Command gen writes the seeded synthetic predictions table of the
// evaluation benchmark: n rows with a patient id, sex (2 values), age band
// (5), race (5) — 50 intersectional groups — a 0/1 label and a score in
// [0, 1] rounded to 6 decimals (so ties occur). The column group repeats
// the intersection (sex/age band/race) for tools that take one group column. Groups differ in prevalence
// and in how noisy the score is, so per-group AUROC and error rates differ.
//
//	go run ./bench/eval/gen -n 1000000 -seed 1 > rows.csv
package main

import (
	"bufio"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
)

func main() {
	n := flag.Int("n", 1000000, "number of rows")
	seed := flag.Uint64("seed", 1, "seed")
	flag.Parse()
	rng := rand.New(rand.NewPCG(*seed, 0x65746f73))
	sexes := []string{"F", "M"}
	ages := []string{"18-39", "40-54", "55-64", "65-74", "75+"}
	races := []string{"Asian", "Black", "Hispanic", "White", "Other"}
	raceW := []float64{0.08, 0.13, 0.17, 0.55, 0.07}
	w := bufio.NewWriterSize(os.Stdout, 1<<20)
	defer w.Flush()
	fmt.Fprintln(w, "patient_id,sex,age_band,race,group,label,score")
	patient := 0
	buf := make([]byte, 0, 64)
	for i := 0; i < *n; i++ {
		if i == 0 || rng.Float64() < 0.75 { // about 1.33 rows per patient
			patient++
		}
		s := rng.IntN(2)
		a := rng.IntN(5)
		u, r := rng.Float64(), 0
		for acc := raceW[0]; u > acc && r < len(raceW)-1; acc += raceW[r] {
			r++
		}
		x := rng.NormFloat64()
		base := -1.6 + 0.25*float64(a) + 0.1*float64(s)
		p := 1 / (1 + math.Exp(-(base + 1.2*x)))
		label := 0
		if rng.Float64() < p {
			label = 1
		}
		noise := 0.6 + 0.15*float64(r) + 0.1*float64(a%3)
		score := 1 / (1 + math.Exp(-(base + 1.2*(x+noise*rng.NormFloat64())*0.8)))
		score = math.Round(score*1e6) / 1e6
		buf = buf[:0]
		buf = append(buf, 'P')
		buf = strconv.AppendInt(buf, int64(patient), 10)
		buf = append(buf, ',')
		buf = append(buf, sexes[s]...)
		buf = append(buf, ',')
		buf = append(buf, ages[a]...)
		buf = append(buf, ',')
		buf = append(buf, races[r]...)
		buf = append(buf, ',')
		buf = append(buf, sexes[s]...)
		buf = append(buf, '/')
		buf = append(buf, ages[a]...)
		buf = append(buf, '/')
		buf = append(buf, races[r]...)
		buf = append(buf, ',', byte('0'+label), ',')
		buf = strconv.AppendFloat(buf, score, 'f', -1, 64)
		buf = append(buf, '\n')
		w.Write(buf)
	}
}
