package monitor

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/drift"
	"github.com/ethos-imaging/ethos/evalstat"
)

// judge computes one rule's checks in one window and compares each with
// the threshold.
func (e *Engine) judge(rule *ethos.AlertRule, a *acc) []ethos.CheckResult {
	var out []ethos.CheckResult
	base := ethos.CheckResult{RuleID: rule.ID, Metric: rule.Metric, Threshold: rule.Threshold}
	switch ethos.MetricFamily(rule.Metric) {
	case "input", "input-cat", "input-num":
		if rule.Scope == ethos.ScopeSite {
			out = e.perSite(rule, a, base)
		} else if i, ok := e.catIndex[rule.Field]; ok {
			if rule.Metric == ethos.MetricNewCategory {
				out = e.newCategories(rule, a, i, base)
			} else {
				out = append(out, e.categorical(rule, a, i, base))
			}
		} else {
			out = append(out, e.numeric(rule, a, e.numIndex[rule.Field], base))
		}
	case "output":
		if rule.Scope == ethos.ScopeSite {
			out = e.perSite(rule, a, base)
		} else {
			out = append(out, e.output(rule, a, base))
		}
	case "performance":
		out = e.performance(rule, a, base)
	case "gap":
		out = append(out, e.gap(rule, a, base))
	case "sequential":
		out = append(out, e.sequential(rule, a, base))
	}
	for i := range out {
		compare(rule, &out[i])
	}
	return out
}

// compare sets Breach (or Insufficient) of a computed check.
func compare(rule *ethos.AlertRule, c *ethos.CheckResult) {
	if c.Insufficient != "" {
		return
	}
	if c.Value == nil {
		c.Insufficient = "undefined"
		return
	}
	if c.N < rule.MinN {
		c.Insufficient = fmt.Sprintf("n = %d is below the minimum %d", c.N, rule.MinN)
		return
	}
	if rule.Metric == ethos.MetricPositiveRateChange || rule.Metric == ethos.MetricOverrideRateChange {
		return // Breach set by the detector
	}
	v := *c.Value
	above := rule.AlertsAbove()
	if rule.UseCI {
		if above && c.Lower != nil {
			v = *c.Lower
		} else if !above && c.Upper != nil {
			v = *c.Upper
		}
	}
	if above {
		c.Breach = v > rule.Threshold
	} else {
		c.Breach = v < rule.Threshold
	}
}

func ptr(v float64) *float64 { return &v }

func (e *Engine) categorical(rule *ethos.AlertRule, a *acc, i int, c ethos.CheckResult) ethos.CheckResult {
	c.Key, c.N = rule.Field, a.n
	if a.n == 0 {
		c.Insufficient = "no events"
		return c
	}
	if len(e.ref.cat[i]) == 0 {
		c.Insufficient = "no reference counts for " + rule.Field
		return c
	}
	if a.catRes[i] == nil {
		o := &categoricalOutcome{}
		o.res, o.err = drift.CompareCategorical(drift.Align(e.ref.cat[i], e.valueCounts(a, i)), 0)
		a.catRes[i] = o
	}
	res, err := a.catRes[i].res, a.catRes[i].err
	if err != nil {
		c.Insufficient = err.Error()
		return c
	}
	switch rule.Metric {
	case ethos.MetricPSI:
		c.Value = ptr(res.PSI.PSI)
	case ethos.MetricChi2P:
		c.Value = ptr(res.ChiSquare.PValue)
		c.Detail = fmt.Sprintf("chi-square %.4g, %d degrees of freedom", res.ChiSquare.Statistic, res.ChiSquare.DoF)
	case ethos.MetricJS:
		c.Value = ptr(res.JS.Distance)
	}
	if len(res.New) > 0 {
		names := make([]string, len(res.New))
		for j, nc := range res.New {
			names[j] = nc.Category
		}
		c.Detail = strings.TrimPrefix(c.Detail+"; new values: "+strings.Join(names, ", "), "; ")
	}
	return c
}

