package batch

import "encoding/json"

// JournalLine encodes rec as the journal does, and as encoding/json alone
// would (want).
func JournalLine(rec FileRecord) (got, want []byte) {
	j := &journal{runKey: "k", prefix: linePrefix("k")}
	got, _ = j.line(rec)
	want, _ = json.Marshal(journalEntry{RunKey: "k", MTime: rec.mtime, Record: rec, Counts: rec.Counts})
	return got, want
}

// JoinClean and ParentDir are the runner's path shortcuts.
var (
	JoinClean = joinClean
	ParentDir = parentDir
)

// WalkError is the walk's error as Run returns it.
var WalkError = walkError
