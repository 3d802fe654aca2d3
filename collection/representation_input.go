package collection

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/dicom"
	"github.com/ethos-imaging/ethos/dicom/tag"
)

// Limits on the inputs of the representation report: a value longer than
// MaxValueLen or a file with more than MaxRecords rows is refused.
const (
	MaxValueLen = 256
	MaxRecords  = 10_000_000
	// MaxAttributes bounds the attributes of one report (every pair is
	// an intersection: 24 attributes make 276).
	MaxAttributes = 24
	maxRefBytes   = 4 << 20
)

// ReadReference reads a reference population in JSON (the fields of
// ethos.ReferencePopulation; unknown fields are refused) and validates it.
func ReadReference(r io.Reader) (*ethos.ReferencePopulation, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxRefBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read reference: %w", err)
	}
	if len(b) > maxRefBytes {
		return nil, ethos.Errorf(ethos.EINVALID, "reference: larger than %d bytes", maxRefBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var ref ethos.ReferencePopulation
	if err := dec.Decode(&ref); err != nil {
		if se, ok := errors.AsType[*json.SyntaxError](err); ok {
			return nil, ethos.Errorf(ethos.EINVALID, "reference: JSON syntax error at byte %d: %v", se.Offset, err)
		}
		if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
			return nil, ethos.Errorf(ethos.EINVALID, "reference: field %s: want %s, got JSON %s (byte %d)", te.Field, te.Type, te.Value, te.Offset)
		}
		return nil, ethos.Errorf(ethos.EINVALID, "reference: %v", err)
	}
	if dec.More() {
		return nil, ethos.Errorf(ethos.EINVALID, "reference: data after the JSON object")
	}
	if err := ref.Validate(); err != nil {
		return nil, err
	}
	return &ref, nil
}

// ReadReferenceCSV reads expected shares from CSV with the header
// attribute,value,expected_share (one row per group); the name, floor and
// small-group threshold come from the caller.
func ReadReferenceCSV(r io.Reader, name string, floor float64, smallGroup int) (*ethos.ReferencePopulation, error) {
	cr := csv.NewReader(io.LimitReader(r, maxRefBytes))
	cr.FieldsPerRecord = 3
	cr.TrimLeadingSpace = true
	ref := &ethos.ReferencePopulation{Name: name, Floor: floor, SmallGroup: smallGroup, Expected: map[string]map[string]float64{}}
	for line := 1; ; line++ {
		rec, err := cr.Read()
		if err == io.EOF {
			if line == 1 {
				return nil, ethos.Errorf(ethos.EINVALID, "reference CSV: empty")
			}
			break
		}
		if err != nil {
			return nil, ethos.Errorf(ethos.EINVALID, "reference CSV: %v", err)
		}
		if line == 1 {
			if strings.Join(rec, ",") != "attribute,value,expected_share" {
				return nil, ethos.Errorf(ethos.EINVALID, "reference CSV line 1: header must be attribute,value,expected_share")
			}
			continue
		}
		a, v := strings.TrimSpace(rec[0]), strings.TrimSpace(rec[1])
		if !ethos.ValidAttributeName(a) {
			return nil, ethos.Errorf(ethos.EINVALID, "reference CSV line %d, column attribute: %q is not an attribute name", line, a)
		}
		if v == "" || len(v) > MaxValueLen || !utf8.ValidString(v) {
			return nil, ethos.Errorf(ethos.EINVALID, "reference CSV line %d, column value: empty, longer than %d bytes or not UTF-8", line, MaxValueLen)
		}
		s, err := strconv.ParseFloat(strings.TrimSpace(rec[2]), 64)
		if err != nil {
			return nil, ethos.Errorf(ethos.EINVALID, "reference CSV line %d, column expected_share: %q is not a number", line, rec[2])
		}
		if ref.Expected[a] == nil {
			ref.Expected[a] = map[string]float64{}
		}
		if _, dup := ref.Expected[a][v]; dup {
			return nil, ethos.Errorf(ethos.EINVALID, "reference CSV line %d: %s %q declared twice", line, a, v)
		}
		ref.Expected[a][v] = s
	}
	if err := ref.Validate(); err != nil {
		return nil, err
	}
	return ref, nil
}

