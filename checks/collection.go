package checks

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"

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
			plural(rep.Units, rep.Unit), rep.Reference.Name, rep.Reference.Floor, latest.CreatedAt.UTC().Format("2006-01-02T15:04:05Z"), latest.CreatedBy, plural(reports, "report"))})
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
	counts := map[ethos.InstanceStatus]int{}
	reasons := map[ethos.QuarantineReason]int{}
	consentState := map[string]string{} // consent id -> "" if active and in force, else why not
	consentsUsed := map[string]bool{}
	subjects := map[ethos.SubjectKey]bool{}
	noConsent, badBlob, leakedQuarantine := 0, 0, 0
	err := pages(ctx, func(off, lim int) ([]*ethos.Instance, int, error) {
		return r.s.Instances.FindInstances(ctx, ethos.InstanceFilter{ProjectID: &r.prj.ID, Offset: off, Limit: lim})
	}, func(in *ethos.Instance) error {
		counts[in.Status]++
		switch in.Status {
		case ethos.InstanceQuarantined:
			reasons[in.Reason]++
			if in.Blob != nil {
				leakedQuarantine++
				v.fail("quarantined instance %s still names stored bytes", in.ID)
			}
		case ethos.InstanceStored:
			if in.Blob == nil || in.Blob.Validate() != nil || in.Blob.Subject != in.Subject {
				badBlob++
				v.fail("stored instance %s has no valid blob under its subject's key", in.ID)
			} else {
				subjects[in.Subject] = true
			}
			if in.ConsentID == "" {
				noConsent++
				v.fail("stored instance %s names no consent", in.ID)
				return nil
			}
			consentsUsed[in.ConsentID] = true
			if r.s.Consents == nil {
				return nil
			}
			why, seen := consentState[in.ConsentID]
			if !seen {
				c, err := r.s.Consents.FindConsentByID(ctx, in.ConsentID)
				switch {
				case ethos.ErrorCode(err) == ethos.ENOTFOUND:
					why = "is not on file"
				case err != nil:
					return fmt.Errorf("QC-COL-2: read consent %s: %w", in.ConsentID, err)
				case c.Status != ethos.ConsentActive:
					why = "is " + string(c.Status)
				case !c.Period().Covers(r.now):
					why = "is not in force now (period " + periodWords(c.Period()) + ")"
				}
				consentState[in.ConsentID] = why
			}
			if why != "" {
				v.fail("stored instance %s: its consent %s %s", in.ID, in.ConsentID, why)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("QC-COL-2: read instances: %w", err)
	}
	total := 0
	for _, n := range counts {
		total += n
	}
	if total == 0 {
		v.pend("no instance has been received for the project yet")
		return v.done(nil), nil
	}
	stored, quarantined := counts[ethos.InstanceStored], counts[ethos.InstanceQuarantined]
	var rs []string
	for k, n := range reasons {
		rs = append(rs, fmt.Sprintf("%s %d", k, n))
	}
	sort.Strings(rs)
	note := fmt.Sprintf("%d received: %d stored, %d quarantined (%s), %d withdrawn, %d erased",
		total, stored, quarantined, strings.Join(rs, ", "), counts[ethos.InstanceWithdrawn], counts[ethos.InstanceErased])
	if counts[ethos.InstanceWithdrawn] > 0 {
		note += "; withdrawn instances keep their encrypted bytes until disposal and may not be used for new work"
	}
	v.evidence(ethos.EvidenceRef{Kind: "instance-records", ID: r.prj.ID, Note: note})
	if r.s.Consents == nil {
		v.attest("this server keeps no consent registry; a data steward must attest that the %d consents behind stored instances are in force", len(consentsUsed))
	} else if len(consentsUsed) > 0 {
		active := 0
		for id := range consentsUsed {
			if consentState[id] == "" {
				active++
			}
		}
		v.evidence(ethos.EvidenceRef{Kind: "consents", ID: r.prj.ID,
			Note: fmt.Sprintf("%s behind the stored instances, %d active and in force now", plural(len(consentsUsed), "consent"), active)})
	}
	// Encryption: every stored blob is sealed under its subject's data
	// key, which is kept wrapped under a master key.
	if stored > 0 {
		if r.s.Keys == nil {
			v.attest("this server does not expose its key store; the operator must attest that stored instances are encrypted")
		} else {
			masters := map[string]int{}
			keyed := 0
			keys := make([]ethos.SubjectKey, 0, len(subjects))
			for sk := range subjects {
				keys = append(keys, sk)
			}
			sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
			for _, sk := range keys {
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
		if !av.OK {
			ref.Note = "the audit log does not verify: " + av.Problem
			v.fail("the audit log does not verify: %s", av.Problem)
		}
		v.evidence(ref)
	}
	return v.done(map[ethos.CheckStatus]string{
		ethos.CheckPass: fmt.Sprintf("%d stored instances are each covered by an active consent and encrypted under their subject's key; %d quarantined keep no bytes; the audit log verifies.", stored, quarantined),
		ethos.CheckFail: fmt.Sprintf("Of %d stored instances, %d name no consent, %d lack a valid encrypted blob, and other problems are listed.", stored, noConsent, badBlob+leakedQuarantine),
	}), nil
}

func periodWords(p ethos.Period) string {
	f := func(t interface{ IsZero() bool }, s string) string {
		if t.IsZero() {
			return "open"
		}
		return s
	}
	return f(p.Start, p.Start.UTC().Format("2006-01-02")) + " to " + f(p.End, p.End.UTC().Format("2006-01-02"))
}
