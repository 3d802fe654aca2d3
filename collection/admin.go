package collection

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/consent"
)

// Registry is the consent registry and the disposal of collected data
// (QC-COL-2: withdrawal takes effect at once; the subject's data can be
// erased by crypto-shredding; retention periods are enforced). It is what
// the HTTP API and the offline commands call; the caller has already
// checked access, Registry records every change in the audit log.
type Registry struct {
	Consents  ethos.ConsentStore
	Instances ethos.InstanceService
	Blobs     ethos.BlobStore
	Auditor   ethos.Auditor
	Secret    []byte           // subject key secret (ethos.DeriveSubjectKey)
	LinkKey   []byte           // seals identifiers for linkage (LinkKey)
	Now       func() time.Time // default time.Now
	// Followers, when set, is told of every withdrawal (the training
	// stage's obligations); what it opens is part of the result.
	Followers ethos.WithdrawalFollower
}

var _ ethos.CollectionAdmin = (*Registry)(nil)

// Withdrawal is the outcome of a consent withdrawal.
type Withdrawal = ethos.WithdrawalResult

func (g *Registry) now() time.Time {
	if g.Now != nil {
		return g.Now().UTC()
	}
	return time.Now().UTC()
}

func (g *Registry) record(ctx context.Context, actor ethos.AccessRequest, action, resource, reason, requestID string) error {
	return g.Auditor.Record(ctx, ethos.AuditEvent{Actor: actor.UserID, Party: actor.PartyID, Action: action, Resource: resource,
		Stage: ethos.StageCollection, Decision: "allow", Reason: reason, RequestID: requestID})
}

// ImportConsents parses FHIR R4 Consent JSON, derives the subject key of
// every patient named by identifier, seals the identifier for later
// withdrawal requests and stores all consents and links in one
// transaction. A malformed resource fails the whole import with the path
// of the bad field.
func (g *Registry) ImportConsents(ctx context.Context, actor ethos.AccessRequest, fhir []byte, requestID string) ([]*ethos.Consent, error) {
	ims, err := consent.ReadFHIR(bytes.NewReader(fhir))
	if err != nil {
		return nil, err
	}
	cs := make([]*ethos.Consent, len(ims))
	var links []*ethos.SubjectLink
	for i, im := range ims {
		cs[i] = im.Consent
		if im.Patient == nil {
			continue
		}
		k, err := ethos.DeriveSubjectKey(g.Secret, *im.Patient)
		if err != nil {
			return nil, fmt.Errorf("consent %d: %w", i+1, err)
		}
		sealed, err := SealIdentifier(g.LinkKey, k, *im.Patient)
		if err != nil {
			return nil, err
		}
		cs[i].Subject = k
		links = append(links, &ethos.SubjectLink{Subject: k, Sealed: sealed})
	}
	if err := g.Consents.ImportConsents(ctx, cs, links); err != nil {
		return nil, err
	}
	for _, c := range cs {
		if err := g.record(ctx, actor, "consent.import", "consent/"+c.ID,
			fmt.Sprintf("subject %s; status %s; purposes %v", c.Subject, c.Status, c.Purposes()), requestID); err != nil {
			return nil, err
		}
	}
	return cs, nil
}

