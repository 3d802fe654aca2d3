package http

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/consent"
	"github.com/ethos-imaging/ethos/dicom"
	"github.com/ethos-imaging/ethos/dicom/tag"
)

// DICOMweb STOW-RS (PS3.18 section 10.5): POST /dicomweb/studies with a
// multipart/related body of application/dicom parts, each part one
// instance, through the same consent-gated ingest as "ethos ingest"
// (QC-COL-2). The whole body is read and its multipart structure checked
// before the first instance is ingested, so a malformed request stores
// nothing.

// MaxSTOWBytes bounds a STOW-RS request body; MaxSTOWParts the instances
// in one request.
const (
	MaxSTOWBytes = 512 << 20
	MaxSTOWParts = 10000
)

// DICOM status codes used in a STOW-RS response (PS3.7 Annex C, PS3.18).
const (
	stowRefusedNotAuthorized = 0x0124 // refused by consent, policy or minimisation
	stowCannotUnderstand     = 0xC000 // not DICOM, or no patient identity or UID
)

// stowPart is one received part, parsed enough to answer for it.
type stowPart struct {
	data     []byte
	sopClass string
	sopUID   string
}

// readSTOW checks the content type and reads every part. Any structural
// fault is an EINVALID error naming the part.
func readSTOW(r *http.Request, w http.ResponseWriter) ([]stowPart, error) {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/related" {
		return nil, &fieldError{code: ethos.EINVALID, msg: `STOW-RS: Content-Type must be multipart/related; type="application/dicom"`}
	}
	if t := params["type"]; t != "" && !strings.EqualFold(t, "application/dicom") {
		return nil, &fieldError{code: ethos.EINVALID, msg: fmt.Sprintf("STOW-RS: only type=\"application/dicom\" is accepted, not %q", t)}
	}
	if params["boundary"] == "" {
		return nil, &fieldError{code: ethos.EINVALID, msg: "STOW-RS: the multipart boundary is missing"}
	}
	body := http.MaxBytesReader(w, r.Body, MaxSTOWBytes)
	mr := multipart.NewReader(body, params["boundary"])
	var parts []stowPart
	// Parts are read into one arena sized from the request's length, so a
	// part's bytes are copied once (io.ReadAll would copy each part about
	// twice more while doubling its buffer); each part keeps a sub-slice.
	arena := make([]byte, 0, stowArenaSize(r.ContentLength))
	for i := 1; ; i++ {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
				return nil, &fieldError{code: codeTooLarge, msg: fmt.Sprintf("STOW-RS: request body larger than %d bytes", MaxSTOWBytes)}
			}
			return nil, &fieldError{code: ethos.EINVALID, msg: fmt.Sprintf("STOW-RS: part %d: malformed multipart body", i)}
		}
		if len(parts) == MaxSTOWParts {
			return nil, &fieldError{code: ethos.EINVALID, msg: fmt.Sprintf("STOW-RS: more than %d parts", MaxSTOWParts)}
		}
		if ct := p.Header.Get("Content-Type"); ct != "" {
			pt, _, err := mime.ParseMediaType(ct)
			if err != nil || pt != "application/dicom" {
				return nil, &fieldError{code: ethos.EINVALID, msg: fmt.Sprintf("STOW-RS: part %d has Content-Type %q, want application/dicom", i, ct)}
			}
		}
		var data []byte
		arena, data, err = readPart(arena, p)
		if err != nil {
			if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
				return nil, &fieldError{code: codeTooLarge, msg: fmt.Sprintf("STOW-RS: request body larger than %d bytes", MaxSTOWBytes)}
			}
			return nil, &fieldError{code: ethos.EINVALID, msg: fmt.Sprintf("STOW-RS: part %d: malformed multipart body", i)}
		}
		sp := stowPart{data: data}
		if f, err := dicom.Parse(bytes.NewReader(data), dicom.SkipPixelData()); err == nil {
			sp.sopClass = strings.Trim(f.Dataset.Text(tag.SOPClassUID), " \x00")
			sp.sopUID = strings.Trim(f.Dataset.Text(tag.SOPInstanceUID), " \x00")
		}
		parts = append(parts, sp)
	}
	if len(parts) == 0 {
		return nil, &fieldError{code: ethos.EINVALID, msg: "STOW-RS: the request holds no instance"}
	}
	return parts, nil
}

