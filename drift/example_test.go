package drift_test

import (
	"fmt"

	"github.com/ethos-imaging/ethos/drift"
)

func ExampleKS() {
	ref := []float64{0.11, 0.25, 0.31, 0.42, 0.48, 0.56, 0.61, 0.77}
	cur := []float64{0.45, 0.52, 0.66, 0.71, 0.83, 0.88, 0.94}
	r, err := drift.KS(ref, cur)
	if err != nil {
		panic(err)
	}
	// scipy.stats.ks_2samp(ref, cur) gives the same: 0.5893, 0.1181
	fmt.Printf("D = %.4f, p = %.4f (%s)\n", r.Statistic, r.PValue, r.Method)
	// Output: D = 0.5893, p = 0.1181 (exact)
}

func ExampleCompareCategorical() {
	ref := map[string]int{"VE11": 480, "VE12": 520}
	cur := map[string]int{"VE11": 40, "VE12": 45, "XA20": 15}
	res, err := drift.CompareCategorical(drift.Align(ref, cur), 0)
	if err != nil {
		panic(err)
	}
	fmt.Printf("new: %v\n", res.New)
	fmt.Printf("chi2 dof %d, p < 1e-6: %v\n", res.ChiSquare.DoF, res.ChiSquare.PValue < 1e-6)
	// Output:
	// new: [{XA20 15}]
	// chi2 dof 2, p < 1e-6: true
}

func ExampleCUSUM() {
	c, err := drift.NewCUSUM(0.10, 0.02, 0.10, drift.Both) // a positive rate of 10 %
	if err != nil {
		panic(err)
	}
	for i, rate := range []float64{0.11, 0.09, 0.10, 0.16, 0.17, 0.18} {
		if s, _ := c.Update(rate); s != drift.NoChange {
			fmt.Printf("window %d: %v\n", i, s)
		}
	}
	// Output: window 5: increase
}
