package batch

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// journal records every finished file of a run, one JSON line each, so a
// re-run with the same RunKey skips what is already done. A line cut short
// by a crash is ignored.
type journal struct {
	mu      sync.Mutex
	f       *os.File
	w       *bufio.Writer
	runKey  string
	prefix  []byte // the start of every line: {"runKey":…,"mtime":
	entries map[string]journalEntry
	err     error
}

type journalEntry struct {
	RunKey string                    `json:"runKey"`
	MTime  int64                     `json:"mtime"`
	Record FileRecord                `json:"record"`
	Counts map[string]map[string]int `json:"counts,omitempty"`
}

// openJournal opens the journal at path for a run with key runKey: the
// entries written under runKey or one of the reusable keys are looked up,
// new ones are written under runKey.
func openJournal(path, runKey string, reusable ...string) (*journal, error) {
	j := &journal{runKey: runKey, entries: map[string]journalEntry{}}
	j.prefix = linePrefix(runKey)
	if data, err := os.ReadFile(path); err == nil {
		for line := range bytes.SplitSeq(data, []byte("\n")) {
			var e journalEntry
			if len(line) == 0 || json.Unmarshal(line, &e) != nil || e.RunKey != runKey && !slices.Contains(reusable, e.RunKey) {
				continue
			}
			e.Record.Counts = e.Counts
			j.entries[e.Record.Input] = e
		}
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("batch: open journal: %w", err)
	}
	j.f, j.w = f, bufio.NewWriter(f)
	return j, nil
}

func (j *journal) lookup(rel string, size, mtime int64) (FileRecord, bool) {
	e, ok := j.entries[rel]
	delete(j.entries, rel) // each entry is looked up once; free it
	if !ok || e.Record.InputSize != size || e.MTime != mtime {
		return FileRecord{}, false
	}
	return e.Record, true
}

// line encodes one journal entry. It is written by hand, byte for byte
// what encoding/json gives for journalEntry (a test holds it to that):
// through reflection the journal was a tenth of a run's user time.
func (j *journal) line(rec FileRecord) ([]byte, error) {
	b := make([]byte, 0, 512)
	b = append(b, j.prefix...)
	b = strconv.AppendInt(b, rec.mtime, 10)
	b = append(b, `,"record":{"input":`...)
	b = appendString(b, rec.Input)
	if rec.Output != "" {
		b = append(b, `,"output":`...)
		b = appendString(b, rec.Output)
	}
	b = append(b, `,"status":`...)
	b = appendString(b, string(rec.Status))
	if len(rec.Reasons) > 0 {
		b = append(b, `,"reasons":[`...)
		for i, r := range rec.Reasons {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, r)
		}
		b = append(b, ']')
	}
	b = append(b, `,"inputSize":`...)
	b = strconv.AppendInt(b, rec.InputSize, 10)
	if rec.InputSHA256 != "" {
		b = append(b, `,"inputSha256":`...)
		b = appendString(b, rec.InputSHA256)
	}
	if rec.OutputSize != 0 {
		b = append(b, `,"outputSize":`...)
		b = strconv.AppendInt(b, rec.OutputSize, 10)
	}
	if rec.OutSHA256 != "" {
		b = append(b, `,"outputSha256":`...)
		b = appendString(b, rec.OutSHA256)
	}
	if rec.Resumed {
		b = append(b, `,"resumed":true`...)
	}
	if len(rec.Group) > 0 {
		b = append(b, `,"group":{`...)
		for i, k := range sortedKeys(rec.Group) {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			b = appendString(b, rec.Group[k])
		}
		b = append(b, '}')
	}
	b = append(b, '}')
	if len(rec.Counts) == 0 {
		return append(b, '}'), nil
	}
	return appendCounts(b, rec.Counts), nil
}

// sortedKeys returns the keys of m in order: for the usual group (sex
// and age band) without sorting.
func sortedKeys(m map[string]string) []string {
	if _, ok := m["ageBand"]; ok && len(m) == 2 {
		if _, ok := m["sex"]; ok {
			return groupKeys[:]
		}
	}
	return slices.Sorted(maps.Keys(m))
}

var groupKeys = [2]string{"ageBand", "sex"}

// linePrefix is the start of every journal line of a run.
func linePrefix(runKey string) []byte {
	return append(appendString([]byte(`{"runKey":`), runKey), `,"mtime":`...)
}

// appendString appends s as encoding/json writes a string: text that
// needs no escaping directly, anything else through encoding/json.
func appendString(b []byte, s string) []byte {
	if plainJSON(s) {
		b = append(b, '"')
		b = append(b, s...)
		return append(b, '"')
	}
	q, _ := json.Marshal(s) // a string always encodes
	return append(b, q...)
}

func (j *journal) append(rec FileRecord) {
	line, err := j.line(rec)
	if err != nil {
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err != nil {
		return
	}
	line = append(line, '\n')
	if _, err := j.w.Write(line); err != nil {
		j.err = err
		return
	}
	// Flush often enough that an interrupted run loses little.
	if j.w.Buffered() > 32<<10 {
		j.err = j.w.Flush()
	}
}

func (j *journal) close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return j.err
	}
	if err := j.w.Flush(); err != nil && j.err == nil {
		j.err = err
	}
	if err := j.f.Sync(); err != nil && j.err == nil {
		j.err = err
	}
	if err := j.f.Close(); err != nil && j.err == nil {
		j.err = err
	}
	j.f = nil
	if j.err != nil {
		return fmt.Errorf("batch: journal: %w", j.err)
	}
	return nil
}

// appendCounts appends `,"counts":{…}}` to b (an object without its
// closing brace), keys sorted as encoding/json sorts them.
func appendCounts(b []byte, counts map[string]map[string]int) []byte {
	b = append(b, `,"counts":{`...)
	type tagCounts struct {
		tag string
		m   map[string]int
	}
	tags := make([]tagCounts, 0, len(counts))
	for tag, m := range counts {
		tags = append(tags, tagCounts{tag, m})
	}
	slices.SortFunc(tags, func(x, y tagCounts) int { return strings.Compare(x.tag, y.tag) })
	var keys [8]string
	for i, tc := range tags {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, tc.tag)
		b = append(b, `:{`...)
		m := tc.m
		ks := keys[:0]
		for a := range m {
			ks = append(ks, a)
		}
		slices.Sort(ks)
		for k, a := range ks {
			if k > 0 {
				b = append(b, ',')
			}
			b = appendString(b, a)
			b = append(b, ':')
			b = strconv.AppendInt(b, int64(m[a]), 10)
		}
		b = append(b, '}')
	}
	return append(b, "}}"...)
}

// plainJSON reports whether s needs no escaping in a JSON string (and
// none of the HTML escaping encoding/json applies).
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7F || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}