// ReadInstancesCSV reads instance records from CSV with a header row. The
// columns instance, subject and label are special; a column age (whole
// years) fills age_band when there is no age_band column; every other
// column is an attribute named by its header. An empty cell is a missing
// value. Labels are 1/0, true/false, yes/no or positive/negative. A
// subject that is not already a subject key is hashed (SHA-256): it is
// used only to count each subject once and never appears in the report.
func ReadInstancesCSV(r io.Reader) ([]ethos.InstanceAttributes, error) {
	cr := csv.NewReader(r)
	cr.TrimLeadingSpace = true
	cr.ReuseRecord = true
	head, err := cr.Read()
	if err == io.EOF {
		return nil, ethos.Errorf(ethos.EINVALID, "instances CSV: empty (want a header row)")
	}
	if err != nil {
		return nil, ethos.Errorf(ethos.EINVALID, "instances CSV: %v", err)
	}
	cols := make([]string, len(head))
	seen := map[string]bool{}
	for i, h := range head {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		if !ethos.ValidAttributeName(h) {
			return nil, ethos.Errorf(ethos.EINVALID, "instances CSV line 1, column %d: %q is not a column name (lowercase letters, digits, _)", i+1, h)
		}
		if seen[h] {
			return nil, ethos.Errorf(ethos.EINVALID, "instances CSV line 1: column %q twice", h)
		}
		seen[h] = true
		cols[i] = h
	}
	if n := len(seen) - countTrue(seen["instance"], seen["subject"], seen["label"]); n > MaxAttributes {
		return nil, ethos.Errorf(ethos.EINVALID, "instances CSV line 1: %d attribute columns, at most %d", n, MaxAttributes)
	}
	ageToBand := seen["age"] && !seen[ethos.AttrAgeBand]
	var out []ethos.InstanceAttributes
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, ethos.Errorf(ethos.EINVALID, "instances CSV: %v", err)
		}
		if len(out) >= MaxRecords {
			return nil, ethos.Errorf(ethos.EINVALID, "instances CSV: more than %d rows", MaxRecords)
		}
		ia := ethos.InstanceAttributes{Attributes: map[string]string{}}
		for i, v := range rec {
			v = strings.TrimSpace(v)
			if len(v) > MaxValueLen {
				return nil, ethos.Errorf(ethos.EINVALID, "instances CSV line %d, column %s: value longer than %d bytes", line, cols[i], MaxValueLen)
			}
			if v == "" {
				continue
			}
			if !utf8.ValidString(v) {
				return nil, ethos.Errorf(ethos.EINVALID, "instances CSV line %d, column %s: not UTF-8", line, cols[i])
			}
			switch cols[i] {
			case "instance":
				ia.Instance = v
			case "subject":
				ia.Subject = ethos.SubjectKey(v)
				if !ia.Subject.Valid() {
					h := sha256.Sum256([]byte("ethos csv subject\x00" + v))
					ia.Subject = ethos.SubjectKey(hex.EncodeToString(h[:]))
				}
			case "label":
				b, ok := parseLabel(v)
				if !ok {
					return nil, ethos.Errorf(ethos.EINVALID, "instances CSV line %d, column label: %q is not a label (1/0, true/false, yes/no, positive/negative)", line, v)
				}
				ia.Label = &b
			case "age":
				if !ageToBand {
					ia.Attributes["age"] = v
					continue
				}
				n, err := strconv.Atoi(v)
				if err != nil || n < 0 || n > 150 {
					return nil, ethos.Errorf(ethos.EINVALID, "instances CSV line %d, column age: %q is not an age in whole years (0–150)", line, v)
				}
				ia.Attributes[ethos.AttrAgeBand] = ethos.AgeBand(n)
			default:
				ia.Attributes[cols[i]] = v
			}
		}
		out = append(out, ia)
	}
	return out, nil
}

