package deployment

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/ethos-imaging/ethos"
)

// MaxBatch is the most records one batch of events or labels may hold.
const MaxBatch = 10000

// IngestEvents screens a batch of raw event records for a deployment and
// stores the good ones in one transaction. A deployment that is unknown
// (ENOTFOUND), suspended or retired (ECONFLICT) takes nothing. Each bad
// record is reported by index with the field and rule; an event id sent
// again with the same content counts as a duplicate, with other content
// as a rejection. With atomic, any rejection stores nothing.
func (r *Registry) IngestEvents(ctx context.Context, id string, records []json.RawMessage, atomic bool) (*ethos.IngestResult, error) {
	if len(records) > MaxBatch {
		return nil, ethos.Errorf(ethos.EINVALID, "a batch holds at most %d records, got %d", MaxBatch, len(records))
	}
	d, err := r.Store.FindDeploymentByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if !d.Status.AcceptsEvents() {
		return nil, ethos.Errorf(ethos.ECONFLICT, "deployment %s is %s: events are refused", id, d.Status)
	}
	now := r.now()
	res := &ethos.IngestResult{Received: len(records), Atomic: atomic, Rejected: []ethos.EventRejection{}}
	evs := make([]*ethos.InferenceEvent, 0, len(records))
	digests := make([]string, 0, len(records))
	index := make([]int, 0, len(records)) // record index of evs[i]
	seen := make(map[string]int, len(records))
	slab := make([]ethos.InferenceEvent, len(records))
	p := eventParser{r: jsonReader{intern: make(map[string]string, 64)}}
	for i, raw := range records {
		e := &slab[i]
		if err := p.parse(raw, now, d.Threshold, e); err != nil {
			res.Rejected = append(res.Rejected, ethos.EventRejection{Index: i, Reason: err.Error()})
			continue
		}
		e.DeploymentID, e.ReceivedAt = d.ID, now
		if e.Site == "" {
			e.Site = d.Site
		}
		dg := EventDigest(e)
		if j, ok := seen[e.EventID]; ok {
			if digests[j] == dg {
				res.Duplicates++
			} else {
				res.Rejected = append(res.Rejected, ethos.EventRejection{Index: i, Reason: fmt.Sprintf("event_id: repeats record %d of this batch with different content", index[j])})
			}
			continue
		}
		seen[e.EventID] = len(evs)
		evs, digests, index = append(evs, e), append(digests, dg), append(index, i)
	}
	if atomic && len(res.Rejected) > 0 {
		res.Duplicates = 0
		return res, nil
	}
	stored, err := r.Store.InsertEvents(ctx, evs, digests, atomic)
	if err != nil {
		return nil, err
	}
	var clashes []ethos.EventRejection
	dups := 0
	for i, s := range stored {
		switch {
		case s == "":
		case s == digests[i]:
			dups++
		default:
			clashes = append(clashes, ethos.EventRejection{Index: index[i], Reason: "event_id: already stored with different content"})
		}
	}
	if atomic && len(clashes) > 0 {
		res.Rejected, res.Duplicates = clashes, 0
		return res, nil
	}
	res.Rejected = append(res.Rejected, clashes...)
	sortRejections(res.Rejected)
	res.Duplicates += dups
	res.Stored = len(evs) - dups - len(clashes)
	return res, nil
}

func sortRejections(rs []ethos.EventRejection) {
	slices.SortStableFunc(rs, func(a, b ethos.EventRejection) int { return cmp.Compare(a.Index, b.Index) })
}

// AttachLabels screens ground-truth records and stores them by case id:
// the latest label of a case wins. A label whose case has no event in the
// deployment is rejected. Labels are taken for any deployment that is not
// retired (ground truth of a suspended deployment still counts).
func (r *Registry) AttachLabels(ctx context.Context, id string, records []json.RawMessage, atomic bool, by string) (*ethos.IngestResult, error) {
	if len(records) > MaxBatch {
		return nil, ethos.Errorf(ethos.EINVALID, "a batch holds at most %d records, got %d", MaxBatch, len(records))
	}
	d, err := r.Store.FindDeploymentByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if d.Status == ethos.DeploymentRetired {
		return nil, ethos.Errorf(ethos.ECONFLICT, "deployment %s is retired: labels are refused", id)
	}
	now := r.now()
	res := &ethos.IngestResult{Received: len(records), Atomic: atomic, Rejected: []ethos.EventRejection{}}
	var labels []*ethos.EventLabel
	var index []int
	byCase := map[string]int{}
	for i, raw := range records {
		l, err := ParseLabel(raw, now)
		if err != nil {
			res.Rejected = append(res.Rejected, ethos.EventRejection{Index: i, Reason: err.Error()})
			continue
		}
		l.RecordedBy = by
		if j, ok := byCase[l.CaseID]; ok {
			// The later record of the same case in one batch wins.
			labels[j] = l
			res.Duplicates++
			continue
		}
		byCase[l.CaseID] = len(labels)
		labels, index = append(labels, l), append(index, i)
	}
	if atomic && len(res.Rejected) > 0 {
		res.Duplicates = 0
		return res, nil
	}
	known, err := r.Store.UpsertLabels(ctx, d.ID, labels, atomic)
	if err != nil {
		return nil, err
	}
	var unknown []ethos.EventRejection
	for i, k := range known {
		if !k {
			unknown = append(unknown, ethos.EventRejection{Index: index[i], Reason: "case_id: no event of this deployment has this case id"})
		}
	}
	if atomic && len(unknown) > 0 {
		res.Rejected, res.Duplicates = unknown, 0
		return res, nil
	}
	res.Rejected = append(res.Rejected, unknown...)
	sortRejections(res.Rejected)
	res.Stored = len(labels) - len(unknown)
	return res, nil
}
