package consent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ethos-imaging/ethos"
)

// Code systems and naming systems used in the FHIR mapping.
const (
	// SubjectKeySystem names Ethos subject keys when a Consent.patient
	// reference carries one as its identifier (Ethos's own exports do).
	SubjectKeySystem = "https://ethos-imaging.org/fhir/NamingSystem/subject-key"
	// PartySystem names Ethos party ids in actor and performer references.
	PartySystem = "https://ethos-imaging.org/fhir/NamingSystem/party"
	// ModalitySystem is the DICOM code system (DCM); its modality codes are
	// the DICOM Modality (0008,0060) terms.
	ModalitySystem = "http://dicom.nema.org/resources/ontology/DCM"
	// BodyPartSystem holds DICOM Body Part Examined (0018,0015) terms.
	BodyPartSystem = "https://ethos-imaging.org/fhir/CodeSystem/body-part-examined"
	// ScopeSystem is the FHIR consentscope code system.
	ScopeSystem = "http://terminology.hl7.org/CodeSystem/consentscope"
	// ActionSystem is the FHIR consentaction code system.
	ActionSystem = "http://terminology.hl7.org/CodeSystem/consentaction"
	// ResourceTypesSystem names FHIR resource types (provision.class).
	ResourceTypesSystem = "http://hl7.org/fhir/resource-types"
)

// MaxFHIRBytes is the largest FHIR document ReadFHIR accepts.
const MaxFHIRBytes = 32 << 20

// ErrInvalidFHIR is in the chain of every error about a malformed or
// unsupported FHIR document.
var ErrInvalidFHIR = errors.New("invalid FHIR Consent")

// FHIRError reports a problem in a FHIR document at a JSON path such as
// provision.provision[1].purpose[0].code (in a Bundle the path starts with
// entry[i].resource). Problems never quote a patient identifier. Offset is
// the byte offset for JSON syntax errors and 0 otherwise.
type FHIRError struct {
	Path    string
	Offset  int64
	Problem string
	Err     error // an underlying error, if any
}