// ResolveSubject turns ref into a subject key. An identifier is keyed
// with the secret and must match the sealed link stored when its consent
// was imported (so a mistyped identifier is not taken for an unknown
// patient with nothing to withdraw); a key must belong to a known
// subject (a consent or an instance).
func (g *Registry) ResolveSubject(ctx context.Context, ref ethos.SubjectRef) (ethos.SubjectKey, error) {
	switch {
	case ref.Identifier != nil && ref.Subject != "":
		return "", ethos.Errorf(ethos.EINVALID, "name the subject by key or by identifier, not both")
	case ref.Identifier != nil:
		id := *ref.Identifier
		if id.Issuer == "" || id.Value == "" {
			return "", ethos.Errorf(ethos.EINVALID, "identifier: both the issuer and the patient id are required")
		}
		k, err := ethos.DeriveSubjectKey(g.Secret, id)
		if err != nil {
			return "", err
		}
		l, err := g.Consents.SubjectLink(ctx, k)
		if ethos.ErrorCode(err) == ethos.ENOTFOUND {
			if known, kerr := g.known(ctx, k); kerr != nil || known {
				return k, kerr
			}
			return "", ethos.Errorf(ethos.ENOTFOUND, "no subject is known for that identifier")
		}
		if err != nil {
			return "", err
		}
		got, err := OpenIdentifier(g.LinkKey, k, l.Sealed)
		if err != nil {
			return "", err
		}
		if got != id {
			return "", ethos.Errorf(ethos.ECONFLICT, "the sealed link of subject %s names another identifier", k.Short())
		}
		return k, nil
	case ref.Subject != "":
		if !ref.Subject.Valid() {
			return "", ethos.Errorf(ethos.EINVALID, "subject: not a subject key (64 lowercase hex digits)")
		}
		known, err := g.known(ctx, ref.Subject)
		if err != nil {
			return "", err
		}
		if !known {
			return "", ethos.Errorf(ethos.ENOTFOUND, "subject %s not found", ref.Subject.Short())
		}
		return ref.Subject, nil
	}
	return "", ethos.Errorf(ethos.EINVALID, "subject: a subject key or an identifier (issuer and patient id) is required")
}

func (g *Registry) known(ctx context.Context, k ethos.SubjectKey) (bool, error) {
	_, n, err := g.Consents.FindConsents(ctx, ethos.ConsentFilter{SubjectID: &k, Limit: 1})
	if err != nil || n > 0 {
		return n > 0, err
	}
	_, n, err = g.Instances.FindInstances(ctx, ethos.InstanceFilter{Subject: &k, Limit: 1})
	return n > 0, err
}

// Withdraw implements ethos.CollectionAdmin (see the function Withdraw).
func (g *Registry) Withdraw(ctx context.Context, actor ethos.AccessRequest, subject ethos.SubjectKey, w ethos.ConsentWithdrawal, requestID string) (*ethos.WithdrawalResult, error) {
	if w.At.IsZero() {
		w.At = g.now()
	}
	res, err := Withdraw(ctx, g.Consents, g.Instances, g.Blobs, g.Consents, g.Auditor, actor, subject, w, requestID)
	if err != nil || g.Followers == nil {
		return res, err
	}
	// The withdrawal has taken effect; what was built from the subject's
	// data now owes a response.
	if res.Obligations, err = g.Followers.OnWithdrawal(ctx, subject, actor, requestID); err != nil {
		return res, err
	}
	return res, nil
}

// DisposeSubject crypto-shreds the subject's data: its instances become
// unusable, then its data key is destroyed and its blobs deleted, its
// instance records move to erased, and a disposal record goes to the
// audit log. The data key is per subject, so this covers every project.
// Consents stay as they are (they are the history of what was agreed).
func (g *Registry) DisposeSubject(ctx context.Context, actor ethos.AccessRequest, subject ethos.SubjectKey, reason, requestID string) (*ethos.Disposal, error) {
	if !subject.Valid() {
		return nil, ethos.Errorf(ethos.EINVALID, "dispose: not a subject key (64 lowercase hex digits)")
	}
	// The reason is the one typed text a disposal's audit entry keeps
	// (there is no other record of it): refuse one shaped like an
	// identifier before anything is destroyed.
	if p := ethos.IdentifierProblem(reason, false); p != "" {
		return nil, ethos.Errorf(ethos.EINVALID, "dispose: reason: %s", p)
	}
	n, err := g.Instances.SetSubjectStatus(ctx, subject, ethos.InstanceWithdrawn)
	if err != nil {
		return nil, err
	}
	sr, err := shred(ctx, g.Instances, g.Blobs, g.Consents, subject)
	if sr == nil {
		return nil, err
	}
	out := &ethos.Disposal{Instances: n, Shredded: []ethos.ShredRecord{*sr}}
	if rerr := g.record(ctx, actor, "subject.dispose", "subject/"+subject.String(), shredReason(sr, reason), requestID); rerr != nil {
		return nil, rerr
	}
	return out, err
}

