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
		data, err := io.ReadAll(p)
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
	var stored, failed []dicomJSON
	for i, part := range parts {
		in, _, err := s.Ingest.IngestInstance(r.Context(), project, who, fmt.Sprintf("stow-rs:%s#%d", requestID(r.Context()), i+1), requestID(r.Context()), bytes.NewReader(part.data))
		if err != nil {
			return err
		}
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

// collectionRoutes are the collection stage's endpoints.
func (s *Server) collectionRoutes(auth authFunc) []route {
	return []route{
		{Method: "POST", Path: "/dicomweb/studies", Summary: "DICOMweb STOW-RS: store instances (multipart/related; type=\"application/dicom\") into a project through consent-gated ingest.",
			Query: []param{{"project", "string", "project to ingest into", true}}, Status: 200, Raw: "application/dicom+json", handle: auth(s.handleSTOW)},
	}
}