func (e *FHIRError) Error() string {
	var b strings.Builder
	b.WriteString("fhir consent: ")
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Problem)
	if e.Offset > 0 {
		fmt.Fprintf(&b, " (byte %d)", e.Offset)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns ErrInvalidFHIR, an EINVALID *ethos.Error carrying the
// message (so ethos.ErrorCode reports EINVALID) and the underlying error.
func (e *FHIRError) Unwrap() []error {
	errs := []error{ErrInvalidFHIR, &ethos.Error{Code: ethos.EINVALID, Message: e.Error()}}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

// Imported is one consent read from FHIR. When the patient reference
// carried an Ethos subject key, Consent.Subject is set and Patient is nil.
// Otherwise Consent.Subject is empty and Patient holds the identifier from
// the reference: the caller derives the subject key from it
// (ethos.DeriveSubjectKey), stores it only encrypted and drops it.
type Imported struct {
	Consent *ethos.Consent
	Patient *ethos.PatientIdentifier
}

// ReadFHIR reads a FHIR R4 Consent or a Bundle of them from r (at most
// MaxFHIRBytes) and parses it with ParseFHIR.
func ReadFHIR(r io.Reader) ([]Imported, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxFHIRBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read FHIR document: %w", err)
	}
	if len(data) > MaxFHIRBytes {
		return nil, &FHIRError{Problem: fmt.Sprintf("document larger than %d bytes", MaxFHIRBytes)}
	}
	return ParseFHIR(data)
}

// ParseFHIR parses a FHIR R4 Consent resource, or a Bundle whose entries
// are all Consent resources, in JSON. It is all or nothing: the first
// malformed element, unknown code or unsupported element anywhere fails the
// whole document with a *FHIRError naming its path, and no consent is
// returned.
func ParseFHIR(data []byte) ([]Imported, error) {
	tree, err := decodeTree(data)
	if err != nil {
		return nil, err
	}
	root, err := object(tree, "")
	if err != nil {
		return nil, err
	}
	rt, err := requiredString(root, "", "resourceType")
	if err != nil {
		return nil, err
	}
	switch rt {
	case "Consent":
		im, err := parseConsent(root, "")
		if err != nil {
			return nil, err
		}
		return []Imported{im}, nil
	case "Bundle":
		return parseBundle(root)
	}
	return nil, &FHIRError{Path: "resourceType", Problem: fmt.Sprintf("%s is not Consent or Bundle", quote(rt))}
}

// ParseConsent parses exactly one FHIR R4 Consent resource.
func ParseConsent(data []byte) (Imported, error) {
	ims, err := ParseFHIR(data)
	if err != nil {
		return Imported{}, err
	}
	if len(ims) != 1 {
		return Imported{}, &FHIRError{Problem: fmt.Sprintf("want one Consent, found %d", len(ims))}
	}
	return ims[0], nil
}

var bundleTypes = []string{"collection", "transaction", "batch", "searchset", "history"}

// maxBundleEntries bounds a bundle (each entry is at most MaxProvisions
// provisions, so the work stays bounded).
const maxBundleEntries = 100000

func parseBundle(m map[string]any) ([]Imported, error) {
	if err := checkKeys(m, "", []string{"resourceType", "type", "entry"},
		"id", "meta", "implicitRules", "language", "identifier", "timestamp", "total", "link", "signature"); err != nil {
		return nil, err
	}
	typ, err := requiredString(m, "", "type")
	if err != nil {
		return nil, err
	}
	if !slices.Contains(bundleTypes, typ) {
		return nil, &FHIRError{Path: "type", Problem: fmt.Sprintf("bundle type %s is not supported (want one of %s)", quote(typ), strings.Join(bundleTypes, ", "))}
	}
	entries, err := array(m, "", "entry")
	if err != nil {
		return nil, err
	}
	if len(entries) > maxBundleEntries {
		return nil, &FHIRError{Path: "entry", Problem: fmt.Sprintf("more than %d entries", maxBundleEntries)}
	}
	out := make([]Imported, 0, len(entries))
	seen := map[string]int{}
	for i, e := range entries {
		path := "entry[" + strconv.Itoa(i) + "]"
		em, err := object(e, path)
		if err != nil {
			return nil, err
		}
		if err := checkKeys(em, path, []string{"resource"}, "fullUrl", "request", "search", "response", "link"); err != nil {
			return nil, err
		}
		rv, ok := em["resource"]
		if !ok {
			return nil, &FHIRError{Path: path + ".resource", Problem: "missing"}
		}
		rpath := path + ".resource"
		rm, err := object(rv, rpath)
		if err != nil {
			return nil, err
		}
		rt, err := requiredString(rm, rpath, "resourceType")
		if err != nil {
			return nil, err
		}
		if rt != "Consent" {
			return nil, &FHIRError{Path: rpath + ".resourceType", Problem: fmt.Sprintf("%s: a consent bundle holds Consent resources only", quote(rt))}
		}
		im, err := parseConsent(rm, rpath)
		if err != nil {
			return nil, err
		}
		if id := im.Consent.ID; id != "" {
			if j, dup := seen[id]; dup {
				return nil, &FHIRError{Path: rpath + ".id", Problem: fmt.Sprintf("consent id %s also used by entry[%d]", id, j)}
			}
			seen[id] = i
		}
		out = append(out, im)
	}
	return out, nil
}

var fhirID = regexp.MustCompile(`^[A-Za-z0-9\-.]{1,64}$`)

func parseConsent(m map[string]any, base string) (Imported, error) {
	if err := checkKeys(m, base,
		[]string{"resourceType", "id", "status", "scope", "category", "patient", "dateTime", "performer", "policy", "policyRule", "provision"},
		"meta", "language", "text", "identifier", "organization", "sourceAttachment", "sourceReference", "verification"); err != nil {
		return Imported{}, err
	}
	c := &ethos.Consent{}
	var im Imported

	if id, ok, err := optionalString(m, base, "id"); err != nil {
		return im, err
	} else if ok {
		if !fhirID.MatchString(id) {
			return im, &FHIRError{Path: join(base, "id"), Problem: "not a FHIR id (1-64 letters, digits, '-' or '.')"}
		}
		c.ID = id
	}

	st, err := requiredString(m, base, "status")
	if err != nil {
		return im, err
	}
	c.Status = ethos.ConsentStatus(st)
	if !c.Status.Valid() {
		return im, &FHIRError{Path: join(base, "status"), Problem: fmt.Sprintf("unknown status %s", quote(st))}
	}

	// scope (1..1): one coding from consentscope.
	sv, ok := m["scope"]
	if !ok {
		return im, &FHIRError{Path: join(base, "scope"), Problem: "missing"}
	}
	codings, err := codeableConcept(sv, join(base, "scope"))
	if err != nil {
		return im, err
	}
	for _, cd := range codings {
		if cd.System != ScopeSystem {
			continue
		}
		if !ethos.ConsentScope(cd.Code).Valid() {
			return im, &FHIRError{Path: cd.path + ".code", Problem: fmt.Sprintf("unknown consent scope %s", quote(cd.Code))}
		}
		c.Scope = ethos.ConsentScope(cd.Code)
	}
	if c.Scope == "" {
		return im, &FHIRError{Path: join(base, "scope"), Problem: "no coding from " + ScopeSystem}
	}

	// category (1..*): kept as given.
	cats, err := array(m, base, "category")
	if err != nil {
		return im, err
	}
	if len(cats) == 0 {
		return im, &FHIRError{Path: join(base, "category"), Problem: "at least one category is required"}
	}
	for i, cv := range cats {
		cds, err := codeableConcept(cv, fmt.Sprintf("%s[%d]", join(base, "category"), i))
		if err != nil {
			return im, err
		}
		for _, cd := range cds {
			if cd.Code == "" || cd.System == "" {
				return im, &FHIRError{Path: cd.path, Problem: "category coding needs a system and a code"}
			}
			c.Categories = append(c.Categories, cd.Coding)
		}
	}

	// patient: the identifier, or an Ethos subject key.
	pv, ok := m["patient"]
	if !ok {
		return im, &FHIRError{Path: join(base, "patient"), Problem: "missing: a consent must name its patient"}
	}
	subject, patient, err := patientRef(pv, join(base, "patient"))
	if err != nil {
		return im, err
	}
	c.Subject, im.Patient = subject, patient

	dt, ok, err := optionalString(m, base, "dateTime")
	if err != nil {
		return im, err
	}
	if !ok {
		return im, &FHIRError{Path: join(base, "dateTime"), Problem: "missing: Ethos needs the date the consent was given"}
	}
	if c.DateTime, _, err = parseDateTime(dt, join(base, "dateTime")); err != nil {
		return im, err
	}

	performers, err := array(m, base, "performer")
	if err != nil {
		return im, err
	}
	for i, p := range performers {
		g, err := grantor(p, fmt.Sprintf("%s[%d]", join(base, "performer"), i))
		if err != nil {
			return im, err
		}
		c.Grantors = append(c.Grantors, g)
	}

	policies, err := array(m, base, "policy")
	if err != nil {
		return im, err
	}
	for i, p := range policies {
		path := fmt.Sprintf("%s[%d]", join(base, "policy"), i)
		pm, err := object(p, path)
		if err != nil {
			return im, err
		}
		if err := checkKeys(pm, path, []string{"authority", "uri"}, "id"); err != nil {
			return im, err
		}
		var pol ethos.Policy
		if pol.Authority, _, err = optionalString(pm, path, "authority"); err != nil {
			return im, err
		}
		if pol.URI, _, err = optionalString(pm, path, "uri"); err != nil {
			return im, err
		}
		if pol.Authority == "" && pol.URI == "" {
			return im, &FHIRError{Path: path, Problem: "policy needs an authority or a uri"}
		}
		c.Policies = append(c.Policies, pol)
	}
	if prv, ok := m["policyRule"]; ok {
		cds, err := codeableConcept(prv, join(base, "policyRule"))
		if err != nil {
			return im, err
		}
		if len(cds) == 0 || cds[0].Code == "" {
			return im, &FHIRError{Path: join(base, "policyRule"), Problem: "policy rule needs a coded value"}
		}
		c.PolicyRule = cds[0].Coding
	}
	if len(c.Policies) == 0 && c.PolicyRule.IsZero() {
		return im, &FHIRError{Path: join(base, "policy"), Problem: "a consent needs a policy or a policyRule (FHIR ppc-1)"}
	}

	if pv, ok := m["provision"]; ok {
		count := 0
		if err := provision(pv, join(base, "provision"), 0, &count, &c.Provision); err != nil {
			return im, err
		}
	}

	// Whatever the parser let through must also pass the vocabulary's own
	// validation. A consent imported with a raw identifier has no subject
	// key yet, so a placeholder stands in for the check.
	check := *c
	if check.Subject == "" {
		check.Subject = ethos.SubjectKey(strings.Repeat("0", 64))
	}
	if err := check.Validate(); err != nil {
		return im, &FHIRError{Path: base, Problem: ethos.ErrorMessage(err)}
	}
	im.Consent = c
	return im, nil
}

func provision(v any, path string, depth int, count *int, p *ethos.Provision) error {
	*count++
	if *count > ethos.MaxProvisions {
		return &FHIRError{Path: path, Problem: fmt.Sprintf("more than %d provisions", ethos.MaxProvisions)}
	}
	if depth > ethos.MaxProvisionDepth {
		return &FHIRError{Path: path, Problem: fmt.Sprintf("provisions nested deeper than %d levels", ethos.MaxProvisionDepth)}
	}
	m, err := object(v, path)
	if err != nil {
		return err
	}
	if err := checkKeys(m, path, []string{"type", "period", "actor", "action", "purpose", "class", "code", "dataPeriod", "provision"}, "id"); err != nil {
		return err
	}
	if t, ok, err := optionalString(m, path, "type"); err != nil {
		return err
	} else if ok {
		p.Type = ethos.ProvisionType(t)
		if p.Type != ethos.ProvisionPermit && p.Type != ethos.ProvisionDeny {
			return &FHIRError{Path: path + ".type", Problem: fmt.Sprintf("unknown provision type %s (want deny or permit)", quote(t))}
		}
	}
	if pv, ok := m["period"]; ok {
		if p.Period, err = period(pv, path+".period"); err != nil {
			return err
		}
	}
	if pv, ok := m["dataPeriod"]; ok {
		if p.DataPeriod, err = period(pv, path+".dataPeriod"); err != nil {
			return err
		}
	}
	actors, err := array(m, path, "actor")
	if err != nil {
		return err
	}
	for i, a := range actors {
		apath := fmt.Sprintf("%s.actor[%d]", path, i)
		am, err := object(a, apath)
		if err != nil {
			return err
		}
		if err := checkKeys(am, apath, []string{"role", "reference"}, "id"); err != nil {
			return err
		}
		var act ethos.Actor
		rv, ok := am["role"]
		if !ok {
			return &FHIRError{Path: apath + ".role", Problem: "missing"}
		}
		cds, err := codeableConcept(rv, apath+".role")
		if err != nil {
			return err
		}
		if len(cds) == 0 || cds[0].Code == "" {
			return &FHIRError{Path: apath + ".role", Problem: "role needs a coded value"}
		}
		act.Role = cds[0].Coding
		refv, ok := am["reference"]
		if !ok {
			return &FHIRError{Path: apath + ".reference", Problem: "missing"}
		}
		kind, party, err := reference(refv, apath+".reference")
		if err != nil {
			return err
		}
		if party == "" {
			return &FHIRError{Path: apath + ".reference", Problem: fmt.Sprintf("a %s actor cannot be named; actors must be Ethos parties", kind)}
		}
		act.Party = party
		p.Actors = append(p.Actors, act)
	}
	actions, err := array(m, path, "action")
	if err != nil {
		return err
	}
	for i, a := range actions {
		cds, err := codeableConcept(a, fmt.Sprintf("%s.action[%d]", path, i))
		if err != nil {
			return err
		}
		for _, cd := range cds {
			if cd.System != ActionSystem {
				return &FHIRError{Path: cd.path + ".system", Problem: fmt.Sprintf("unknown action code system %s (want %s)", quote(cd.System), ActionSystem)}
			}
			if !ethos.ConsentAction(cd.Code).Valid() {
				return &FHIRError{Path: cd.path + ".code", Problem: fmt.Sprintf("unknown consent action %s", quote(cd.Code))}
			}
			p.Actions = appendNew(p.Actions, ethos.ConsentAction(cd.Code))
		}
	}
	purposes, err := array(m, path, "purpose")
	if err != nil {
		return err
	}
	for i, pv := range purposes {
		cd, err := coding(pv, fmt.Sprintf("%s.purpose[%d]", path, i))
		if err != nil {
			return err
		}
		pu, ok := ethos.PurposeFromCoding(cd.System, cd.Code)
		if !ok {
			switch cd.System {
			case ethos.PurposeSystemHL7, ethos.PurposeSystemEthos:
				return &FHIRError{Path: cd.path + ".code", Problem: fmt.Sprintf("unknown purpose code %s in %s", quote(cd.Code), cd.System)}
			}
			return &FHIRError{Path: cd.path + ".system", Problem: fmt.Sprintf("unknown purpose code system %s (want %s or %s)", quote(cd.System), ethos.PurposeSystemHL7, ethos.PurposeSystemEthos)}
		}
		p.Purposes = appendNew(p.Purposes, pu)
	}
	classes, err := array(m, path, "class")
	if err != nil {
		return err
	}
	for i, cv := range classes {
		cd, err := coding(cv, fmt.Sprintf("%s.class[%d]", path, i))
		if err != nil {
			return err
		}
		// All data Ethos holds is imaging data: a class restricted to
		// ImagingStudy is implied; any other class would make the provision
		// about data Ethos does not hold, which the engine could not honour.
		if cd.System != ResourceTypesSystem || cd.Code != "ImagingStudy" {
			return &FHIRError{Path: cd.path, Problem: fmt.Sprintf("unsupported data class %s|%s (only %s|ImagingStudy)", quote(cd.System), quote(cd.Code), ResourceTypesSystem)}
		}
	}
	codes, err := array(m, path, "code")
	if err != nil {
		return err
	}
	for i, cv := range codes {
		cds, err := codeableConcept(cv, fmt.Sprintf("%s.code[%d]", path, i))
		if err != nil {
			return err
		}
		for _, cd := range cds {
			switch cd.System {
			case ModalitySystem:
				if !ethos.ValidModality(cd.Code) {
					return &FHIRError{Path: cd.path + ".code", Problem: fmt.Sprintf("%s is not a DICOM modality", quote(cd.Code))}
				}
				p.Modalities = appendNew(p.Modalities, cd.Code)
			case BodyPartSystem:
				if !ethos.ValidBodyPart(cd.Code) {
					return &FHIRError{Path: cd.path + ".code", Problem: fmt.Sprintf("%s is not a DICOM body part term", quote(cd.Code))}
				}
				p.BodyParts = appendNew(p.BodyParts, cd.Code)
			default:
				return &FHIRError{Path: cd.path + ".system", Problem: fmt.Sprintf("unknown data code system %s (want %s or %s)", quote(cd.System), ModalitySystem, BodyPartSystem)}
			}
		}
	}
	nested, err := array(m, path, "provision")
	if err != nil {
		return err
	}
	if len(nested) > 0 {
		p.Provisions = make([]ethos.Provision, len(nested))
	}
	for i, nv := range nested {
		if err := provision(nv, fmt.Sprintf("%s.provision[%d]", path, i), depth+1, count, &p.Provisions[i]); err != nil {
			return err
		}
	}
	return nil
}

func appendNew[T comparable](s []T, v T) []T {
	if slices.Contains(s, v) {
		return s
	}
	return append(s, v)
}

// patientRef reads Consent.patient. The identifier value is never quoted
// in an error.
func patientRef(v any, path string) (ethos.SubjectKey, *ethos.PatientIdentifier, error) {
	m, err := object(v, path)
	if err != nil {
		return "", nil, err
	}
	if err := checkKeys(m, path, []string{"reference", "type", "identifier", "display"}, "id"); err != nil {
		return "", nil, err
	}
	if t, ok, err := optionalString(m, path, "type"); err != nil {
		return "", nil, err
	} else if ok && t != "Patient" && t != "http://hl7.org/fhir/StructureDefinition/Patient" {
		return "", nil, &FHIRError{Path: path + ".type", Problem: fmt.Sprintf("%s is not Patient", quote(t))}
	}
	iv, ok := m["identifier"]
	if !ok {
		return "", nil, &FHIRError{Path: path + ".identifier", Problem: "missing: Ethos links consents to patients by identifier (system and value), not by a server-local reference"}
	}
	ipath := path + ".identifier"
	im, err := object(iv, ipath)
	if err != nil {
		return "", nil, err
	}
	if err := checkKeys(im, ipath, []string{"system", "value"}, "id", "use", "type", "period", "assigner"); err != nil {
		return "", nil, err
	}
	system, _, err := optionalString(im, ipath, "system")
	if err != nil {
		return "", nil, err
	}
	value, _, err := optionalText(im, ipath, "value")
	if err != nil {
		return "", nil, err
	}
	switch {
	case system == "":
		return "", nil, &FHIRError{Path: ipath + ".system", Problem: "missing: the identifier's issuer is needed to derive the subject key"}
	case strings.TrimSpace(value) == "":
		return "", nil, &FHIRError{Path: ipath + ".value", Problem: "missing"}
	case system == SubjectKeySystem:
		k := ethos.SubjectKey(value)
		if !k.Valid() {
			return "", nil, &FHIRError{Path: ipath + ".value", Problem: "not an Ethos subject key (64 lowercase hex digits)"}
		}
		return k, nil, nil
	}
	return "", &ethos.PatientIdentifier{Issuer: system, Value: value}, nil
}

var referenceKinds = []string{"Patient", "RelatedPerson", "Practitioner", "PractitionerRole", "Organization"}

// reference reads a performer or actor reference: its kind and, for
// practitioners and organisations, the Ethos party id (from an identifier
// in PartySystem, or the id of a literal reference). Patients and related
// persons are never named.
func reference(v any, path string) (ethos.GrantorKind, string, error) {
	m, err := object(v, path)
	if err != nil {
		return "", "", err
	}
	if err := checkKeys(m, path, []string{"reference", "type", "identifier", "display"}, "id"); err != nil {
		return "", "", err
	}
	typ, _, err := optionalString(m, path, "type")
	if err != nil {
		return "", "", err
	}
	typ = strings.TrimPrefix(typ, "http://hl7.org/fhir/StructureDefinition/")
	ref, _, err := optionalString(m, path, "reference")
	if err != nil {
		return "", "", err
	}
	var refID string
	if ref != "" {
		rt, id, ok := strings.Cut(ref, "/")
		if !ok || !fhirID.MatchString(id) || strings.Contains(rt, ":") {
			return "", "", &FHIRError{Path: path + ".reference", Problem: "want a relative reference Type/id"}
		}
		if typ != "" && typ != rt {
			return "", "", &FHIRError{Path: path + ".reference", Problem: fmt.Sprintf("reference type %s disagrees with type %s", quote(rt), quote(typ))}
		}
		typ, refID = rt, id
	}
	if typ == "" {
		return "", "", &FHIRError{Path: path, Problem: "reference needs a type or a relative reference"}
	}
	if !slices.Contains(referenceKinds, typ) {
		return "", "", &FHIRError{Path: path + ".type", Problem: fmt.Sprintf("unsupported reference type %s (want one of %s)", quote(typ), strings.Join(referenceKinds, ", "))}
	}
	kind := ethos.GrantorKind(typ)
	if kind == ethos.GrantorPatient || kind == ethos.GrantorRelatedPerson {
		return kind, "", nil
	}
	party := refID
	if iv, ok := m["identifier"]; ok {
		ipath := path + ".identifier"
		im, err := object(iv, ipath)
		if err != nil {
			return "", "", err
		}
		if err := checkKeys(im, ipath, []string{"system", "value"}, "id", "use", "type", "period", "assigner"); err != nil {
			return "", "", err
		}
		system, _, err := optionalString(im, ipath, "system")
		if err != nil {
			return "", "", err
		}
		value, _, err := optionalString(im, ipath, "value")
		if err != nil {
			return "", "", err
		}
		if system != PartySystem {
			return "", "", &FHIRError{Path: ipath + ".system", Problem: fmt.Sprintf("unknown party naming system %s (want %s)", quote(system), PartySystem)}
		}
		if !fhirID.MatchString(value) {
			return "", "", &FHIRError{Path: ipath + ".value", Problem: "not an Ethos party id"}
		}
		if party != "" && party != value {
			return "", "", &FHIRError{Path: ipath + ".value", Problem: "party id disagrees with the reference"}
		}
		party = value
	}
	if party == "" {
		return "", "", &FHIRError{Path: path, Problem: fmt.Sprintf("a %s must be named by a relative reference or a party identifier", typ)}
	}
	return kind, party, nil
}

func grantor(v any, path string) (ethos.Grantor, error) {
	kind, party, err := reference(v, path)
	if err != nil {
		return ethos.Grantor{}, err
	}
	return ethos.Grantor{Kind: kind, Party: party}, nil
}

type pathCoding struct {
	ethos.Coding
	path string
}

func coding(v any, path string) (pathCoding, error) {
	m, err := object(v, path)
	if err != nil {
		return pathCoding{}, err
	}
	if err := checkKeys(m, path, []string{"system", "code", "display"}, "id", "version", "userSelected"); err != nil {
		return pathCoding{}, err
	}
	cd := pathCoding{path: path}
	if cd.System, _, err = optionalString(m, path, "system"); err != nil {
		return cd, err
	}
	if cd.Code, _, err = optionalString(m, path, "code"); err != nil {
		return cd, err
	}
	if cd.Display, _, err = optionalText(m, path, "display"); err != nil {
		return cd, err
	}
	if cd.Code == "" {
		return cd, &FHIRError{Path: path + ".code", Problem: "missing"}
	}
	return cd, nil
}

func codeableConcept(v any, path string) ([]pathCoding, error) {
	m, err := object(v, path)
	if err != nil {
		return nil, err
	}
	if err := checkKeys(m, path, []string{"coding", "text"}, "id"); err != nil {
		return nil, err
	}
	if _, _, err := optionalText(m, path, "text"); err != nil {
		return nil, err
	}
	list, err := array(m, path, "coding")
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, &FHIRError{Path: path + ".coding", Problem: "missing: Ethos needs coded values, not text"}
	}
	out := make([]pathCoding, 0, len(list))
	for i, cv := range list {
		cd, err := coding(cv, fmt.Sprintf("%s.coding[%d]", path, i))
		if err != nil {
			return nil, err
		}
		out = append(out, cd)
	}
	return out, nil
}