// DisposeExpired disposes of every kept instance received before its
// project's retention period began. Blobs are content-addressed per
// subject: a blob still used by another kept instance (another project)
// stays. When a subject has no kept instance left anywhere, its data key
// is destroyed as well (crypto-shredding); until then the deleted blobs
// are gone from the store but their key lives on for the subject's other
// data. Each disposed instance is recorded in the audit log.
func (g *Registry) DisposeExpired(ctx context.Context, actor ethos.AccessRequest, project string, now time.Time, requestID string) (*ethos.Disposal, error) {
	rules, err := g.Instances.FindCollectionRules(ctx)
	if err != nil {
		return nil, err
	}
	out := &ethos.Disposal{Shredded: []ethos.ShredRecord{}}
	touched := map[ethos.SubjectKey]bool{}
	for _, r := range rules {
		if r.RetentionDays == 0 || (project != "" && r.ProjectID != project) {
			continue
		}
		cutoff := now.Add(-time.Duration(r.RetentionDays) * 24 * time.Hour)
		pid := r.ProjectID
		disposed := 0
		for {
			// Disposed records leave the Kept set: always read page one.
			ins, _, err := g.Instances.FindInstances(ctx, ethos.InstanceFilter{ProjectID: &pid, Kept: true, ReceivedBefore: &cutoff, Limit: 500})
			if err != nil {
				return out, err
			}
			if len(ins) == 0 {
				break
			}
			for _, in := range ins {
				deleted, err := g.disposeInstance(ctx, in)
				if err != nil {
					return out, err
				}
				out.Instances++
				disposed++
				if deleted {
					out.BlobsDeleted++
				}
				touched[in.Subject] = true
				if err := g.record(ctx, actor, "instance.dispose", "project/"+pid+"/instance/"+in.ID,
					fmt.Sprintf("subject %s; retention of %d days ended %s; blob deleted: %t", in.Subject, r.RetentionDays,
						in.ReceivedAt.Add(time.Duration(r.RetentionDays)*24*time.Hour).Format(time.RFC3339), deleted), requestID); err != nil {
					return out, err
				}
			}
		}
		if disposed > 0 {
			out.Projects = append(out.Projects, pid)
		}
	}
	// Subjects with nothing kept anywhere lose their data key.
	for subject := range touched {
		k := subject
		_, n, err := g.Instances.FindInstances(ctx, ethos.InstanceFilter{Subject: &k, Kept: true, Limit: 1})
		if err != nil {
			return out, err
		}
		if n > 0 {
			continue
		}
		sr, err := shred(ctx, g.Instances, g.Blobs, nil, subject)
		if sr == nil {
			return out, err
		}
		out.Shredded = append(out.Shredded, *sr)
		if rerr := g.record(ctx, actor, "subject.dispose", "subject/"+subject.String(), shredReason(sr, "retention period ended for every instance of the subject"), requestID); rerr != nil {
			return out, rerr
		}
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// disposeInstance deletes the instance's blob unless another kept
// instance uses the same bytes, then moves the record to erased. The blob
// goes first: after a crash the record is still kept and the next run
// finishes the job (a missing blob counts as deleted).
func (g *Registry) disposeInstance(ctx context.Context, in *ethos.Instance) (bool, error) {
	deleted := false
	if in.Blob != nil {
		d := in.Blob.Digest
		others, _, err := g.Instances.FindInstances(ctx, ethos.InstanceFilter{Subject: &in.Subject, BlobDigest: &d, Kept: true, Limit: 2})
		if err != nil {
			return false, err
		}
		shared := false
		for _, o := range others {
			if o.ID != in.ID {
				shared = true
			}
		}
		if !shared {
			err := g.Blobs.Delete(ctx, *in.Blob)
			if err != nil && ethos.ErrorCode(err) != ethos.ENOTFOUND {
				return false, err
			}
			deleted = err == nil
		}
	}
	if err := g.Instances.SetInstanceStatus(ctx, in.ID, ethos.InstanceErased); err != nil && ethos.ErrorCode(err) != ethos.ENOTFOUND {
		return false, err
	}
	return deleted, nil
}

// shred destroys subject's data key and blobs, moves its kept instances
// to erased and drops its sealed link (when links is set). A nil record
// means nothing was destroyed; a record with an error means the key is
// gone but something after it failed (the caller must still record the
// disposal).
func shred(ctx context.Context, instances ethos.InstanceService, blobs ethos.BlobStore, links ethos.SubjectLinkService, subject ethos.SubjectKey) (*ethos.ShredRecord, error) {
	sr, shredErr := blobs.ShredSubject(ctx, subject)
	if ethos.ErrorCode(shredErr) == ethos.ENOTFOUND {
		// Nothing was ever stored for the subject: nothing to destroy.
		sr, shredErr = ethos.ShredRecord{Subject: subject, At: time.Now().UTC()}, nil
	}
	if shredErr != nil && sr.KeyID == "" {
		return nil, shredErr
	}
	if _, err := instances.SetSubjectStatus(ctx, subject, ethos.InstanceErased); err != nil {
		return &sr, err
	}
	if links != nil {
		if err := links.DeleteSubjectLink(ctx, subject); err != nil {
			return &sr, err
		}
	}
	return &sr, shredErr
}

func shredReason(sr *ethos.ShredRecord, why string) string {
	return fmt.Sprintf("crypto-shredded (%s): data key %s destroyed, %d blobs (%d bytes) deleted at %s",
		why, orNone(sr.KeyID), sr.BlobsDeleted, sr.BytesDeleted, sr.At.Format(time.RFC3339))
}

// Withdraw makes every active consent of subject inactive and every stored
// instance of the subject unusable, at once; with erase set it then
// crypto-shreds the subject's data (the data key first, then the blobs),
// drops the sealed identifier link and writes the disposal record to the
// audit log. links may be nil when there is no link store.
func Withdraw(ctx context.Context, consents ethos.ConsentService, instances ethos.InstanceService, blobs ethos.BlobStore,
	links ethos.SubjectLinkService, auditor ethos.Auditor, actor ethos.AccessRequest, subject ethos.SubjectKey, w ethos.ConsentWithdrawal, requestID string) (*Withdrawal, error) {
	if !subject.Valid() {
		return nil, ethos.Errorf(ethos.EINVALID, "withdraw: not a subject key (64 lowercase hex digits)")
	}
	out := &Withdrawal{Subject: subject, Consents: []string{}, Obligations: []*ethos.Obligation{}}
	changed, err := consents.WithdrawConsents(ctx, subject, w)
	if err != nil {
		return nil, err
	}
	for _, c := range changed {
		out.Consents = append(out.Consents, c.ID)
	}
	// Unusable first, before the slower shredding.
	if out.Instances, err = instances.SetSubjectStatus(ctx, subject, ethos.InstanceWithdrawn); err != nil {
		return nil, err
	}
	rec := func(action, reason string) error {
		return auditor.Record(ctx, ethos.AuditEvent{Actor: actor.UserID, Party: actor.PartyID, Action: action,
			Resource: "subject/" + subject.String(), Stage: ethos.StageCollection, Reason: reason, RequestID: requestID})
	}
	if err := rec("consent.withdraw", fmt.Sprintf("%d consents made inactive, %d instances unusable, erasure requested: %t", len(out.Consents), out.Instances, w.ErasureRequested)); err != nil {
		return nil, err
	}
	if !w.ErasureRequested {
		return out, nil
	}
	sr, shredErr := shred(ctx, instances, blobs, links, subject)
	if sr == nil {
		return nil, shredErr
	}
	// From here the data key is gone (a later failure leaves only
	// undecryptable ciphertext): record the disposal whatever happens.
	out.Shred = sr
	if err := rec("subject.dispose", shredReason(sr, "erasure requested with the withdrawal")); err != nil {
		return nil, err
	}
	if shredErr != nil {
		return out, shredErr
	}
	return out, nil
}

func orNone(s string) string {
	if s == "" {
		return "(none held)"
	}
	return s
}