// newCategories reports each value of the field never seen in the
// reference, per site.
func (e *Engine) newCategories(rule *ethos.AlertRule, a *acc, i int, base ethos.CheckResult) []ethos.CheckResult {
	if len(e.ref.cat[i]) == 0 {
		// Without reference values every value would look new.
		base.Key, base.Insufficient = rule.Field, "no reference values for "+rule.Field
		return []ethos.CheckResult{base}
	}
	type seen struct {
		value, site string
		n           int
	}
	var news []seen
	for site, row := range a.cat[i] {
		for v, n := range row {
			if n > 0 && e.ref.cat[i][e.in.names[v]] == 0 {
				news = append(news, seen{e.in.names[v], e.in.names[site], n})
			}
		}
	}
	slices.SortFunc(news, func(x, y seen) int {
		if c := strings.Compare(x.value, y.value); c != 0 {
			return c
		}
		return strings.Compare(x.site, y.site)
	})
	out := make([]ethos.CheckResult, 0, len(news))
	for _, k := range news {
		c := base
		site := k.site
		if site == noValue {
			site = ""
		}
		c.Key, c.Site, c.N, c.Value = rule.Field+"="+k.value, site, k.n, ptr(float64(k.n))
		c.Detail = "value never seen in the reference"
		out = append(out, c)
	}
	return out
}

func (e *Engine) numeric(rule *ethos.AlertRule, a *acc, i int, c ethos.CheckResult) ethos.CheckResult {
	c.Key, c.N = rule.Field, len(a.num[i])
	switch {
	case e.ref.num[i] == nil:
		c.Insufficient = "no reference values for " + rule.Field
		return c
	case len(a.num[i]) == 0:
		c.Insufficient = "no values in the window"
		return c
	}
	if a.numRes[i] == nil {
		o := &numericOutcome{}
		o.res, o.err = e.ref.num[i].Compare(a.num[i])
		a.numRes[i] = o
	}
	res, err := a.numRes[i].res, a.numRes[i].err
	if err != nil {
		c.Insufficient = err.Error()
		return c
	}
	setNumeric(rule.Metric, &c, res)
	return c
}

func setNumeric(metric string, c *ethos.CheckResult, res drift.NumericResult) {
	switch metric {
	case ethos.MetricPSI, ethos.MetricScorePSI:
		c.Value = ptr(res.PSI.PSI)
	case ethos.MetricKSP, ethos.MetricScoreKSP:
		c.Value = ptr(res.KS.PValue)
		c.Detail = fmt.Sprintf("KS D = %.4g (%s)", res.KS.Statistic, res.KS.Method)
	case ethos.MetricKS:
		c.Value = ptr(res.KS.Statistic)
	case ethos.MetricWasserstein, ethos.MetricScoreWasserstein:
		c.Value = ptr(res.Wasserstein)
	}
	if c.Detail == "" {
		c.Detail = fmt.Sprintf("mean %.4g (reference %.4g)", res.CurMean, res.RefMean)
	}
}

func (e *Engine) output(rule *ethos.AlertRule, a *acc, c ethos.CheckResult) ethos.CheckResult {
	c.N = a.n
	switch rule.Metric {
	case ethos.MetricScorePSI, ethos.MetricScoreKSP, ethos.MetricScoreWasserstein:
		if e.ref.scores == nil {
			c.Insufficient = "no reference scores"
			return c
		}
		if a.n == 0 {
			c.Insufficient = "no events"
			return c
		}
		if a.scoreRes == nil {
			o := &numericOutcome{}
			o.res, o.err = e.ref.scores.Compare(a.scores)
			a.scoreRes = o
		}
		res, err := a.scoreRes.res, a.scoreRes.err
		if err != nil {
			c.Insufficient = err.Error()
			return c
		}
		setNumeric(rule.Metric, &c, res)
	case ethos.MetricPositiveRate:
		proportion(&c, a.pos, a.n)
	case ethos.MetricPositiveShift:
		if !e.ref.hasPos {
			c.Insufficient = "no reference positive rate"
			return c
		}
		if a.n > 0 {
			r := float64(a.pos) / float64(a.n)
			c.Value = ptr(math.Abs(r - e.ref.posRate))
			c.Detail = fmt.Sprintf("positive rate %.4g (reference %.4g)", r, e.ref.posRate)
		}
	case ethos.MetricOverrideRate:
		proportion(&c, a.overrides, a.readers)
	}
	return c
}

