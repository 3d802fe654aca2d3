package main

import (
	"context"
	"fmt"
	"net/url"
	"strconv"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/sqlstore"
)

// processJobs lists the jobs of processing runs started through the API
// (docs/processing.md, "Jobs of API runs"): what became of each, including
// runs cut off by a server that stopped. On a running server it is a
// client (GET …/processing-jobs); otherwise it reads the data directory.
func processJobs(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "process jobs", "process jobs --user ID --project ID [--state running|done|failed] [--limit N] [--json]\n       ethos process jobs --project ID [--server URL] [--token T | $ETHOS_TOKEN] …   (on a running server)")
	data, user, project := commonFlags(fs)
	state := fs.String("state", "", "only jobs in this state: running, done or failed")
	limit := fs.Int("limit", 100, "at most this many jobs, newest first (1-1000)")
	asJSON := fs.Bool("json", false, "print as JSON")
	remote := projectRemote(env, fs, project)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("process jobs: unexpected argument %q", fs.Arg(0))
	}
	st := ethos.ProcessingJobState(*state)
	switch st {
	case "", ethos.JobRunning, ethos.JobDone, ethos.JobFailed:
	default:
		return usagef("process jobs: --state is running, done or failed, not %q", *state)
	}
	if *limit < 1 || *limit > 1000 {
		return usagef("process jobs: --limit is 1 to 1000")
	}
	out, err := serverOrData(ctx, env, remote, *data, *user, *project, func(cl *client) (out listed[*ethos.ProcessingJob], err error) {
		q := url.Values{"limit": {strconv.Itoa(*limit)}}
		if st != "" {
			q.Set("state", string(st))
		}
		err = remoteRead(ctx, cl, *project, "/processing-jobs", q, &out)
		return out, err
	}, func(pa *processingApp) (out listed[*ethos.ProcessingJob], err error) {
		if err := pa.datasetService().CheckRead(ctx, pa.caller, "project/"+pa.project.ID+"/processing-jobs"); err != nil {
			return out, err
		}
		f := ethos.ProcessingJobFilter{ProjectID: &pa.project.ID, Limit: *limit}
		if st != "" {
			f.State = &st
		}
		out.Items, out.Total, err = sqlstore.NewProcessingJobService(pa.store).FindProcessingJobs(ctx, f)
		return out, err
	})
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(env, out) // {"items": …, "total": …}
	}
	var rows [][]string
	for _, j := range out.Items {
		outcome := j.RunID
		if j.State == ethos.JobFailed {
			outcome = j.Error
		}
		rows = append(rows, []string{j.ID, j.StartedAt.Format("2006-01-02 15:04"), j.StartedBy, string(j.State), fmt.Sprintf("%d/%d", j.Done, j.Total), outcome})
	}
	return table(env, "ID\tSTARTED\tBY\tSTATE\tDONE\tRECORD OR ERROR", rows)
}