func period(v any, path string) (ethos.Period, error) {
	m, err := object(v, path)
	if err != nil {
		return ethos.Period{}, err
	}
	if err := checkKeys(m, path, []string{"start", "end"}, "id"); err != nil {
		return ethos.Period{}, err
	}
	var p ethos.Period
	if s, ok, err := optionalString(m, path, "start"); err != nil {
		return p, err
	} else if ok {
		if p.Start, _, err = parseDateTime(s, path+".start"); err != nil {
			return p, err
		}
	}
	if s, ok, err := optionalString(m, path, "end"); err != nil {
		return p, err
	} else if ok {
		t, prec, err := parseDateTime(s, path+".end")
		if err != nil {
			return p, err
		}
		p.End = lastInstant(t, prec)
	}
	if !p.Start.IsZero() && !p.End.IsZero() && p.End.Before(p.Start) {
		return p, &FHIRError{Path: path, Problem: "ends before it starts"}
	}
	if p.IsZero() {
		return p, &FHIRError{Path: path, Problem: "empty period"}
	}
	return p, nil
}

// ---------------------------------------------------------------------------
// FHIR dateTime

type precision int

const (
	precYear precision = iota
	precMonth
	precDay
	precSecond
	precFraction
)

var fhirDateTime = regexp.MustCompile(`^[0-9]{4}(-[0-9]{2}(-[0-9]{2}(T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2}))?)?)?$`)

