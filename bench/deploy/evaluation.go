package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/postgres"
	"github.com/ethos-imaging/ethos/sqlite"
	"github.com/ethos-imaging/ethos/sqlstore"
)

// benchCriteria pass on benchPredictions: one overall, one per subgroup
// (what pre-registration asks for, QC-EVA-2).
const benchCriteria = `[
 {"id":"C1","description":"AUROC overall at least 0.70","metric":"auroc","scope":"overall","comparator":">=","value":0.70},
 {"id":"C2","description":"sensitivity gap between sexes at most 0.15","metric":"sensitivity","scope":"gap","attribute":"sex","comparator":"<=","value":0.15}
]`

// benchPredictions are 4,000 seeded rows of a model that separates the
// classes well and alike for both sexes.
func benchPredictions() []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	var b bytes.Buffer
	b.WriteString("person,label,score,sex\n")
	for i := range 4000 {
		y := 0
		if rng.Float64() < 0.3 {
			y = 1
		}
		score := min(max(0.3+0.4*float64(y)+0.15*rng.NormFloat64(), 0), 1)
		fmt.Fprintf(&b, "p%d,%d,%.4f,%s\n", i, y, score, []string{"F", "M"}[i%2])
	}
	return b.Bytes()
}

// approveModel records model version mv in the training register of the
// server's data directory (as a registered run would), then takes it
// through the evaluation stage over the API: plan, upload, ethics
// approval, acknowledgement. The deployment gate then lets it in.
func approveModel(a *api, dataDir, pgDSN, project, mv, eng, ethics, advocate string) error {
	ctx := context.Background()
	var db interface {
		Open(context.Context) error
		Close() error
		Store() *sqlstore.DB
	} = sqlite.NewDB(dataDir)
	if pgDSN != "" { // the server runs with --postgres
		db = postgres.NewDB(pgDSN)
	}
	if err := db.Open(ctx); err != nil {
		return err
	}
	defer db.Close()
	store := db.Store()
	run := &ethos.TrainingRun{ID: "run-" + mv, ProjectID: project, DatasetVersion: "bench-dataset", Split: "train",
		CodeVersion: "0123456789abcdef", ModelSHA256: strings.Repeat("cd", 32), ModelName: "bench model",
		ModelVersion: mv, Status: ethos.RunSignedOff, RegisteredBy: "usr_bench"}
	err := sqlstore.NewTrainingStore(store).CreateTrainingRun(ctx, run)
	if err != nil {
		return fmt.Errorf("record model version: %w", err)
	}
	var plan struct {
		ID string `json:"id"`
	}
	if err := a.call("POST", "/api/v1/evaluation/plans", eng, map[string]any{"project_id": project, "model_version_id": mv,
		"dataset_version_id": "bench-test-set", "title": "bench", "label_column": "label", "score_column": "score",
		"patient_column": "person", "attributes": []string{"sex"}, "threshold": 0.5, "criteria": json.RawMessage(benchCriteria)}, &plan); err != nil {
		return err
	}
	req, _ := http.NewRequest("POST", a.base+"/api/v1/evaluation/plans/"+plan.ID+"/predictions", bytes.NewReader(benchPredictions()))
	req.Header.Set("Authorization", "Bearer "+eng)
	req.Header.Set("Content-Type", "text/csv")
	resp, err := a.hc.Do(req)
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		return fmt.Errorf("upload predictions: %s: %s", resp.Status, body)
	}
	var attempt struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(body, &attempt); err != nil {
		return err
	}
	if err := a.call("POST", "/api/v1/evaluation/runs/"+attempt.ID+"/signoffs", ethics, map[string]any{"kind": "ethics-review", "decision": "approved", "reason": "bench"}, nil); err != nil {
		return err
	}
	return a.call("POST", "/api/v1/evaluation/runs/"+attempt.ID+"/signoffs", advocate, map[string]any{"kind": "acknowledgement", "reason": "bench"}, nil)
}
