package deid

import (
	"bytes"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"hash/maphash"
	"math/bits"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// MinKeyLen is the shortest project secret accepted, in bytes.
const MinKeyLen = 16

// ErrShortKey is returned for a project secret shorter than MinKeyLen.
var ErrShortKey = errors.New("deid: project key too short")

// Keys derives every pseudonym from one project secret. Each use has its
// own sub-key (HKDF-SHA-256 with a distinct info string), so a pseudonym
// of one kind reveals nothing about another and the secret itself never
// leaves this type. A Keys is safe for concurrent use.
type Keys struct {
	uid, patient, shift, path []byte
	fingerprint               string
	// HMACs keyed with uid, patient and shift, reused (an HMAC made
	// anew hashes its key pads again).
	uidMACs, patientMACs, shiftMACs sync.Pool // of *macBuf
	uids                            *uidCache
}

// NewKeys derives the sub-keys from secret.
func NewKeys(secret []byte) (*Keys, error) {
	if len(secret) < MinKeyLen {
		return nil, fmt.Errorf("%w: %d bytes, need at least %d", ErrShortKey, len(secret), MinKeyLen)
	}
	derive := func(info string) []byte {
		k, err := hkdf.Key(sha256.New, secret, nil, "ethos deid v1 "+info, 32)
		if err != nil {
			panic(err) // only for lengths beyond 255*32 bytes
		}
		return k
	}
	k := &Keys{uid: derive("uid"), patient: derive("patient-id"), shift: derive("date-shift"), path: derive("path")}
	fp := derive("fingerprint")
	k.fingerprint = "hkdf-sha256:" + hex.EncodeToString(fp[:16])
	k.uidMACs.New = func() any { return &macBuf{h: hmac.New(sha256.New, k.uid)} }
	k.patientMACs.New = func() any { return &macBuf{h: hmac.New(sha256.New, k.patient)} }
	k.shiftMACs.New = func() any { return &macBuf{h: hmac.New(sha256.New, k.shift)} }
	k.uids = &uidCache{seed: maphash.MakeSeed()}
	return k, nil
}

// ReadKeyFile reads a project secret from a file. Surrounding white space
// (a trailing newline) is not part of the secret.
func ReadKeyFile(path string) (*Keys, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("deid: read key file: %w", err)
	}
	return NewKeys(bytes.TrimSpace(b))
}

// Fingerprint identifies the key in reports without revealing it: two runs
// with the same fingerprint used the same secret.
func (k *Keys) Fingerprint() string { return k.fingerprint }

// UID maps an original UID to a new one under the 2.25 arc: the decimal
// form of a 128-bit value built as an RFC 9562 version 8 UUID from
// HMAC-SHA-256(uid key, original). The same original always maps to the
// same new UID; different originals collide with probability 2^-122.
//
// UIDs recur (a study's and a series' UIDs in each of their instances, a
// frame of reference in every image of it): recent mappings are kept.
func (k *Keys) UID(orig string) string {
	orig = strings.TrimRight(orig, "\x00 ")
	slot := &k.uids.slots[maphash.String(k.uids.seed, orig)%uidCacheSlots]
	if e := slot.Load(); e != nil && e.orig == orig {
		return e.mapped
	}
	return k.newUID(slot, orig)
}

// uidBytes is UID for a value as bytes (no string is made when the
// mapping is cached).
func (k *Keys) uidBytes(orig []byte) string {
	orig = bytes.TrimRight(orig, "\x00 ")
	slot := &k.uids.slots[maphash.Bytes(k.uids.seed, orig)%uidCacheSlots]
	if e := slot.Load(); e != nil && e.orig == string(orig) {
		return e.mapped
	}
	return k.newUID(slot, string(orig))
}

// newUID computes the mapping of orig and caches it in slot.
func (k *Keys) newUID(slot *atomic.Pointer[uidEntry], orig string) string {
	var sum [sha256.Size]byte
	k.macInto(&k.uidMACs, orig, &sum)
	var u [16]byte
	copy(u[:], sum[:16])
	u[6] = u[6]&0x0F | 0x80 // version 8
	u[8] = u[8]&0x3F | 0x80 // RFC 9562 variant
	mapped := "2.25." + bigDecimal(u)
	slot.Store(&uidEntry{orig: strings.Clone(orig), mapped: mapped})
	return mapped
}

// uidCache holds recent UID mappings, one per slot (direct mapped: a new
// mapping replaces the slot's), shared by the workers without a lock.
type uidCache struct {
	seed  maphash.Seed
	slots [uidCacheSlots]atomic.Pointer[uidEntry]
}