// proportion sets a rate with its Wilson interval.
func proportion(c *ethos.CheckResult, k, n int) {
	c.N = n
	if n == 0 {
		return
	}
	c.Value = ptr(float64(k) / float64(n))
	if iv, ok := evalstat.Wilson(float64(k), float64(n), evalstat.Z95); ok {
		c.Lower, c.Upper = ptr(iv.Lower), ptr(iv.Upper)
	}
}

func (e *Engine) sequential(rule *ethos.AlertRule, a *acc, c ethos.CheckResult) ethos.CheckResult {
	idx := slices.Index(e.seqRules, rule)
	s := a.seq[idx]
	c.N = s.n
	if rule.Detector != "page-hinkley" {
		ok := e.ref.hasPos
		if rule.Metric == ethos.MetricOverrideRateChange {
			ok = e.ref.hasOvr
		}
		if !ok {
			c.Insufficient = "no reference rate for the detector's target"
			return c
		}
	}
	if s.n == 0 {
		c.Insufficient = "no events for the detector"
		return c
	}
	c.Value = ptr(s.max)
	c.Breach = s.signals > 0
	if c.Breach {
		c.Detail = fmt.Sprintf("%s signalled %d time(s), last an %s", rule.Detector, s.signals, s.last)
	}
	return c
}

// group is one scope of labelled events: an attribute's value, or all
// (attr −1).
type group struct {
	key, site string
	attr      int
	code      int32
}

// groupsOf lists the groups of an attribute present in the window, in
// name order.
func (e *Engine) groupsOf(a *acc, attr int) []group {
	codes := a.groups[attr]
	if codes == nil {
		seen := map[int32]bool{}
		for i := range a.lab {
			if c := a.lab[i].attr(attr); !seen[c] {
				seen[c] = true
				codes = append(codes, c)
			}
		}
		slices.SortFunc(codes, func(x, y int32) int { return strings.Compare(e.in.names[x], e.in.names[y]) })
		if codes == nil {
			codes = []int32{}
		}
		a.groups[attr] = codes
	}
	out := make([]group, len(codes))
	for i, c := range codes {
		name := e.in.names[c]
		out[i] = group{key: attrNames[attr] + "=" + name, attr: attr, code: c}
		if attr == attrSite && name != noValue {
			out[i].site = name
		}
	}
	return out
}

func (e *Engine) performance(rule *ethos.AlertRule, a *acc, base ethos.CheckResult) []ethos.CheckResult {
	var gs []group
	switch rule.Scope {
	case ethos.ScopeSite:
		gs = e.groupsOf(a, attrSite)
	case ethos.ScopeSubgroup:
		attrs := []int{attrSex, attrAge}
		if rule.Field != "" {
			attrs = []int{attrIndex(rule.Field)}
		}
		for _, at := range attrs {
			gs = append(gs, e.groupsOf(a, at)...)
		}
	default:
		gs = []group{{attr: -1}}
	}
	out := make([]ethos.CheckResult, 0, len(gs))
	for _, g := range gs {
		c := base
		c.Key, c.Site = g.key, g.site
		m := e.metricOf(rule.Metric, a, g)
		c.N = m.n
		if m.reason != "" {
			c.Insufficient = m.reason
		} else {
			c.Value, c.Lower, c.Upper = ptr(m.est), ptr(m.lo), ptr(m.hi)
		}
		out = append(out, c)
	}
	return out
}

// measured is a performance metric with its interval and the size of its
// denominator.
type measured struct {
	est, lo, hi float64
	n           int
	reason      string
}

func (g group) has(r *labelled) bool { return g.attr < 0 || r.attr(g.attr) == g.code }