// parseDateTime parses a FHIR dateTime. Dates without a time are taken in
// UTC.
func parseDateTime(s, path string) (time.Time, precision, error) {
	if !fhirDateTime.MatchString(s) {
		return time.Time{}, 0, &FHIRError{Path: path, Problem: fmt.Sprintf("%s is not a FHIR dateTime (YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ss[.f]+zone)", quote(s))}
	}
	var (
		t    time.Time
		err  error
		prec precision
	)
	switch len(s) {
	case 4:
		t, err, prec = parseIn("2006", s), nil, precYear
	case 7:
		t, err, prec = parseIn("2006-01", s), nil, precMonth
	case 10:
		t, err, prec = parseIn("2006-01-02", s), nil, precDay
	default:
		t, err = time.Parse(time.RFC3339Nano, s)
		prec = precSecond
		if strings.Contains(s, ".") {
			prec = precFraction
		}
	}
	if err != nil || t.IsZero() {
		return time.Time{}, 0, &FHIRError{Path: path, Problem: fmt.Sprintf("%s is not a valid date or time", quote(s))}
	}
	return t, prec, nil
}

func parseIn(layout, s string) time.Time {
	t, err := time.Parse(layout, s)
	if err != nil {
		return time.Time{}
	}
	return t
}

// lastInstant returns the last instant a value of precision p starting at t
// covers: FHIR period ends include the whole unit they name.
func lastInstant(t time.Time, p precision) time.Time {
	switch p {
	case precYear:
		return t.AddDate(1, 0, 0).Add(-time.Nanosecond)
	case precMonth:
		return t.AddDate(0, 1, 0).Add(-time.Nanosecond)
	case precDay:
		return t.AddDate(0, 0, 1).Add(-time.Nanosecond)
	case precSecond:
		return t.Add(time.Second - time.Nanosecond)
	}
	return t
}