// stowArenaSize is the first capacity of the arena STOW-RS parts are read
// into: the request's declared length, at most 64 MiB (a client cannot make
// the server reserve memory it has not sent), else 1 MiB.
func stowArenaSize(n int64) int {
	if n <= 0 || n > MaxSTOWBytes {
		return 1 << 20
	}
	return int(min(n, 64<<20))
}

// readPart appends what r holds to arena and returns the arena and the
// part's bytes (a sub-slice whose capacity ends with it, so nothing later
// appended shows through). When the arena is full, the part moves to a
// new, larger arena; earlier parts keep the old one.
func readPart(arena []byte, r io.Reader) ([]byte, []byte, error) {
	start := len(arena)
	for {
		if len(arena) == cap(arena) {
			part := arena[start:]
			next := make([]byte, len(part), max(2*cap(arena), len(part)+1<<20))
			copy(next, part)
			arena, start = next, 0
		}
		n, err := r.Read(arena[len(arena):cap(arena)])
		arena = arena[:len(arena)+n]
		if err == io.EOF {
			return arena, arena[start:len(arena):len(arena)], nil
		}
		if err != nil {
			return arena, nil, err
		}
	}
}

// dicomJSON builds DICOM JSON (PS3.18 Annex F) attributes.
type dicomJSON map[string]any

func uiAttr(v string) map[string]any {
	if v == "" {
		return map[string]any{"vr": "UI"}
	}
	return map[string]any{"vr": "UI", "Value": []string{v}}
}

func (s *Server) handleSTOW(w http.ResponseWriter, r *http.Request, p *principal) error {
	if s.Ingest == nil {
		return ethos.Errorf(ethos.ENOTIMPLEMENTED, "STOW-RS is not configured on this server")
	}
	project := r.URL.Query().Get("project")
	if !ethos.ValidID(project) {
		return &fieldError{code: ethos.EINVALID, field: "project", msg: "project: the project to ingest into is required"}
	}
	if _, err := s.Projects.FindProjectByID(r.Context(), project); err != nil {
		return err
	}
	parts, err := readSTOW(r, w)
	if err != nil {
		return err
	}
	who := ethos.AccessRequest{UserID: p.User.ID, PartyID: p.Party.ID, PartyType: p.Party.Type, Roles: p.User.Roles}
	items := make([]ethos.IngestItem, len(parts))
	for i, part := range parts {
		items[i] = ethos.IngestItem{Source: fmt.Sprintf("stow-rs:%s#%d", requestID(r.Context()), i+1), Data: part.data}
	}
	outcomes, err := s.Ingest.IngestInstances(r.Context(), project, who, requestID(r.Context()), items)
	if err != nil {
		return err
	}
	var stored, failed []dicomJSON
	for i, part := range parts {
		in := outcomes[i].Instance
		item := dicomJSON{"00081150": uiAttr(part.sopClass), "00081155": uiAttr(part.sopUID)}
		if in.Status == ethos.InstanceStored {
			// A duplicate is stored already: success, nothing new kept.
			stored = append(stored, item)
			continue
		}
		code := stowRefusedNotAuthorized
		switch in.Reason {
		case ethos.QuarantineUnparsable, ethos.QuarantineNoIdentity, ethos.QuarantineMissingUID, ethos.QuarantineNoDate:
			code = stowCannotUnderstand
		}
		item["00081197"] = map[string]any{"vr": "US", "Value": []int{code}}
		// Error Comment: Ethos's reason code (NO_CONSENT, WITHDRAWN …), a
		// fixed word that names no patient.
		item["00000902"] = map[string]any{"vr": "LO", "Value": []string{string(in.Reason)}}
		failed = append(failed, item)
	}
	resp := dicomJSON{}
	if len(stored) > 0 {
		resp["00081199"] = map[string]any{"vr": "SQ", "Value": stored}
	}
	if len(failed) > 0 {
		resp["00081198"] = map[string]any{"vr": "SQ", "Value": failed}
	}
	status := http.StatusOK
	switch {
	case len(stored) == 0:
		status = http.StatusConflict
	case len(failed) > 0:
		status = http.StatusAccepted
	}
	b, err := json.Marshal(resp)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/dicom+json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
	return nil
}

// MaxConsentBytes bounds a FHIR consent import.
const MaxConsentBytes = 16 << 20

