package svgchart_test

import (
	"bytes"
	"fmt"

	"github.com/ethos-imaging/ethos/svgchart"
)

func ExampleBarChart() {
	c := &svgchart.BarChart{
		Options:       svgchart.Options{Title: "Images by sex", ID: "sex"},
		Categories:    []string{"female", "male"},
		Series:        []svgchart.BarSeries{{Name: "Collected", Values: []float64{0.41, 0.59}, Reference: []float64{0.51, 0.49}}},
		ReferenceName: "Expected share",
		Format:        svgchart.Percent(0),
	}
	svg, err := c.SVG()
	if err != nil {
		panic(err)
	}
	fmt.Println(bytes.Contains(svg, []byte(`role="img"`)), bytes.Contains(svg, []byte("<title>Collected, female: 41%</title>")))
	// Output: true true
}