// metricOf computes a performance metric over a group's labelled rows. n
// is the metric's denominator: positives for sensitivity, negatives for
// specificity, positive decisions for PPV, and the smaller class for
// AUROC.
func (e *Engine) metricOf(metric string, a *acc, g group) measured {
	if metric == ethos.MetricAUROC {
		if !a.sortedOK {
			a.sorted, a.sortedOK = append(a.sorted[:0], a.lab...), true
			slices.SortFunc(a.sorted, func(x, y labelled) int {
				switch {
				case x.score < y.score:
					return -1
				case x.score > y.score:
					return 1
				}
				return 0
			})
		}
		auc, se, pos, neg := aurocDeLong(a.sorted, g)
		m := measured{n: min(pos, neg)}
		if pos == 0 || neg == 0 {
			m.reason = "AUROC needs both classes"
			return m
		}
		m.est, m.lo, m.hi = auc, math.Max(0, auc-evalstat.Z95*se), math.Min(1, auc+evalstat.Z95*se)
		return m
	}
	cf := e.confusion(a, g)
	var k, n float64
	switch metric {
	case ethos.MetricSensitivity:
		k, n = cf.TP, cf.TP+cf.FN
	case ethos.MetricSpecificity:
		k, n = cf.TN, cf.TN+cf.FP
	case ethos.MetricPPV:
		k, n = cf.TP, cf.TP+cf.FP
	}
	m := measured{n: int(n)}
	if n == 0 {
		m.reason = fmt.Sprintf("%s undefined: zero denominator", metric)
		return m
	}
	iv, _ := evalstat.Wilson(k, n, evalstat.Z95)
	m.est, m.lo, m.hi = k/n, iv.Lower, iv.Upper
	return m
}

// gapOf is the largest minus the smallest value of metric across the
// groups of attr that have at least minN in their denominator. n is the
// smallest such denominator. ok is false with fewer than two groups.
func (e *Engine) gapOf(a *acc, metric, attr string, minN int) (gap float64, n int, ok bool) {
	lo, hi := math.Inf(1), math.Inf(-1)
	count := 0
	n = math.MaxInt
	for _, g := range e.groupsOf(a, attrIndex(attr)) {
		m := e.metricOf(metric, a, g)
		if m.reason != "" || m.n < minN || m.n == 0 {
			continue
		}
		count++
		lo, hi = math.Min(lo, m.est), math.Max(hi, m.est)
		n = min(n, m.n)
	}
	if count < 2 {
		return 0, 0, false
	}
	return hi - lo, n, true
}

func (e *Engine) gap(rule *ethos.AlertRule, a *acc, c ethos.CheckResult) ethos.CheckResult {
	c.Key = rule.Of + " by " + rule.Field
	g, n, ok := e.gapOf(a, rule.Of, rule.Field, max(rule.MinN, 1))
	if !ok {
		c.Insufficient = fmt.Sprintf("fewer than two %s groups with %s defined on at least %d cases", rule.Field, rule.Of, max(rule.MinN, 1))
		return c
	}
	c.N = n
	if rule.Metric == ethos.MetricGap {
		c.Value = ptr(g)
		return c
	}
	ref, ok := e.ref.gaps[rule.Of][rule.Field]
	if !ok {
		c.Insufficient = "no reference gap (the reference has no labels, or too few per group)"
		return c
	}
	c.Value = ptr(g - ref)
	c.Detail = fmt.Sprintf("gap %.4g (reference %.4g)", g, ref)
	return c
}

// confusion returns the confusion table of a group, computing every
// group's table in one pass over the window's labelled rows on first use.
func (e *Engine) confusion(a *acc, g group) evalstat.Confusion {
	if !a.confOK {
		size := func(c []evalstat.Confusion, n int) []evalstat.Confusion {
			if cap(c) < n {
				return make([]evalstat.Confusion, n)
			}
			c = c[:n]
			clear(c)
			return c
		}
		a.conf[0] = size(a.conf[0], 1)
		for k := 1; k < 4; k++ {
			a.conf[k] = size(a.conf[k], len(e.in.names))
		}
		for i := range a.lab {
			r := &a.lab[i]
			for _, c := range [4]*evalstat.Confusion{&a.conf[0][0], &a.conf[1+attrSex][r.sex], &a.conf[1+attrAge][r.age], &a.conf[1+attrSite][r.site]} {
				switch {
				case r.label && r.decision:
					c.TP++
				case r.label:
					c.FN++
				case r.decision:
					c.FP++
				default:
					c.TN++
				}
			}
		}
		a.confOK = true
	}
	if g.attr < 0 {
		return a.conf[0][0]
	}
	return a.conf[1+g.attr][g.code]
}