// collectionAccess asks the access policy (and records the decision in
// the audit log) whether the caller may do action at the collection stage
// of the project in the path, for the project's collection purpose
// (research when it has no rules yet).
func (s *Server) collectionAccess(r *http.Request, p *principal, action ethos.Action, resource string) (*ethos.Project, ethos.AccessRequest, error) {
	ctx := r.Context()
	if s.Collection == nil || s.Instances == nil {
		return nil, ethos.AccessRequest{}, ethos.Errorf(ethos.ENOTIMPLEMENTED, "the collection services are not configured on this server")
	}
	prj, err := s.Projects.FindProjectByID(ctx, r.PathValue("id"))
	if err != nil {
		return nil, ethos.AccessRequest{}, err
	}
	purpose := ethos.PurposeResearch
	if rules, err := s.Instances.CollectionRules(ctx, prj.ID); err == nil {
		purpose = rules.Purpose
	} else if ethos.ErrorCode(err) != ethos.ENOTFOUND {
		return nil, ethos.AccessRequest{}, err
	}
	duas, _, err := s.DUAs.FindDUAs(ctx, ethos.DUAFilter{PartyID: &p.Party.ID, ProjectID: &prj.ID, Limit: 1000})
	if err != nil {
		return nil, ethos.AccessRequest{}, err
	}
	req := ethos.AccessRequest{ProjectID: prj.ID, ProjectPartyID: prj.PartyID, Stage: ethos.StageCollection, Action: action, Purpose: purpose, DUAs: duas}
	if _, err := s.decide(ctx, p, req, "project/"+prj.ID+"/"+resource); err != nil {
		return nil, ethos.AccessRequest{}, err
	}
	who := ethos.AccessRequest{UserID: p.User.ID, PartyID: p.Party.ID, PartyType: p.Party.Type, Roles: p.User.Roles}
	return prj, who, nil
}

func (s *Server) handleGetRules(w http.ResponseWriter, r *http.Request, p *principal) error {
	prj, _, err := s.collectionAccess(r, p, ethos.ActionRead, "collection/rules")
	if err != nil {
		return err
	}
	rules, err := s.Instances.CollectionRules(r.Context(), prj.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rules)
	return nil
}

// rulesIn is the body of PUT …/collection/rules.
type rulesIn struct {
	Purpose       ethos.Purpose `json:"purpose"`
	Modalities    []string      `json:"modalities,omitempty"`
	BodyParts     []string      `json:"body_parts,omitempty"`
	Acquired      ethos.Period  `json:"acquired,omitzero"`
	Issuer        string        `json:"issuer,omitempty"`
	RetentionDays int           `json:"retention_days,omitempty"`
}

func (s *Server) handlePutRules(w http.ResponseWriter, r *http.Request, p *principal) error {
	if s.Collection == nil || s.Instances == nil {
		return ethos.Errorf(ethos.ENOTIMPLEMENTED, "the collection services are not configured on this server")
	}
	var in rulesIn
	if err := s.decodeBody(w, r, &in); err != nil {
		return err
	}
	ctx := r.Context()
	// Setting the rules is a collection-stage write (the party matrix
	// applies: another party's steward may not reshape a hospital's
	// collection) and manages the project; both decisions are audited.
	prj, _, err := s.collectionAccess(r, p, ethos.ActionWrite, "collection/rules")
	if err != nil {
		return err
	}
	if _, err := s.decide(ctx, p, ethos.AccessRequest{ProjectID: prj.ID, ProjectPartyID: prj.PartyID, ManageKind: "project", Action: ethos.ActionManage},
		"project/"+prj.ID+"/collection/rules"); err != nil {
		return err
	}
	rules := &ethos.CollectionRules{ProjectID: prj.ID, Purpose: in.Purpose, Modalities: in.Modalities, BodyParts: in.BodyParts,
		Acquired: in.Acquired, Issuer: in.Issuer, RetentionDays: in.RetentionDays, UpdatedBy: p.User.ID}
	for i, m := range rules.Modalities {
		rules.Modalities[i] = strings.ToUpper(strings.TrimSpace(m))
	}
	if err := s.Instances.SetCollectionRules(ctx, rules); err != nil {
		return err
	}
	if err := s.recordChange(ctx, p, "collection.rules", "project/"+prj.ID, fmt.Sprintf("purpose %s, modalities %v, %d body parts (typed, so on the rules), retention %d days",
		rules.Purpose, rules.Modalities, len(rules.BodyParts), rules.RetentionDays), ethos.StageCollection); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rules)
	return nil
}

// consentImportOut is the reply to a consent import. Subjects are named
// by key; the identifiers of the FHIR input are never echoed.
type consentImportOut struct {
	Imported int            `json:"imported"`
	Consents []consentBrief `json:"consents"`
}