func countTrue(bs ...bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

func parseLabel(s string) (bool, bool) {
	switch strings.ToLower(s) {
	case "1", "true", "yes", "positive", "pos":
		return true, true
	case "0", "false", "no", "negative", "neg":
		return false, true
	}
	return false, false
}

// DICOMAttributes says how AttributesFromDICOM pseudonymises what it reads.
type DICOMAttributes struct {
	// Key keys the institution pseudonym (HMAC-SHA-256 of the institution
	// name) and, when at least ethos.MinSubjectKeySecret bytes long, the
	// subject key derived from Issuer of Patient ID and Patient ID (so
	// each subject is counted once; an instance without a Patient ID
	// counts as a subject of its own). Keep it stable to compare reports.
	// With a shorter key, records carry no subject and instances are
	// counted.
	Key []byte
}

// AttributesFromDICOM derives an instance record from a data set's
// header: PatientSex, an age band from PatientAge (or PatientBirthDate and
// the study, series, acquisition or content date), EthnicGroup,
// a pseudonym of InstitutionName, Manufacturer and ManufacturerModelName.
// Identifiers are read only to derive the subject key.
func (o DICOMAttributes) AttributesFromDICOM(ds *dicom.Dataset) ethos.InstanceAttributes {
	ia := ethos.InstanceAttributes{Instance: ds.Text(tag.SOPInstanceUID), Attributes: map[string]string{}}
	set := func(k, v string) {
		v = strings.TrimSpace(strings.ToValidUTF8(v, "\uFFFD"))
		if v != "" && len(v) <= MaxValueLen {
			ia.Attributes[k] = v
		}
	}
	switch s := strings.ToUpper(ds.Text(tag.PatientSex)); s {
	case "M", "F", "O":
		set(ethos.AttrSex, s)
	}
	if years, ok := dicomAge(ds); ok {
		set(ethos.AttrAgeBand, ethos.AgeBand(years))
	}
	set(ethos.AttrEthnicity, ds.Text(tag.EthnicGroup))
	if name := strings.TrimSpace(ds.Text(tag.InstitutionName)); name != "" {
		m := hmac.New(sha256.New, o.Key)
		m.Write([]byte("ethos institution pseudonym v1\x00" + strings.ToUpper(name)))
		set(ethos.AttrInstitution, "site-"+hex.EncodeToString(m.Sum(nil))[:8])
	}
	set(ethos.AttrManufacturer, ds.Text(tag.Manufacturer))
	set(ethos.AttrModel, ds.Text(tag.ManufacturerModelName))
	if len(o.Key) >= ethos.MinSubjectKeySecret {
		// Without an issuer, IDs are taken as from one register; without a
		// patient ID, the instance stands for its own subject.
		id := ethos.PatientIdentifier{Issuer: ds.Text(tag.IssuerOfPatientID), Value: ds.Text(tag.PatientID)}
		if strings.TrimSpace(id.Issuer) == "" {
			id.Issuer = "ethos:unspecified-issuer"
		}
		if strings.Trim(id.Value, " \x00") == "" {
			id = ethos.PatientIdentifier{Issuer: "ethos:instance", Value: ia.Instance}
		}
		if k, err := ethos.DeriveSubjectKey(o.Key, id); err == nil {
			ia.Subject = k
		} else {
			// Neither a patient ID nor an instance UID: a subject of its own.
			b := make([]byte, 32)
			rand.Read(b)
			ia.Subject = ethos.SubjectKey(hex.EncodeToString(b))
		}
	}
	return ia
}

// dicomAge returns the patient's age in whole years at the time of the
// study: Patient's Age (AS: nnnD/W/M/Y) when present, otherwise the birth
// date and the first of the study, series, acquisition or content dates.
func dicomAge(ds *dicom.Dataset) (int, bool) {
	if years, ok := ageString(ds.Text(tag.PatientAge)); ok {
		return years, true
	}
	born, ok := dicomDate(ds.Text(tag.PatientBirthDate))
	if !ok {
		return 0, false
	}
	for _, t := range []tag.Tag{tag.StudyDate, tag.SeriesDate, tag.AcquisitionDate, tag.ContentDate} {
		at, ok := dicomDate(ds.Text(t))
		if !ok || at.Before(born) {
			continue
		}
		years := at.Year() - born.Year()
		if at.Month() < born.Month() || at.Month() == born.Month() && at.Day() < born.Day() {
			years--
		}
		if years <= 150 {
			return years, true
		}
	}
	return 0, false
}

// ageString reads a DICOM AS value (e.g. "045Y", "018M") in whole years.
func ageString(s string) (int, bool) {
	s = strings.TrimSpace(s)
	if len(s) != 4 {
		return 0, false
	}
	n, err := strconv.Atoi(s[:3])
	if err != nil || n < 0 {
		return 0, false
	}
	var years int
	switch s[3] {
	case 'Y', 'y':
		years = n
	case 'M', 'm':
		years = n / 12
	case 'W', 'w':
		years = n * 7 / 365
	case 'D', 'd':
		years = n / 365
	default:
		return 0, false
	}
	return years, years <= 150
}

func dicomDate(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if len(s) != 8 {
		return time.Time{}, false
	}
	t, err := time.Parse("20060102", s)
	return t, err == nil
}