func isUTCMidnight(t time.Time) bool {
	_, off := t.Zone()
	return off == 0 && t.Hour() == 0 && t.Minute() == 0 && t.Second() == 0 && t.Nanosecond() == 0
}

// formatStart writes an instant as a FHIR dateTime: a date when it is
// midnight UTC, otherwise a time with its zone.
func formatStart(t time.Time) string {
	if isUTCMidnight(t) {
		return t.Format("2006-01-02")
	}
	return t.Format(time.RFC3339Nano)
}

// formatEnd writes a period end so that parsing it gives back t: a date
// when t is the last instant of a UTC day, whole seconds when t is the last
// instant of a second, otherwise all nine fraction digits.
func formatEnd(t time.Time) string {
	next := t.Add(time.Nanosecond)
	switch {
	case isUTCMidnight(next):
		return t.Format("2006-01-02")
	case next.Nanosecond() == 0:
		return t.Format(time.RFC3339)
	}
	return t.Format("2006-01-02T15:04:05.000000000Z07:00")
}

// ---------------------------------------------------------------------------
// JSON tree helpers

func object(v any, path string) (map[string]any, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, &FHIRError{Path: path, Problem: "want a JSON object, found " + kindOf(v)}
	}
	return m, nil
}

func array(m map[string]any, base, key string) ([]any, error) {
	v, ok := m[key]
	if !ok {
		return nil, nil
	}
	a, ok := v.([]any)
	if !ok {
		return nil, &FHIRError{Path: join(base, key), Problem: "want a JSON array, found " + kindOf(v)}
	}
	if len(a) == 0 {
		return nil, &FHIRError{Path: join(base, key), Problem: "empty array (FHIR JSON omits empty elements)"}
	}
	return a, nil
}

