package ethos

import (
	"context"
	"slices"
	"time"
)

// Role is what a user does within their party. Roles decide which actions a
// user may take inside a stage once the access matrix let their party in
// (see policy and docs/access.md).
type Role string

// The roles of Ethos.
const (
	RoleAdmin           Role = "admin"            // manages parties, users, tokens, agreements
	RoleDataSteward     Role = "data-steward"     // custodian of the hospital's data
	RoleResearcher      Role = "researcher"       // designs and analyses studies
	RoleMLEngineer      Role = "ml-engineer"      // builds, trains and ships models
	RoleClinician       Role = "clinician"        // uses or validates a model clinically
	RoleEthicsReviewer  Role = "ethics-reviewer"  // member of an ethics committee (IRB)
	RoleAuditor         Role = "auditor"          // external or internal auditor
	RolePatientAdvocate Role = "patient-advocate" // speaks for patients in reviews
)

// Roles lists every role.
var Roles = []Role{RoleAdmin, RoleDataSteward, RoleResearcher, RoleMLEngineer,
	RoleClinician, RoleEthicsReviewer, RoleAuditor, RolePatientAdvocate}

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return slices.Contains(Roles, r) }

// ParseRole returns the role named by s.
func ParseRole(s string) (Role, error) {
	r := Role(s)
	if !r.Valid() {
		return "", Errorf(EINVALID, "unknown role %q", s)
	}
	return r, nil
}

// User is a person (staff member, never a patient) acting for a party.
type User struct {
	ID        string    `json:"id"`
	PartyID   string    `json:"party_id"`
	Name      string    `json:"name"`
	Roles     []Role    `json:"roles"`
	Disabled  bool      `json:"disabled"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`

	// Party is filled by the store on reads.
	Party *Party `json:"party,omitempty"`
}

// HasRole reports whether u holds r.
func (u *User) HasRole(r Role) bool { return slices.Contains(u.Roles, r) }

// Validate checks the fields a caller sets.
func (u *User) Validate() error {
	if u.PartyID == "" {
		return Errorf(EINVALID, "user party_id is required")
	}
	if err := validName("user name", u.Name); err != nil {
		return err
	}
	if len(u.Roles) == 0 {
		return Errorf(EINVALID, "user needs at least one role")
	}
	for _, r := range u.Roles {
		if !r.Valid() {
			return Errorf(EINVALID, "unknown role %q", r)
		}
	}
	return nil
}

// UserFilter selects users; nil fields select everything.
type UserFilter struct {
	ID      *string `json:"id,omitempty"`
	PartyID *string `json:"party_id,omitempty"`
	Role    *Role   `json:"role,omitempty"`
	Offset  int     `json:"offset,omitempty"`
	Limit   int     `json:"limit,omitempty"`
}

// UserUpdate holds the fields UpdateUser may change; nil leaves a field.
type UserUpdate struct {
	Name     *string `json:"name,omitempty"`
	Roles    *[]Role `json:"roles,omitempty"`
	Disabled *bool   `json:"disabled,omitempty"`
}

// UserService stores users.
type UserService interface {
	FindUserByID(ctx context.Context, id string) (*User, error)
	FindUsers(ctx context.Context, filter UserFilter) ([]*User, int, error)
	// CreateUser assigns ID and times; the party must exist.
	CreateUser(ctx context.Context, u *User) error
	UpdateUser(ctx context.Context, id string, upd UserUpdate) (*User, error)
}

type userContextKey struct{}

// NewContextWithUser returns a context carrying the authenticated user.
func NewContextWithUser(ctx context.Context, u *User) context.Context {
	return context.WithValue(ctx, userContextKey{}, u)
}

// UserFromContext returns the authenticated user, or nil.
func UserFromContext(ctx context.Context) *User {
	u, _ := ctx.Value(userContextKey{}).(*User)
	return u
}

// ActorID returns the id of the user in ctx, or "system".
func ActorID(ctx context.Context) string {
	if u := UserFromContext(ctx); u != nil {
		return u.ID
	}
	return "system"
}
