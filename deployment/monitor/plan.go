package monitor

import "github.com/ethos-imaging/ethos"

// ValidatePlan checks a monitoring plan document: strict JSON (unknown
// fields are errors), known metrics and fields, thresholds, hysteresis,
// stop-rules naming existing rules with a decision deadline, at least one
// rule and one owner. Errors are ethos EINVALID errors naming the JSON
// path. It is the validator hook the deployment registry calls when a
// plan is registered or changed.
func ValidatePlan(b []byte) error {
	_, err := ethos.ParseMonitoringPlan(b)
	return err
}