func optionalString(m map[string]any, base, key string) (string, bool, error) {
	v, ok := m[key]
	if !ok {
		return "", false, nil
	}
	s, ok := v.(string)
	if !ok {
		return "", false, &FHIRError{Path: join(base, key), Problem: "want a string, found " + kindOf(v)}
	}
	if s == "" || strings.TrimSpace(s) != s {
		return "", false, &FHIRError{Path: join(base, key), Problem: "empty or padded string (FHIR forbids both)"}
	}
	return s, true, nil
}

// optionalText reads an element of FHIR type string, where leading and
// trailing whitespace is allowed (codes, ids, uris and dates forbid it).
// The value is never quoted in an error.
func optionalText(m map[string]any, base, key string) (string, bool, error) {
	v, ok := m[key]
	if !ok {
		return "", false, nil
	}
	s, ok := v.(string)
	if !ok {
		return "", false, &FHIRError{Path: join(base, key), Problem: "want a string, found " + kindOf(v)}
	}
	if s == "" {
		return "", false, &FHIRError{Path: join(base, key), Problem: "empty string (FHIR JSON omits empty elements)"}
	}
	return s, true, nil
}

func requiredString(m map[string]any, base, key string) (string, error) {
	s, ok, err := optionalString(m, base, key)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", &FHIRError{Path: join(base, key), Problem: "missing"}
	}
	return s, nil
}