// perSite compares each site's part of the window with that site's part
// of the reference window (the whole reference when the reference is a
// sample, or when the site has no reference values).
func (e *Engine) perSite(rule *ethos.AlertRule, a *acc, base ethos.CheckResult) []ethos.CheckResult {
	ci, isCat := e.catIndex[rule.Field]
	ni, isNum := e.numIndex[rule.Field]
	score := !isCat && !isNum
	// The sites present in the window, in name order.
	seen := map[int32]bool{}
	var sites []int32
	for _, s := range a.scoreSite {
		if !seen[s] {
			seen[s] = true
			sites = append(sites, s)
		}
	}
	slices.SortFunc(sites, func(x, y int32) int { return strings.Compare(e.in.names[x], e.in.names[y]) })
	out := make([]ethos.CheckResult, 0, len(sites))
	for _, site := range sites {
		c := base
		c.Site = e.in.names[site]
		c.Key = rule.Field
		if score {
			c.Key = "score"
		}
		if c.Site == noValue {
			c.Site = ""
		}
		c.Key += " at site " + e.in.names[site]
		switch {
		case isCat:
			cur := map[string]int{}
			if int(site) < len(a.cat[ci]) {
				for v, n := range a.cat[ci][site] {
					if n > 0 {
						cur[e.in.names[v]] += n
					}
				}
			}
			ref := e.ref.cat[ci]
			if e.refAcc != nil && int(site) < len(e.refAcc.cat[ci]) {
				own := map[string]int{}
				for v, n := range e.refAcc.cat[ci][site] {
					if n > 0 {
						own[e.in.names[v]] += n
					}
				}
				if len(own) > 0 {
					ref = own
				}
			}
			for _, n := range cur {
				c.N += n
			}
			if len(ref) == 0 || c.N == 0 {
				c.Insufficient = "no reference or window counts at this site"
				break
			}
			res, err := drift.CompareCategorical(drift.Align(ref, cur), 0)
			if err != nil {
				c.Insufficient = err.Error()
				break
			}
			switch rule.Metric {
			case ethos.MetricPSI:
				c.Value = ptr(res.PSI.PSI)
			case ethos.MetricChi2P:
				c.Value = ptr(res.ChiSquare.PValue)
			case ethos.MetricJS:
				c.Value = ptr(res.JS.Distance)
			}
		default:
			var vals, refVals []float64
			var valSites, refSites []int32
			ref := e.ref.scores
			if isNum {
				vals, valSites, ref = a.num[ni], a.numSite[ni], e.ref.num[ni]
				if e.refAcc != nil {
					refVals, refSites = e.refAcc.num[ni], e.refAcc.numSite[ni]
				}
			} else {
				vals, valSites = a.scores, a.scoreSite
				if e.refAcc != nil {
					refVals, refSites = e.refAcc.scores, e.refAcc.scoreSite
				}
			}
			if own := e.siteReference(ni, isNum, site, refVals, refSites); own != nil {
				ref = own
			}
			mine := make([]float64, 0, len(vals)/max(1, len(sites))+len(vals)/8)
			for j, v := range vals {
				if valSites[j] == site {
					mine = append(mine, v)
				}
			}
			c.N = len(mine)
			if ref == nil || len(mine) == 0 {
				c.Insufficient = "no reference or window values at this site"
				break
			}
			res, err := ref.Compare(mine)
			if err != nil {
				c.Insufficient = err.Error()
				break
			}
			setNumeric(rule.Metric, &c, res)
		}
		out = append(out, c)
	}
	return out
}

// siteReference prepares (once) the reference of one site for a numeric
// field (or the scores, field −1); nil when the site has no reference
// values.
func (e *Engine) siteReference(field int, isNum bool, site int32, vals []float64, sites []int32) *drift.Reference {
	if !isNum {
		field = -1
	}
	key := [2]int32{int32(field), site}
	if r, ok := e.siteRefs[key]; ok {
		return r
	}
	var mine []float64
	for j, v := range vals {
		if sites[j] == site {
			mine = append(mine, v)
		}
	}
	var r *drift.Reference
	if len(mine) > 0 {
		r, _ = drift.NewReference(mine, 0, 0)
	}
	if e.siteRefs == nil {
		e.siteRefs = map[[2]int32]*drift.Reference{}
	}
	e.siteRefs[key] = r
	return r
}