// uidCacheSlots bounds the cache (about 150 bytes a mapping when full).
const uidCacheSlots = 4096

type uidEntry struct{ orig, mapped string }

// macBuf is a reusable HMAC and the buffer its message is copied to
// (a string converted for Write would be allocated each time).
type macBuf struct {
	h   hash.Hash
	buf []byte
}

// macInto writes HMAC(msg) with a MAC from pool to sum.
func (k *Keys) macInto(pool *sync.Pool, msg string, sum *[sha256.Size]byte) {
	m := pool.Get().(*macBuf)
	m.h.Reset()
	m.buf = append(m.buf[:0], msg...)
	m.h.Write(m.buf)
	m.h.Sum(sum[:0])
	pool.Put(m)
}

// PatientID returns the pseudonymous Patient ID for an original patient
// identity (Patient ID and its issuer). The result is 20 upper-case hex
// digits after prefix, within the 64 characters of VR LO.
func (k *Keys) PatientID(prefix string, id PatientKey) string {
	var sum [sha256.Size]byte
	k.macInto(&k.patientMACs, id.String(), &sum)
	const digits = "0123456789ABCDEF"
	b := make([]byte, len(prefix), len(prefix)+20)
	copy(b, prefix)
	for _, c := range sum[:10] {
		b = append(b, digits[c>>4], digits[c&15])
	}
	return string(b)
}

// DateShift returns the whole number of days by which the dates of a
// patient move under the Modified Dates option: between -maxDays and
// -minDays (dates always move into the past, so no shifted date lies in
// the future of the original).
func (k *Keys) DateShift(id PatientKey, minDays, maxDays int) int {
	if maxDays <= minDays {
		return -minDays
	}
	var sum [sha256.Size]byte
	k.macInto(&k.shiftMACs, id.String(), &sum)
	n := binary.BigEndian.Uint64(sum[:8])
	span := uint64(maxDays - minDays + 1)
	return -(minDays + int(n%span))
}

func (k *Keys) mac(key []byte, msg string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(msg))
	return h.Sum(nil)
}

// PathToken replaces an input path in a report: the same path always
// gives the same token under one key, so whoever holds the key can match
// a report line to its file, and nobody else learns a name from the path.
func (k *Keys) PathToken(rel string) string {
	sum := k.mac(k.path, rel)
	return "hmac:" + hex.EncodeToString(sum[:16])
}

// PatientKey is the identity used to link the instances of one patient:
// Patient ID and Issuer of Patient ID when present, otherwise name and
// birth date, otherwise the Study Instance UID (one pseudonymous patient
// per study).
type PatientKey struct {
	ID, Issuer, Name, BirthDate, StudyUID string
}

func (p PatientKey) String() string {
	norm := func(s string) string { return strings.ToUpper(strings.TrimSpace(strings.TrimRight(s, "\x00"))) }
	switch {
	case norm(p.ID) != "":
		return "id\x00" + norm(p.ID) + "\x00" + norm(p.Issuer)
	case norm(p.Name) != "" || norm(p.BirthDate) != "":
		return "name\x00" + norm(p.Name) + "\x00" + norm(p.BirthDate)
	}
	return "study\x00" + norm(p.StudyUID)
}

// ShiftDA shifts a DA value (YYYYMMDD, or a range "A-B") by days. Values
// that are not dates are returned with ok false.
func ShiftDA(v string, days int) (string, bool) {
	v = strings.TrimRight(v, " \x00")
	if lo, hi, isRange := strings.Cut(v, "-"); isRange {
		a, ok1 := shiftDate(lo, days)
		b, ok2 := shiftDate(hi, days)
		if (lo != "" && !ok1) || (hi != "" && !ok2) {
			return "", false
		}
		return a + "-" + b, true
	}
	return shiftDate(v, days)
}

func shiftDate(v string, days int) (string, bool) {
	if v == "" {
		return "", true
	}
	t, err := time.Parse("20060102", v)
	if err != nil {
		// Retired ACR-NEMA form YYYY.MM.DD.
		if t, err = time.Parse("2006.01.02", v); err != nil {
			return "", false
		}
	}
	return t.AddDate(0, 0, days).Format("20060102"), true
}