type consentBrief struct {
	ID       string              `json:"id"`
	Status   ethos.ConsentStatus `json:"status"`
	Subject  ethos.SubjectKey    `json:"subject"`
	Purposes []ethos.Purpose     `json:"purposes"`
}

func (s *Server) handleImportConsents(w http.ResponseWriter, r *http.Request, p *principal) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/fhir+json" && mt != "application/json") {
			return &fieldError{code: ethos.EINVALID, msg: "Content-Type must be application/fhir+json (FHIR R4 Consent or Bundle)"}
		}
	}
	_, who, err := s.collectionAccess(r, p, ethos.ActionWrite, "consents")
	if err != nil {
		return err
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxConsentBytes))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return &fieldError{code: codeTooLarge, msg: fmt.Sprintf("consent import larger than %d bytes", MaxConsentBytes)}
		}
		return &fieldError{code: ethos.EINVALID, msg: "cannot read request body"}
	}
	cs, err := s.Collection.ImportConsents(r.Context(), who, body, requestID(r.Context()))
	if err != nil {
		return err
	}
	out := consentImportOut{Imported: len(cs), Consents: make([]consentBrief, len(cs))}
	for i, c := range cs {
		out.Consents[i] = consentBrief{ID: c.ID, Status: c.Status, Subject: c.Subject, Purposes: c.Purposes()}
	}
	writeJSON(w, http.StatusCreated, out)
	return nil
}

func (s *Server) handleGetConsent(w http.ResponseWriter, r *http.Request, p *principal) error {
	if _, _, err := s.collectionAccess(r, p, ethos.ActionRead, "consents/"+r.PathValue("consent")); err != nil {
		return err
	}
	c, err := s.Consents.FindConsentByID(r.Context(), r.PathValue("consent"))
	if err != nil {
		return err
	}
	b, err := consent.MarshalFHIR(c)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/fhir+json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	w.Write(append(b, '\n'))
	return nil
}

// Withdrawals and disposals name a subject by key, or by the hospital's
// identifier (issuer and patient id), which is turned into the key on the
// server and never logged or returned.
func subjectRef(key ethos.SubjectKey, issuer, patientID string) ethos.SubjectRef {
	ref := ethos.SubjectRef{Subject: key}
	if issuer != "" || patientID != "" {
		ref.Identifier = &ethos.PatientIdentifier{Issuer: issuer, Value: patientID}
	}
	return ref
}

// withdrawalIn is the body of POST …/withdrawals.
type withdrawalIn struct {
	Subject     ethos.SubjectKey  `json:"subject,omitempty"`
	Issuer      string            `json:"issuer,omitempty"`
	PatientID   string            `json:"patient_id,omitempty"`
	RequestedBy ethos.GrantorKind `json:"requested_by,omitempty"` // Patient (default) or RelatedPerson
	Erase       bool              `json:"erase,omitempty"`        // also crypto-shred the subject's data
	Note        string            `json:"note,omitempty"`         // no identifiers
}