// checkKeys fails on an element that is neither known nor in ignored.
// Extensions are ignored; modifier extensions and implicit rules change the
// meaning of the resource, so they are refused. "_x" (the extensions of a
// primitive x) is ignored when x is allowed.
func checkKeys(m map[string]any, path string, known []string, ignored ...string) error {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		switch {
		case slices.Contains(known, k), slices.Contains(ignored, k), k == "extension":
			continue
		case k == "modifierExtension":
			return &FHIRError{Path: join(path, k), Problem: "modifier extensions change the meaning of a resource; Ethos does not understand them and refuses the resource"}
		case k == "implicitRules":
			return &FHIRError{Path: join(path, k), Problem: "implicit rules are not supported"}
		case strings.HasPrefix(k, "_") && (slices.Contains(known, k[1:]) || slices.Contains(ignored, k[1:])):
			continue
		}
		return &FHIRError{Path: join(path, k), Problem: "unknown or unsupported element"}
	}
	return nil
}

func kindOf(v any) string {
	switch v.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

// quote quotes a code for an error message, cut to 64 bytes. Only codes
// and systems are quoted, never identifier values.
func quote(s string) string {
	if len(s) > 64 {
		s = s[:64] + "…"
	}
	return strconv.Quote(s)
}

// ---------------------------------------------------------------------------
// Export

type fhirCoding struct {
	System  string `json:"system,omitempty"`
	Code    string `json:"code"`
	Display string `json:"display,omitempty"`
}

type fhirCC struct {
	Coding []fhirCoding `json:"coding"`
}

type fhirIdentifier struct {
	System string `json:"system"`
	Value  string `json:"value"`
}

type fhirRef struct {
	Reference  string          `json:"reference,omitempty"`
	Type       string          `json:"type,omitempty"`
	Identifier *fhirIdentifier `json:"identifier,omitempty"`
}

type fhirPeriod struct {
	Start string `json:"start,omitempty"`
	End   string `json:"end,omitempty"`
}

type fhirPolicy struct {
	Authority string `json:"authority,omitempty"`
	URI       string `json:"uri,omitempty"`
}

type fhirActor struct {
	Role      fhirCC  `json:"role"`
	Reference fhirRef `json:"reference"`
}

type fhirProvision struct {
	Type       string          `json:"type,omitempty"`
	Period     *fhirPeriod     `json:"period,omitempty"`
	Actor      []fhirActor     `json:"actor,omitempty"`
	Action     []fhirCC        `json:"action,omitempty"`
	Purpose    []fhirCoding    `json:"purpose,omitempty"`
	Code       []fhirCC        `json:"code,omitempty"`
	DataPeriod *fhirPeriod     `json:"dataPeriod,omitempty"`
	Provision  []fhirProvision `json:"provision,omitempty"`
}

type fhirConsent struct {
	ResourceType string         `json:"resourceType"`
	ID           string         `json:"id,omitempty"`
	Status       string         `json:"status"`
	Scope        fhirCC         `json:"scope"`
	Category     []fhirCC       `json:"category"`
	Patient      fhirRef        `json:"patient"`
	DateTime     string         `json:"dateTime"`
	Performer    []fhirRef      `json:"performer,omitempty"`
	Policy       []fhirPolicy   `json:"policy,omitempty"`
	PolicyRule   *fhirCC        `json:"policyRule,omitempty"`
	Provision    *fhirProvision `json:"provision,omitempty"`
}

type fhirEntry struct {
	FullURL  string       `json:"fullUrl,omitempty"`
	Resource *fhirConsent `json:"resource"`
}

type fhirBundle struct {
	ResourceType string      `json:"resourceType"`
	Type         string      `json:"type"`
	Entry        []fhirEntry `json:"entry,omitempty"`
}

// DefaultCategory is the category written for a consent that has none: the
// LOINC code for a patient consent document.
var DefaultCategory = ethos.Coding{System: "http://loinc.org", Code: "59284-0", Display: "Patient Consent"}

// DefaultActorRole is the role written for an actor that has none: HL7 v3
// ParticipationType IRCP, information recipient (FHIR requires a role).
var DefaultActorRole = ethos.Coding{System: "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", Code: "IRCP", Display: "information recipient"}

// MarshalFHIR writes c as a FHIR R4 Consent resource in indented JSON. The
// patient is named by its subject key (SubjectKeySystem), never by a real
// identifier. c must be valid (ethos.Consent.Validate).
func MarshalFHIR(c *ethos.Consent) ([]byte, error) {
	fc, err := toFHIR(c)
	if err != nil {
		return nil, err
	}
	return marshal(fc)
}

// MarshalFHIRBundle writes consents as a FHIR Bundle of type collection.
func MarshalFHIRBundle(consents []*ethos.Consent) ([]byte, error) {
	b := fhirBundle{ResourceType: "Bundle", Type: "collection"}
	for _, c := range consents {
		fc, err := toFHIR(c)
		if err != nil {
			return nil, err
		}
		e := fhirEntry{Resource: fc}
		if c.ID != "" {
			e.FullURL = "Consent/" + c.ID
		}
		b.Entry = append(b.Entry, e)
	}
	return marshal(b)
}

func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encode FHIR consent: %w", err)
	}
	return buf.Bytes(), nil
}

