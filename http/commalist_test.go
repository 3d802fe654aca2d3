package http_test

import (
	"context"
	"io"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethos-imaging/ethos"
	ehttp "github.com/ethos-imaging/ethos/http"
	"github.com/ethos-imaging/ethos/sqlite"
	"github.com/ethos-imaging/ethos/sqlstore"
	"github.com/ethos-imaging/ethos/training"
)

// recordingLineage is the SQL lineage service that notes the node kinds
// a walk was asked for.
type recordingLineage struct {
	ethos.LineageService
	mu    sync.Mutex
	kinds []ethos.LineageKind
}

func (l *recordingLineage) Downstream(ctx context.Context, n ethos.LineageNode, walk ethos.LineageWalk, kinds ...ethos.LineageKind) ([]ethos.LineageNode, error) {
	l.mu.Lock()
	l.kinds = slices.Clone(kinds)
	l.mu.Unlock()
	return l.LineageService.Downstream(ctx, n, walk, kinds...)
}

// recordingExport notes the options of an export and writes nothing.
type recordingExport struct {
	mu sync.Mutex
	o  ethos.DatasetExportOptions
}

func (e *recordingExport) ExportDataset(ctx context.Context, who ethos.AccessRequest, projectID, versionID string, o ethos.DatasetExportOptions, w io.Writer, requestID string) error {
	e.mu.Lock()
	e.o = o
	e.mu.Unlock()
	return nil
}

// TestCommaListParameters checks that the query parameters that take a
// comma-separated list read it the same way on every endpoint: items
// trimmed of spaces, empty items (",," or a trailing comma) ignored, an
// empty list the same as no parameter. The lineage walk's kind filter
// and the export's reweigh attributes are read by the same helper.
func TestCommaListParameters(t *testing.T) {
	lin := &recordingLineage{}
	exp := &recordingExport{}
	f := newFixtureAt(t, time.Now().UTC(), func(f *fixture, s *ehttp.Server) {
		store := f.db.Store()
		lin.LineageService = sqlstore.NewLineageService(store)
		svc := &training.Service{Runs: sqlstore.NewTrainingStore(store), Obligations: sqlstore.NewObligationService(store), Lineage: lin,
			Members: datasetMap{}, Instances: sqlite.NewInstanceService(f.db), Consents: sqlite.NewConsentService(f.db), Auditor: f.auditor, Now: f.clock.Now}
		s.Training, s.TrainingRuns, s.Lineage, s.Obligations = svc, svc.Runs, lin, svc.Obligations
		s.DatasetExport = exp
	})
	// A training run used the dataset version.
	if err := lin.RecordLineage(context.Background(), ethos.LineageEdge{From: ethos.LineageNode{Kind: ethos.LineageTrainingRun, ID: "trn_x"}, Relation: ethos.RelUsed,
		To: ethos.LineageNode{Kind: ethos.LineageDatasetVersion, ID: "dsv_x"}, At: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	auditor := f.user(f.owner, ethos.RoleAuditor)
	engineer := f.user(f.owner, ethos.RoleMLEngineer)
	cases := []struct {
		name, value string
		want        []string
	}{
		{"plain", "dataset-version,training-run", []string{"dataset-version", "training-run"}},
		{"spaces_trimmed", " dataset-version , training-run", []string{"dataset-version", "training-run"}},
		{"empty_items_ignored", "dataset-version,,training-run,", []string{"dataset-version", "training-run"}},
		{"only_separators_is_no_list", " , ,", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q := url.QueryEscape(c.value)
			if code, m := f.do("GET", "/api/v1/lineage/downstream?node=dataset-version:dsv_x&kind="+q, auditor, nil, nil); code != 200 {
				t.Fatalf("lineage walk: %d %v", code, m)
			}
			lin.mu.Lock()
			var kinds []string
			for _, k := range lin.kinds {
				kinds = append(kinds, string(k))
			}
			lin.mu.Unlock()
			if !slices.Equal(kinds, c.want) {
				t.Errorf("lineage walk kinds %q, want %q", kinds, c.want)
			}
			if code, m := f.do("GET", "/api/v1/projects/prj-x/dataset-versions/"+strings.Repeat("a", 64)+"/export?reweigh="+q, engineer, nil, nil); code != 200 {
				t.Fatalf("export: %d %v", code, m)
			}
			exp.mu.Lock()
			got := exp.o.ReweighBy
			exp.mu.Unlock()
			if !slices.Equal(got, c.want) {
				t.Errorf("export reweigh %q, want %q", got, c.want)
			}
		})
	}
	t.Run("EINVALID_unknown_kind_not_echoed", func(t *testing.T) {
		code, m := f.do("GET", "/api/v1/lineage/downstream?node=dataset-version:dsv_x&kind=dataset-version,Jane%20Doe", auditor, nil, nil)
		if code != 400 || strings.Contains(strings.ToLower(ethosMessage(m)), "jane") {
			t.Errorf("unknown kind: %d %v", code, m)
		}
	})
}

// ethosMessage is the error message of a JSON error reply.
func ethosMessage(m map[string]any) string {
	s, _ := m["message"].(string)
	return s
}
