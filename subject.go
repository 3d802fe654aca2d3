package ethos

import (
	"context"
	"time"
)

// SubjectLink is the sealed link from a subject key back to the patient
// identifier it was derived from. Ethos keeps it only so that a withdrawal
// request arriving with a hospital identifier can be matched to the
// subject: the identifier is encrypted (AES-GCM under a key derived from
// the deployment's master key) and the ciphertext is bound to the subject
// key, so a sealed link cannot be moved to another subject.
type SubjectLink struct {
	Subject   SubjectKey `json:"subject"`
	Sealed    []byte     `json:"-"` // nonce || ciphertext; never printed
	CreatedAt time.Time  `json:"created_at"`
}

// SubjectLinkService stores sealed subject links, one per subject.
type SubjectLinkService interface {
	// PutSubjectLink stores l unless the subject already has a link (then
	// it keeps the old one and returns nil).
	PutSubjectLink(ctx context.Context, l *SubjectLink) error
	// SubjectLink returns the link of subject (ENOTFOUND if none).
	SubjectLink(ctx context.Context, subject SubjectKey) (*SubjectLink, error)
	// DeleteSubjectLink removes the link (erasure); no link is not an error.
	DeleteSubjectLink(ctx context.Context, subject SubjectKey) error
}