func (s *Server) handleWithdraw(w http.ResponseWriter, r *http.Request, p *principal) error {
	var in withdrawalIn
	if err := s.decodeBody(w, r, &in); err != nil {
		return err
	}
	if in.RequestedBy == "" {
		in.RequestedBy = ethos.GrantorPatient
	}
	_, who, err := s.collectionAccess(r, p, ethos.ActionWrite, "withdrawals")
	if err != nil {
		return err
	}
	k, err := s.Collection.ResolveSubject(r.Context(), subjectRef(in.Subject, in.Issuer, in.PatientID))
	if err != nil {
		return err
	}
	res, err := s.Collection.Withdraw(r.Context(), who, k, ethos.ConsentWithdrawal{At: s.Now().UTC(), RecordedBy: p.User.ID,
		RequestedBy: in.RequestedBy, ErasureRequested: in.Erase, Note: in.Note}, requestID(r.Context()))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// disposalIn is the body of POST …/disposals: one subject, or the
// project's instances past its retention period.
type disposalIn struct {
	Subject   ethos.SubjectKey `json:"subject,omitempty"`
	Issuer    string           `json:"issuer,omitempty"`
	PatientID string           `json:"patient_id,omitempty"`
	Expired   bool             `json:"expired,omitempty"`
	Reason    string           `json:"reason,omitempty"` // goes into the audit log: screened, no identifiers
}

// MaxDisposalReason bounds the reason of a disposal.
const MaxDisposalReason = 500

// checkDisposalReason screens the reason of a disposal. It is the one
// typed text that goes into an audit entry: the disposal's record is its
// audit entry (the data it would sit beside is destroyed). So it is
// screened with ethos.IdentifierProblem and refused when it has the shape
// of an identifier; a name has none, which the API description says.
func checkDisposalReason(reason string) error {
	if len(reason) > MaxDisposalReason {
		return &fieldError{code: ethos.EINVALID, field: "reason", msg: fmt.Sprintf("reason: longer than %d bytes", MaxDisposalReason)}
	}
	if p := ethos.IdentifierProblem(reason, false); p != "" {
		return &fieldError{code: ethos.EINVALID, field: "reason", msg: "reason: " + p + " (the reason is kept in the audit log, which never holds patient identifiers)"}
	}
	return nil
}

func (s *Server) handleDispose(w http.ResponseWriter, r *http.Request, p *principal) error {
	var in disposalIn
	if err := s.decodeBody(w, r, &in); err != nil {
		return err
	}
	ref := subjectRef(in.Subject, in.Issuer, in.PatientID)
	if in.Expired == (ref.Subject != "" || ref.Identifier != nil) {
		return &fieldError{code: ethos.EINVALID, msg: "disposal: give either a subject (subject, or issuer and patient_id) or expired: true"}
	}
	if err := checkDisposalReason(in.Reason); err != nil {
		return err
	}
	prj, who, err := s.collectionAccess(r, p, ethos.ActionWrite, "disposals")
	if err != nil {
		return err
	}
	var d *ethos.Disposal
	if in.Expired {
		d, err = s.Collection.DisposeExpired(r.Context(), who, prj.ID, s.Now().UTC(), requestID(r.Context()))
	} else {
		var k ethos.SubjectKey
		if k, err = s.Collection.ResolveSubject(r.Context(), ref); err != nil {
			return err
		}
		reason := in.Reason
		if reason == "" {
			reason = "disposal requested"
		}
		d, err = s.Collection.DisposeSubject(r.Context(), who, k, reason, requestID(r.Context()))
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

// collectionRoutes are the collection stage's endpoints.
func (s *Server) collectionRoutes(auth authFunc) []route {
	return []route{
		{Method: "POST", Path: "/dicomweb/studies", Summary: "DICOMweb STOW-RS: store instances (multipart/related; type=\"application/dicom\") into a project through consent-gated ingest.",
			Query: []param{{"project", "string", "project to ingest into", true}}, Status: 200, Raw: "application/dicom+json", handle: auth(s.handleSTOW)},
		{Method: "GET", Path: "/api/v1/projects/{id}/collection/rules", Summary: "A project's collection purpose, minimisation rules and retention period.",
			Reply: ethos.CollectionRules{}, Status: 200, handle: auth(s.handleGetRules)},
		{Method: "PUT", Path: "/api/v1/projects/{id}/collection/rules", Summary: "Set a project's collection purpose, minimisation rules and retention period (replaces earlier rules).",
			Body: rulesIn{}, Reply: ethos.CollectionRules{}, Status: 200, handle: auth(s.handlePutRules)},
		{Method: "POST", Path: "/api/v1/projects/{id}/consents", Summary: "Import FHIR R4 Consent JSON (a Consent or a Bundle of them): every consent or none; patients are keyed and their identifiers sealed.",
			Reply: consentImportOut{}, Status: 201, handle: auth(s.handleImportConsents)},
		{Method: "GET", Path: "/api/v1/projects/{id}/consents/{consent}", Summary: "A consent as a FHIR R4 Consent resource (the patient named by subject key).",
			Status: 200, Raw: "application/fhir+json", handle: auth(s.handleGetConsent)},
		{Method: "POST", Path: "/api/v1/projects/{id}/withdrawals", Summary: "Withdraw a subject's consents at once (by subject key, or by issuer and patient id), optionally erasing its data by crypto-shredding.",
			Body: withdrawalIn{}, Reply: ethos.WithdrawalResult{}, Status: 200, handle: auth(s.handleWithdraw)},
		{Method: "POST", Path: "/api/v1/projects/{id}/disposals", Summary: "Crypto-shred one subject's data, or dispose of the project's instances past its retention period (expired: true). The reason goes into the audit log: one that holds the shape of an identifier (date, record number, '^', '@') is refused, and it must name no one.",
			Body: disposalIn{}, Reply: ethos.Disposal{}, Status: 200, handle: auth(s.handleDispose)},
	}
}