// ShiftDT shifts a DT value by whole days: the calendar date moves, the
// time of day, the fraction and the UTC offset (&ZZXX) stay, so a DT and
// the DA/TM pair that describes the same moment stay equal after the shift
// (PS3.15 E.3.6: dates and times change together). A value with year or
// year-month precision is shifted as the first day of its period and
// keeps its precision. A range "A-B" (either side may be empty) shifts
// both ends. Values that are not DT are returned with ok false, so the
// caller can empty them instead of keeping text it cannot read.
func ShiftDT(v string, days int) (string, bool) {
	v = strings.TrimRight(v, " \x00")
	if v == "" {
		return "", true
	}
	if s, ok := shiftOneDT(v, days); ok {
		return s, true
	}
	// A range: the hyphen that separates the two ends is the one that
	// leaves a valid DT (or nothing) on both sides; a hyphen inside an
	// offset (-0500) does not.
	for i := 0; i < len(v); i++ {
		if v[i] != '-' {
			continue
		}
		lo, hi := v[:i], v[i+1:]
		if lo == "" && hi == "" {
			break
		}
		a, ok1 := shiftOneDT(lo, days)
		b, ok2 := shiftOneDT(hi, days)
		if (lo == "" || ok1) && (hi == "" || ok2) {
			return a + "-" + b, true
		}
	}
	return "", false
}

// shiftOneDT shifts one DT value (no range).
func shiftOneDT(v string, days int) (string, bool) {
	if v == "" {
		return "", false
	}
	core, off := v, ""
	if i := strings.LastIndexAny(v, "+-"); i >= 0 {
		core, off = v[:i], v[i:]
		if !validOffset(off) {
			return "", false
		}
	}
	if len(core) < 4 || !allDigits(core[:min(len(core), 8)]) {
		return "", false
	}
	switch len(core) {
	case 4:
		t, err := time.Parse("2006", core)
		if err != nil {
			return "", false
		}
		return t.AddDate(0, 0, days).Format("2006") + off, true
	case 6:
		t, err := time.Parse("200601", core)
		if err != nil {
			return "", false
		}
		return t.AddDate(0, 0, days).Format("200601") + off, true
	case 5, 7:
		return "", false
	}
	if !ValidTM(core[8:]) {
		return "", false
	}
	d, ok := shiftDate(core[:8], days)
	if !ok {
		return "", false
	}
	return d + core[8:] + off, true
}

// ValidTM reports whether v is a TM value: HH, HHMM, HHMMSS or
// HHMMSS.F{1,6} (empty is valid: a DT with day precision has no time).
// The retired form HH:MM:SS is accepted.
func ValidTM(v string) bool {
	if v == "" {
		return true
	}
	v = strings.ReplaceAll(v, ":", "")
	hms, frac, hasFrac := strings.Cut(v, ".")
	if len(hms) != 2 && len(hms) != 4 && len(hms) != 6 || !allDigits(hms) {
		return false
	}
	if hasFrac && (len(hms) != 6 || len(frac) == 0 || len(frac) > 6 || !allDigits(frac)) {
		return false
	}
	lim := []int{23, 59, 60}
	for i := 0; i < len(hms); i += 2 {
		if int(hms[i]-'0')*10+int(hms[i+1]-'0') > lim[i/2] {
			return false
		}
	}
	return true
}

func validOffset(s string) bool {
	return len(s) == 5 && (s[0] == '+' || s[0] == '-') && allDigits(s[1:])
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// bigDecimal formats a 128-bit big-endian value in decimal: two divisions
// by 10^19 split it into at most three parts of 19 digits, each formatted
// as a uint64 (math/big did the same work with several allocations).
func bigDecimal(b [16]byte) string {
	const e19 = 10_000_000_000_000_000_000
	hi, lo := binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])
	// v = hi·2^64 + lo = e19·(q1·2^64 + q0) + r0, with q1 ≤ 1.
	q1, r1 := hi/e19, hi%e19
	q0, r0 := bits.Div64(r1, lo, e19)
	// q1·2^64 + q0 = e19·top + mid, with top ≤ 3.
	top, mid := bits.Div64(q1, q0, e19)
	buf := make([]byte, 0, 40)
	switch {
	case top > 0:
		buf = strconv.AppendUint(buf, top, 10)
		buf = appendPadded19(buf, mid)
	case mid > 0:
		buf = strconv.AppendUint(buf, mid, 10)
	default:
		return strconv.FormatUint(r0, 10)
	}
	return string(appendPadded19(buf, r0))
}

// appendPadded19 appends v (< 10^19) as exactly 19 decimal digits.
func appendPadded19(b []byte, v uint64) []byte {
	var d [19]byte
	for i := 18; i >= 0; i-- {
		d[i] = byte('0' + v%10)
		v /= 10
	}
	return append(b, d[:]...)
}
