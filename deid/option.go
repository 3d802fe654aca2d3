package deid

import (
	"fmt"
	"strings"
)

// Option is one of the PS3.15 E.3 profile options. The first
// numTableOptions options change actions in Table E.1-1; Clean Pixel Data
// works on the pixels and has no column in the table.
type Option int

// The options of PS3.15 Annex E, in the column order of Table E.1-1.
const (
	RetainSafePrivate Option = iota
	RetainUIDs
	RetainDeviceIdentity
	RetainInstitutionIdentity
	RetainPatientCharacteristics
	RetainLongitudinalFullDates
	RetainLongitudinalModifiedDates
	CleanDescriptors
	CleanStructuredContent
	CleanGraphics
	CleanPixelData

	numTableOptions = CleanPixelData
	numOptions      = CleanPixelData + 1
)

// optionInfo names an option on the command line and in the output's
// DeidentificationMethodCodeSequence (CID 7050, coding scheme DCM).
var optionInfo = [numOptions]struct {
	flag, code, meaning string
}{
	RetainSafePrivate:               {"retain-safe-private", "113111", "Retain Safe Private Option"},
	RetainUIDs:                      {"retain-uids", "113110", "Retain UIDs Option"},
	RetainDeviceIdentity:            {"retain-device-identity", "113109", "Retain Device Identity Option"},
	RetainInstitutionIdentity:       {"retain-institution-identity", "113112", "Retain Institution Identity Option"},
	RetainPatientCharacteristics:    {"retain-patient-characteristics", "113108", "Retain Patient Characteristics Option"},
	RetainLongitudinalFullDates:     {"retain-longitudinal-full-dates", "113106", "Retain Longitudinal Temporal Information Full Dates Option"},
	RetainLongitudinalModifiedDates: {"retain-longitudinal-modified-dates", "113107", "Retain Longitudinal Temporal Information Modified Dates Option"},
	CleanDescriptors:                {"clean-descriptors", "113105", "Clean Descriptors Option"},
	CleanStructuredContent:          {"clean-structured-content", "113104", "Clean Structured Content Option"},
	CleanGraphics:                   {"clean-graphics", "113103", "Clean Graphics Option"},
	CleanPixelData:                  {"clean-pixel-data", "113101", "Clean Pixel Data Option"},
}

// Code values of the Basic Application Level Confidentiality Profile
// itself (CID 7050).
const (
	basicProfileCode    = "113100"
	basicProfileMeaning = "Basic Application Confidentiality Profile"
)

// String returns the option's command-line name.
func (o Option) String() string {
	if o < 0 || o >= numOptions {
		return fmt.Sprintf("Option(%d)", int(o))
	}
	return optionInfo[o].flag
}

// Code returns the CID 7050 code value and meaning of the option.
func (o Option) Code() (value, meaning string) {
	return optionInfo[o].code, optionInfo[o].meaning
}

// AllOptions lists every option in table order.
func AllOptions() []Option {
	out := make([]Option, numOptions)
	for i := range out {
		out[i] = Option(i)
	}
	return out
}

// ParseOption returns the option named s (its command-line name).
func ParseOption(s string) (Option, error) {
	for i, info := range optionInfo {
		if info.flag == s {
			return Option(i), nil
		}
	}
	return 0, fmt.Errorf("deid: unknown option %q (known: %s)", s, strings.Join(optionNames(), ", "))
}

func optionNames() []string {
	var names []string
	for _, info := range optionInfo {
		names = append(names, info.flag)
	}
	return names
}

// Options is a set of options.
type Options uint32

// Has reports whether o is in the set.
func (s Options) Has(o Option) bool { return s&(1<<o) != 0 }

// With returns the set with o added.
func (s Options) With(o ...Option) Options {
	for _, x := range o {
		s |= 1 << x
	}
	return s
}

// List returns the options in table order.
func (s Options) List() []Option {
	var out []Option
	for o := range numOptions {
		if s.Has(o) {
			out = append(out, o)
		}
	}
	return out
}

// String returns the comma-separated command-line names.
func (s Options) String() string {
	var names []string
	for _, o := range s.List() {
		names = append(names, o.String())
	}
	return strings.Join(names, ",")
}

// ParseOptions parses a comma-separated list of option names. The two
// longitudinal options exclude each other.
func ParseOptions(list string) (Options, error) {
	var s Options
	for f := range strings.SplitSeq(list, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		o, err := ParseOption(f)
		if err != nil {
			return 0, err
		}
		s = s.With(o)
	}
	return s, s.Validate()
}

// Validate reports a contradictory set.
func (s Options) Validate() error {
	if s.Has(RetainLongitudinalFullDates) && s.Has(RetainLongitudinalModifiedDates) {
		return fmt.Errorf("deid: options %s and %s exclude each other", RetainLongitudinalFullDates, RetainLongitudinalModifiedDates)
	}
	if s>>numOptions != 0 {
		return fmt.Errorf("deid: unknown option bits %#x", uint32(s))
	}
	return nil
}
