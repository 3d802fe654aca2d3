package ethos

import (
	"context"
	"slices"
	"strings"
	"time"
)

// Role is what a user does inside their party. The access policy combines
// the party's type (the framework's matrix) with the user's roles (which
// actions a role may take at a stage; see docs/access.md).
type Role string

// The roles of Ethos.
const (
	RoleAdmin           Role = "admin"            // runs the deployment: parties, users, tokens, projects
	RoleDataSteward     Role = "data-steward"     // custodian of collected data and its de-identification
	RoleResearcher      Role = "researcher"       // analyses data, designs studies
	RoleMLEngineer      Role = "ml-engineer"      // builds, trains and deploys models
	RoleClinician       Role = "clinician"        // labels, reads, uses the model in care
	RoleEthicsReviewer  Role = "ethics-reviewer"  // ethics committee (IRB) member: reviews and approves
	RoleAuditor         Role = "auditor"          // external or internal auditor: reads evidence and the audit log
	RolePatientAdvocate Role = "patient-advocate" // represents patients: aggregate views only
)

// Roles lists every role.
var Roles = []Role{RoleAdmin, RoleDataSteward, RoleResearcher, RoleMLEngineer, RoleClinician, RoleEthicsReviewer, RoleAuditor, RolePatientAdvocate}

// Valid reports whether r is one of Roles.
func (r Role) Valid() bool { return slices.Contains(Roles, r) }

// ParseRole returns the role named s.
func ParseRole(s string) (Role, error) {
	r := Role(s)
	if !r.Valid() {
		names := make([]string, len(Roles))
		for i, r := range Roles {
			names[i] = string(r)
		}
		return "", Errorf(EINVALID, "unknown role (want one of %s)", strings.Join(names, ", "))
	}
	return r, nil
}

// User is a person or service account acting for a party. Users hold
// pseudonymous display names chosen by the deployment; patients are never
// users.
type User struct {
	ID        string    `json:"id"`
	PartyID   string    `json:"party_id"`
	Name      string    `json:"name"`
	Roles     []Role    `json:"roles"`
	Disabled  bool      `json:"disabled"`
	CreatedAt time.Time `json:"created_at"`
}

// HasRole reports whether u holds r.
func (u *User) HasRole(r Role) bool { return slices.Contains(u.Roles, r) }

// Validate checks the fields a caller sets.
func (u *User) Validate() error {
	if err := validName("user name", u.Name); err != nil {
		return err
	}
	if !ValidID(u.PartyID) {
		return Errorf(EINVALID, "party_id: required")
	}
	if len(u.Roles) == 0 {
		return Errorf(EINVALID, "roles: at least one role is required")
	}
	seen := map[Role]bool{}
	for i, r := range u.Roles {
		if !r.Valid() {
			return Errorf(EINVALID, "roles[%d]: unknown role", i)
		}
		if seen[r] {
			return Errorf(EINVALID, "roles[%d]: %s given twice", i, r)
		}
		seen[r] = true
	}
	return nil
}

// UserFilter selects users. Nil fields select everything.
type UserFilter struct {
	ID      *string
	PartyID *string
	Role    *Role

	Offset int
	Limit  int
}

// UserUpdate changes a user. Nil fields are left alone.
type UserUpdate struct {
	Name     *string
	Roles    *[]Role
	Disabled *bool
}

// UserService stores users. Users are disabled, never deleted.
type UserService interface {
	// FindUserByID returns the user with the given id (ENOTFOUND if none).
	FindUserByID(ctx context.Context, id string) (*User, error)
	// FindUsers returns the users matching filter and the total count.
	FindUsers(ctx context.Context, filter UserFilter) ([]*User, int, error)
	// CreateUser validates and stores u; its party must exist.
	CreateUser(ctx context.Context, u *User) error
	// UpdateUser applies upd to the user with the given id and returns it.
	UpdateUser(ctx context.Context, id string, upd UserUpdate) (*User, error)
}