func toFHIR(c *ethos.Consent) (*fhirConsent, error) {
	if c == nil {
		return nil, ethos.Errorf(ethos.EINVALID, "nil consent")
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	fc := &fhirConsent{
		ResourceType: "Consent",
		ID:           c.ID,
		Status:       string(c.Status),
		Scope:        fhirCC{Coding: []fhirCoding{{System: ScopeSystem, Code: string(c.Scope)}}},
		Patient:      fhirRef{Type: "Patient", Identifier: &fhirIdentifier{System: SubjectKeySystem, Value: string(c.Subject)}},
		DateTime:     formatStart(c.DateTime),
	}
	cats := c.Categories
	if len(cats) == 0 {
		cats = []ethos.Coding{DefaultCategory}
	}
	for _, cd := range cats {
		fc.Category = append(fc.Category, fhirCC{Coding: []fhirCoding{codingOut(cd)}})
	}
	for _, g := range c.Grantors {
		fc.Performer = append(fc.Performer, partyRef(g.Kind, g.Party, c.Subject))
	}
	for _, p := range c.Policies {
		fc.Policy = append(fc.Policy, fhirPolicy(p))
	}
	if !c.PolicyRule.IsZero() {
		fc.PolicyRule = &fhirCC{Coding: []fhirCoding{codingOut(c.PolicyRule)}}
	}
	if !provisionIsZero(&c.Provision) {
		fp := provisionOut(&c.Provision)
		fc.Provision = &fp
	}
	return fc, nil
}

func codingOut(c ethos.Coding) fhirCoding { return fhirCoding(c) }

func partyRef(kind ethos.GrantorKind, party string, subject ethos.SubjectKey) fhirRef {
	switch {
	case kind == ethos.GrantorPatient:
		return fhirRef{Type: "Patient", Identifier: &fhirIdentifier{System: SubjectKeySystem, Value: string(subject)}}
	case party == "":
		return fhirRef{Type: string(kind)}
	}
	return fhirRef{Reference: string(kind) + "/" + party, Identifier: &fhirIdentifier{System: PartySystem, Value: party}}
}

func periodOut(p ethos.Period) *fhirPeriod {
	if p.IsZero() {
		return nil
	}
	fp := &fhirPeriod{}
	if !p.Start.IsZero() {
		fp.Start = formatStart(p.Start)
	}
	if !p.End.IsZero() {
		fp.End = formatEnd(p.End)
	}
	return fp
}

func provisionIsZero(p *ethos.Provision) bool {
	return p.Type == "" && p.Period.IsZero() && p.DataPeriod.IsZero() && len(p.Actors) == 0 && len(p.Actions) == 0 &&
		len(p.Purposes) == 0 && len(p.Modalities) == 0 && len(p.BodyParts) == 0 && len(p.Provisions) == 0
}

func provisionOut(p *ethos.Provision) fhirProvision {
	fp := fhirProvision{Type: string(p.Type), Period: periodOut(p.Period), DataPeriod: periodOut(p.DataPeriod)}
	for _, a := range p.Actors {
		// Actors are practitioners, organisations or care teams in FHIR;
		// Ethos parties are exported as Organization references.
		role := a.Role
		if role.IsZero() {
			role = DefaultActorRole
		}
		fp.Actor = append(fp.Actor, fhirActor{
			Role:      fhirCC{Coding: []fhirCoding{codingOut(role)}},
			Reference: partyRef(ethos.GrantorOrganization, a.Party, ""),
		})
	}
	for _, a := range p.Actions {
		fp.Action = append(fp.Action, fhirCC{Coding: []fhirCoding{{System: ActionSystem, Code: string(a)}}})
	}
	for _, pu := range p.Purposes {
		fp.Purpose = append(fp.Purpose, codingOut(pu.Coding()))
	}
	for _, m := range p.Modalities {
		fp.Code = append(fp.Code, fhirCC{Coding: []fhirCoding{{System: ModalitySystem, Code: m}}})
	}
	for _, b := range p.BodyParts {
		fp.Code = append(fp.Code, fhirCC{Coding: []fhirCoding{{System: BodyPartSystem, Code: b}}})
	}
	for i := range p.Provisions {
		fp.Provision = append(fp.Provision, provisionOut(&p.Provisions[i]))
	}
	return fp
}
