package deid_test

import (
	"encoding/binary"
	"errors"
	"math/big"
	"math/rand/v2"
	"regexp"
	"strconv"
	"sync"
	"testing"

	"github.com/ethos-imaging/ethos/deid"
)

func mustKeys(tb testing.TB, secret string) *deid.Keys {
	tb.Helper()
	k, err := deid.NewKeys([]byte(secret))
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

var uid225 = regexp.MustCompile(`^2\.25\.(0|[1-9][0-9]*)$`)

func TestKeysUID(t *testing.T) {
	a := mustKeys(t, "project secret number one 123456")
	b := mustKeys(t, "project secret number one 123456")
	c := mustKeys(t, "project secret number two 123456")
	orig := "1.2.840.113619.2.1.1.322987881.621.736170080.681"
	ua, ub, uc := a.UID(orig), b.UID(orig), c.UID(orig)
	if ua != ub {
		t.Errorf("same key gave %s and %s", ua, ub)
	}
	if ua == uc {
		t.Error("different keys gave the same UID")
	}
	if !uid225.MatchString(ua) || len(ua) > 64 {
		t.Errorf("UID %q is not a valid 2.25 UID of at most 64 characters", ua)
	}
	if a.UID(orig+"\x00") != ua {
		t.Error("trailing NUL padding changed the UID")
	}
	if a.UID(orig+".1") == ua {
		t.Error("different UIDs collided")
	}
	if a.Fingerprint() != b.Fingerprint() || a.Fingerprint() == c.Fingerprint() {
		t.Error("fingerprint does not identify the key")
	}
}

func TestKeysShortSecret(t *testing.T) {
	_, err := deid.NewKeys([]byte("short"))
	if !errors.Is(err, deid.ErrShortKey) {
		t.Errorf("err = %v, want ErrShortKey", err)
	}
}

func TestKeysPatientAndShift(t *testing.T) {
	k := mustKeys(t, "project secret number one 123456")
	p := deid.PatientKey{ID: "12345", Issuer: "HOSP"}
	if k.PatientID("X-", p) != k.PatientID("X-", deid.PatientKey{ID: " 12345 ", Issuer: "hosp"}) {
		t.Error("normalisation of the patient key is not stable")
	}
	if k.PatientID("", p) == k.PatientID("", deid.PatientKey{ID: "12345", Issuer: "OTHER"}) {
		t.Error("issuer is not part of the patient key")
	}
	for _, id := range []string{"1", "2", "3", "4", "5", "6", "7", "8"} {
		d := k.DateShift(deid.PatientKey{ID: id}, 1, 3652)
		if d > -1 || d < -3652 {
			t.Errorf("shift %d outside [-3652,-1]", d)
		}
	}
}

func TestShiftDates(t *testing.T) {
	tests := []struct {
		name, in string
		days     int
		want     string
		ok       bool
	}{
		{"DA", "20190315", -30, "20190213", true},
		{"DAPadded", "20190315 ", -1, "20190314", true},
		{"DARange", "20190101-20190131", -1, "20181231-20190130", true},
		{"DAOpenRange", "-20190131", -1, "-20190130", true},
		{"DAOldForm", "2019.03.15", -1, "20190314", true},
		{"ErrDA", "1990/01/", -1, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := deid.ShiftDA(tt.in, tt.days)
			if ok != tt.ok || got != tt.want {
				t.Errorf("ShiftDA(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
	dts := []struct {
		name, in string
		want     string
		ok       bool
	}{
		{"DTFull", "20190315101010.123+0100", "20190314101010.123+0100", true},
		{"DTNegativeOffset", "20190301235959-0500", "20190228235959-0500", true},
		{"DTYear", "2019", "2018", true},
		{"DTYearMonthKeepsPrecision", "201903", "201902", true},
		{"DTDayOnly", "20190315", "20190314", true},
		{"DTRange", "20190101120000-20190131", "20181231120000-20190130", true},
		{"DTRangeWithOffsets", "20190101+0100-20190102-0500", "20181231+0100-20190101-0500", true},
		{"DTOpenRange", "-20190131", "-20190130", true},
		{"DTPadded", "20190315 ", "20190314", true},
		{"ErrDTText", "20190315 Doe", "", false},
		{"ErrDTBadTime", "20190315256000", "", false},
		{"ErrDTBadOffset", "20190315+01", "", false},
		{"ErrDTShort", "201", "", false},
	}
	for _, tt := range dts {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := deid.ShiftDT(tt.in, -1)
			if ok != tt.ok || got != tt.want {
				t.Errorf("ShiftDT(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestValidTM(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"", true}, {"10", true}, {"1015", true}, {"101500", true}, {"101500.123456", true},
		{"10:15:00", true}, {"235960", true},
		{"2400", false}, {"1060", false}, {"101", false}, {"101500.", false},
		{"1015.5", false}, {"101500.1234567", false}, {"DOE", false},
	}
	for _, tt := range tests {
		if got := deid.ValidTM(tt.in); got != tt.want {
			t.Errorf("ValidTM(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// TestDecimal128MatchesMathBig checks the division-based decimal form of
// 128-bit values (the 2.25 UIDs) against math/big, at the edges of each
// 19-digit part and on random values.
func TestDecimal128MatchesMathBig(t *testing.T) {
	var cases [][16]byte
	edge := func(v *big.Int) {
		var b [16]byte
		v.FillBytes(b[:])
		cases = append(cases, b)
	}
	one := big.NewInt(1)
	max128 := new(big.Int).Sub(new(big.Int).Lsh(one, 128), one)
	e19 := new(big.Int).Exp(big.NewInt(10), big.NewInt(19), nil)
	e38 := new(big.Int).Mul(e19, e19)
	for _, v := range []*big.Int{big.NewInt(0), one, big.NewInt(9), new(big.Int).Sub(e19, one), e19, new(big.Int).Add(e19, one),
		new(big.Int).Lsh(one, 64), new(big.Int).Sub(new(big.Int).Lsh(one, 64), one), new(big.Int).Sub(e38, one), e38,
		new(big.Int).Add(e38, one), new(big.Int).Mul(e38, big.NewInt(3)), max128} {
		edge(v)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		var b [16]byte
		binary.BigEndian.PutUint64(b[:8], rng.Uint64()>>rng.UintN(64))
		binary.BigEndian.PutUint64(b[8:], rng.Uint64())
		cases = append(cases, b)
	}
	for _, b := range cases {
		want := new(big.Int).SetBytes(b[:]).String()
		if got := deid.Decimal128(b); got != want {
			t.Fatalf("%x: got %s, want %s", b, got, want)
		}
	}
}

// TestKeysUIDRepeated checks that a UID maps to the same value however
// often it is asked for (the mapping is cached) and from several
// goroutines at once.
func TestKeysUIDRepeated(t *testing.T) {
	k := mustKeys(t, "project secret number one 123456")
	fresh := mustKeys(t, "project secret number one 123456")
	want := map[string]string{}
	for i := range 5000 {
		u := "1.2.3.4." + strconv.Itoa(i)
		want[u] = fresh.UID(u)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 3 {
				for u, w := range want {
					if got := k.UID(u); got != w {
						t.Errorf("UID(%s) = %s, want %s", u, got, w)
						return
					}
				}
			}
		})
	}
	wg.Wait()
}
