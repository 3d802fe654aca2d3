package checks

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ethos-imaging/ethos"
)

// representationReport is the part of a recorded representation report
// (the JSON of "ethos collection representation", report version 1) the
// check reads: what it was compared against and its findings. Findings of
// severity "flag" are groups under the reference's floor (or absent).
type representationReport struct {
	Version   int    `json:"version"`
	Check     string `json:"check"`
	Unit      string `json:"unit"`
	Units     int    `json:"units"`
	Reference struct {
		Name  string  `json:"name"`
		Floor float64 `json:"floor"`
	} `json:"reference"`
	Findings []struct {
		Kind      string `json:"kind"`
		Severity  string `json:"severity"`
		Breakdown string `json:"breakdown"`
		Group     string `json:"group"`
		Message   string `json:"message"`
	} `json:"findings"`
}

func projectLink(prj *ethos.Project, rest string) string {
	return "/api/v1/projects/" + url.PathEscape(prj.ID) + rest
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(h[:])
}

// representation answers QC-COL-1 from the latest representation report
// recorded at the collection stage: a group under the declared floor
// fails the check; no report, a report the check cannot read, or a
// report older than instances stored since leaves it pending.
func (r *run) representation(ctx context.Context) (*ethos.QualityCheck, error) {
	v := r.newVerdict("QC-COL-1", "")
	if r.s.Records == nil {
		v.attest("this server keeps no stage records, so no representation report can be read; a data steward must attest representation")
		return v.done(nil), nil
	}
	var latest *ethos.StageRecord
	reports := 0
	err := pages(ctx, func(off, lim int) ([]*ethos.StageRecord, int, error) {
		return r.s.Records.FindRecords(ctx, ethos.RecordFilter{ProjectID: r.prj.ID, Stage: ethos.StageCollection, Offset: off, Limit: lim})
	}, func(rec *ethos.StageRecord) error {
		if rec.Kind != RepresentationKind {
			return nil
		}
		reports++
		if latest == nil || rec.CreatedAt.After(latest.CreatedAt) || rec.CreatedAt.Equal(latest.CreatedAt) && rec.ID > latest.ID {
			latest = rec
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("QC-COL-1: read stage records: %w", err)
	}
	if latest == nil {
		v.pend("no representation report is recorded for the project (record the JSON of 'ethos collection representation' as a collection-stage record of kind %s)", RepresentationKind)
		return v.done(nil), nil
	}
	link := projectLink(r.prj, "/stages/collection/records")
	var rep representationReport
	if err := json.Unmarshal(latest.Body, &rep); err != nil || rep.Check != "QC-COL-1" || rep.Version < 1 || rep.Reference.Name == "" {
		v.evidence(ethos.EvidenceRef{Kind: "stage-record", ID: latest.ID, Digest: sha256Hex(latest.Body), Link: link, Note: "latest record of kind " + RepresentationKind})
		v.pend("record %s is not a representation report this version of Ethos reads (want report version 1 for QC-COL-1 with a named reference)", latest.ID)
		return v.done(nil), nil
	}
	v.evidence(ethos.EvidenceRef{Kind: "representation-report", ID: latest.ID, Digest: sha256Hex(latest.Body), Link: link,
		Note: fmt.Sprintf("%s counted against reference %q (floor %g), recorded %s by %s; %s recorded in all",
			plural(rep.Units, rep.Unit), rep.Reference.Name, rep.Reference.Floor, stamp(latest.CreatedAt), latest.CreatedBy, plural(reports, "report"))})
	flags, warnings := 0, 0
	for _, f := range rep.Findings {
		if f.Severity == "flag" {
			flags++
			v.fail("%s %s: %s", f.Breakdown, f.Group, f.Message)
		} else {
			warnings++
		}
	}
	// A report says nothing of instances stored after it.
	if r.s.Instances != nil {
		stored := ethos.InstanceStored
		_, all, err := r.s.Instances.FindInstances(ctx, ethos.InstanceFilter{ProjectID: &r.prj.ID, Status: &stored, Limit: 1})
		if err != nil {
			return nil, fmt.Errorf("QC-COL-1: count instances: %w", err)
		}
		at := latest.CreatedAt
		_, before, err := r.s.Instances.FindInstances(ctx, ethos.InstanceFilter{ProjectID: &r.prj.ID, Status: &stored, ReceivedBefore: &at, Limit: 1})
		if err != nil {
			return nil, fmt.Errorf("QC-COL-1: count instances: %w", err)
		}
		if n := all - before; n > 0 {
			v.pend("%s stored after the latest representation report; record a new report", verb(n, "instance was", "instances were"))
		}
	}
	return v.done(map[ethos.CheckStatus]string{
		ethos.CheckPass: fmt.Sprintf("No group is under the declared floor of reference %q (%s to review).", rep.Reference.Name, plural(warnings, "warning")),
		ethos.CheckFail: fmt.Sprintf("%s under the declared floor of reference %q.", verb(flags, "group is", "groups are"), rep.Reference.Name),
	}), nil
}

// confidentiality answers QC-COL-2: every stored instance was stored
// under an active consent that is still in force (or the instance sits in
// quarantine without its bytes), every stored instance's bytes are
// encrypted under its subject's wrapped data key, and the audit log
// verifies end to end.
func (r *run) confidentiality(ctx context.Context) (*ethos.QualityCheck, error) {
	v := r.newVerdict("QC-COL-2", "")
	if r.s.Instances == nil {
		v.attest("this server keeps no instance records; a data steward must attest how collected data is protected")
		return v.done(nil), nil
	}
	sum, err := r.instanceSummary(ctx)
	if err != nil {
		return nil, fmt.Errorf("QC-COL-2: %w", err)
	}
	counts := sum.ByStatus
	total := 0
	for _, n := range counts {
		total += n
	}
	if total == 0 {
		v.pend("no instance has been received for the project yet")
		return v.done(nil), nil
	}
	stored, quarantined := counts[ethos.InstanceStored], counts[ethos.InstanceQuarantined]
	noConsent := sum.StoredByConsent[""]
	for _, b := range []struct {
		kind string
		n    int
		what string
	}{
		{"quarantined-blob", sum.QuarantinedWithBlob, "quarantined instance still names stored bytes|quarantined instances still name stored bytes"},
		{"no-blob", sum.StoredWithoutBlob, "stored instance has no encrypted blob|stored instances have no encrypted blob"},
		{"no-consent", noConsent, "stored instance names no consent|stored instances name no consent"},
	} {
		if b.n == 0 {
			continue
		}
		one, many, _ := strings.Cut(b.what, "|")
		p := verb(b.n, one, many)
		if ex := sum.Examples[b.kind]; len(ex) > 0 {
			p += ": " + strings.Join(ex, ", ")
			if b.n > len(ex) {
				p += fmt.Sprintf(" and %d more", b.n-len(ex))
			}
		}
		v.fail("%s", p)
	}
	var rs []string
	for k, n := range sum.Quarantine {
		rs = append(rs, fmt.Sprintf("%s %d", k, n))
	}
	sort.Strings(rs)
	why := ""
	if len(rs) > 0 {
		why = " (" + strings.Join(rs, ", ") + ")"
	}
	note := fmt.Sprintf("%d received: %d stored, %d quarantined%s, %d withdrawn, %d erased",
		total, stored, quarantined, why, counts[ethos.InstanceWithdrawn], counts[ethos.InstanceErased])
	if counts[ethos.InstanceWithdrawn] > 0 {
		note += "; withdrawn instances keep their encrypted bytes until disposal and may not be used for new work"
	}
	v.evidence(ethos.EvidenceRef{Kind: "instance-records", ID: r.prj.ID, Note: note})
	// Each consent behind stored instances must still be active and in
	// force.
	ids := make([]string, 0, len(sum.StoredByConsent))
	for id := range sum.StoredByConsent {
		if id != "" {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	if r.s.Consents == nil {
		if len(ids) > 0 {
			v.attest("this server keeps no consent registry; a data steward must attest that the %s behind stored instances are in force", plural(len(ids), "consent"))
		}
	} else if len(ids) > 0 {
		var batch map[string]*ethos.Consent
		if r.s.ConsentBatch != nil {
			if batch, err = r.s.ConsentBatch.ConsentsByID(ctx, ids); err != nil {
				return nil, fmt.Errorf("QC-COL-2: read consents: %w", err)
			}
		}
		active := 0
		for _, id := range ids {
			why := ""
			var c *ethos.Consent
			var err error
			if batch != nil {
				if c = batch[id]; c == nil {
					err = ethos.Errorf(ethos.ENOTFOUND, "consent %s not found", id)
				}
			} else {
				c, err = r.s.Consents.FindConsentByID(ctx, id)
			}
			switch {
			case ethos.ErrorCode(err) == ethos.ENOTFOUND:
				why = "is not on file"
			case err != nil:
				return nil, fmt.Errorf("QC-COL-2: read consent %s: %w", id, err)
			case c.Status != ethos.ConsentActive:
				why = "is " + string(c.Status)
			case !c.Period().Covers(r.now):
				why = "is not in force now (period " + periodWords(c.Period()) + ")"
			}
			if why != "" {
				v.fail("consent %s %s, yet %s stored under it", id, why, verb(sum.StoredByConsent[id], "instance is", "instances are"))
			} else {
				active++
			}
		}
		v.evidence(ethos.EvidenceRef{Kind: "consents", ID: r.prj.ID,
			Note: fmt.Sprintf("%s behind the stored instances, %d active and in force now", plural(len(ids), "consent"), active)})
	}
	subjects := sum.Subjects
	// Encryption: every stored blob is sealed under its subject's data
	// key, which is kept wrapped under a master key.
	if stored > 0 {
		if r.s.Keys == nil {
			v.attest("this server does not expose its key store; the operator must attest that stored instances are encrypted")
		} else {
			masters := map[string]int{}
			keyed := 0
			for _, sk := range subjects {
				k, err := r.s.Keys.DataKey(ctx, sk)
				switch {
				case ethos.ErrorCode(err) == ethos.ENOTFOUND:
					v.fail("subject %s has stored instances but no data key: its bytes cannot be encrypted under it", sk.Short())
				case err != nil:
					return nil, fmt.Errorf("QC-COL-2: read data key: %w", err)
				case len(k.Wrapped) == 0 || k.MasterKeyID == "":
					v.fail("the data key %s of subject %s is not wrapped under a master key", k.ID, sk.Short())
				default:
					keyed++
					masters[k.MasterKeyID]++
				}
			}
			var ms []string
			for m := range masters {
				ms = append(ms, m)
			}
			sort.Strings(ms)
			v.evidence(ethos.EvidenceRef{Kind: "data-keys", ID: strings.Join(ms, ","),
				Note: fmt.Sprintf("%d of %s with stored instances have a data key wrapped under master key %s", keyed, plural(len(subjects), "subject"), strings.Join(ms, ", "))})
		}
	}
	// The audit log: every access decision and state change is in it;
	// verifying it shows nothing was removed or altered.
	if r.s.Audit == nil {
		v.attest("this server does not verify its audit log here; an auditor must attest it (ethos audit verify)")
	} else {
		av, err := r.s.Audit.VerifyAuditLog(ctx)
		if err != nil {
			return nil, fmt.Errorf("QC-COL-2: verify audit log: %w", err)
		}
		ref := ethos.EvidenceRef{Kind: "audit-log", ID: fmt.Sprintf("size-%d", av.Size), Digest: av.Root, Link: "/api/v1/audit/checkpoint",
			Note: fmt.Sprintf("verified %d events against the signed checkpoint of size %d (%d after it not yet signed)", av.Size, av.CheckpointSize, av.Unsigned)}
		switch av.Mode {
		case "full":
			ref.Note += "; full verification: every event re-read and re-hashed"
		case "incremental":
			ref.Note += fmt.Sprintf("; incremental verification: the %d events after the first %d re-hashed, and the tree of those %d (verified earlier) proven consistent with the current one", av.Size-av.VerifiedFrom, av.VerifiedFrom, av.VerifiedFrom)
		}
		if !av.OK {
			ref.Note = "the audit log does not verify: " + av.Problem
			v.fail("the audit log does not verify: %s", av.Problem)
		}
		v.evidence(ref)
	}
	return v.done(map[ethos.CheckStatus]string{
		ethos.CheckPass: fmt.Sprintf("%d stored instances are each covered by an active consent and encrypted under their subject's key; %d quarantined keep no bytes; the audit log verifies.", stored, quarantined),
		ethos.CheckFail: fmt.Sprintf("Of %d stored instances, %d name no consent and %d hold no encrypted blob; %d quarantined still name bytes; the problems list every breach.", stored, noConsent, sum.StoredWithoutBlob, sum.QuarantinedWithBlob),
	}), nil
}

// periodWords writes a consent's period as "2026-01-01 to open".
func periodWords(p ethos.Period) string {
	day := func(t time.Time) string {
		if t.IsZero() {
			return "open"
		}
		return t.UTC().Format("2006-01-02")
	}
	return day(p.Start) + " to " + day(p.End)
}

// instanceSummary counts the project's instance records: in the store's
// aggregate queries when it offers them, else by reading every record.
func (r *run) instanceSummary(ctx context.Context) (*ethos.InstanceSummary, error) {
	if r.s.Summaries != nil {
		return r.s.Summaries.SummarizeInstances(ctx, r.prj.ID)
	}
	sum := &ethos.InstanceSummary{ProjectID: r.prj.ID, ByStatus: map[ethos.InstanceStatus]int{}, Quarantine: map[ethos.QuarantineReason]int{},
		StoredByConsent: map[string]int{}, Examples: map[string][]string{}}
	subjects := map[ethos.SubjectKey]bool{}
	// The smallest ids of each kind, as the store's summary names them
	// (the listing comes in order of receipt, not of id).
	example := func(kind, id string) {
		ex := sum.Examples[kind]
		i, _ := slices.BinarySearch(ex, id)
		if i < ethos.MaxSummaryExamples {
			sum.Examples[kind] = slices.Insert(ex, i, id)[:min(len(ex)+1, ethos.MaxSummaryExamples)]
		}
	}
	err := pages(ctx, func(off, lim int) ([]*ethos.Instance, int, error) {
		return r.s.Instances.FindInstances(ctx, ethos.InstanceFilter{ProjectID: &r.prj.ID, Offset: off, Limit: lim})
	}, func(in *ethos.Instance) error {
		sum.ByStatus[in.Status]++
		switch in.Status {
		case ethos.InstanceQuarantined:
			sum.Quarantine[in.Reason]++
			if in.Blob != nil {
				sum.QuarantinedWithBlob++
				example("quarantined-blob", in.ID)
			}
		case ethos.InstanceStored:
			sum.StoredByConsent[in.ConsentID]++
			if in.ConsentID == "" {
				example("no-consent", in.ID)
			}
			if in.Blob == nil || in.Blob.Validate() != nil || in.Blob.Subject != in.Subject {
				sum.StoredWithoutBlob++
				example("no-blob", in.ID)
			}
			subjects[in.Subject] = true
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read instances: %w", err)
	}
	for sk := range subjects {
		sum.Subjects = append(sum.Subjects, sk)
	}
	slices.Sort(sum.Subjects)
	return sum, nil
}
