package ethos_test

import (
	"strings"
	"testing"

	"github.com/ethos-imaging/ethos"
)

// TestParseMonitoringPlanQuotesNoValue: a plan that does not decode is
// refused with the position or the field, never with the text it holds.
func TestParseMonitoringPlanQuotesNoValue(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{"ErrTime", `{"deployment_id":"dep-1","start":"DOE^JANE 1961-04-12"}`, "RFC 3339"},
		{"ErrUnknownFieldNamed", `{"deployment_id":"dep-1","patient_name":"DOE^JANE"}`, "unknown field patient_name"},
		{"ErrUnknownFieldNotNamed", `{"deployment_id":"dep-1","DOE^JANE":1}`, "name not shown"},
		{"ErrType", `{"deployment_id":"DOE^JANE","rules":"1961-04-12"}`, "rules: got JSON string"},
		{"ErrSyntax", `{"deployment_id":"DOE^JANE" 1961}`, "byte offset"},
		{"ErrTruncated", `{"deployment_id":"DOE^JANE`, "unexpected end"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ethos.ParseMonitoringPlan([]byte(tt.doc))
			if ethos.ErrorCode(err) != ethos.EINVALID || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err %v, want invalid with %q", err, tt.want)
			}
			for _, typed := range []string{"DOE", "1961"} {
				if strings.Contains(err.Error(), typed) {
					t.Errorf("the error %q quotes %q", err, typed)
				}
			}
		})
	}
}
