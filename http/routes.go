package http

import (
	"net/http"
	"strings"

	"github.com/ethos-imaging/ethos"
	"github.com/ethos-imaging/ethos/audit"
	"github.com/ethos-imaging/ethos/policy"
)

// route is one endpoint: the mux pattern, its handler and what the OpenAPI
// document says of it. The mux and the document are both built from
// routes(), and a test checks the served document against the mux.
type route struct {
	Method  string
	Path    string
	Summary string
	Public  bool    // no token needed
	Query   []param // query parameters
	Body    any     // request body type (nil: none)
	Reply   any     // success response type (nil: none)
	Status  int     // success status
	Raw     string  // content type of a non-JSON reply
	handle  func(w http.ResponseWriter, r *http.Request) error
}

type param struct {
	Name, Type, Description string
	Required                bool
}

var (
	pageQuery = []param{{"offset", "integer", "items to skip", false}, {"limit", "integer", "items to return (default 100, at most 1000)", false}}
)

func (s *Server) routes() []route {
	auth := func(h func(w http.ResponseWriter, r *http.Request, p *principal) error) func(w http.ResponseWriter, r *http.Request) error {
		return func(w http.ResponseWriter, r *http.Request) error {
			p, err := s.authenticate(r)
			if err != nil {
				return err
			}
			if err := checkPathIDs(r); err != nil {
				return err
			}
			*r = *r.WithContext(withPrincipal(r.Context(), p))
			return h(w, r, p)
		}
	}
	rs := []route{
		{Method: "GET", Path: "/healthz", Summary: "Liveness and readiness: the database and the audit log answer.", Public: true, Reply: health{}, Status: 200, handle: s.handleHealth},
		{Method: "GET", Path: "/metrics", Summary: "Prometheus metrics.", Public: true, Status: 200, Raw: "text/plain", handle: s.handleMetrics},
		{Method: "GET", Path: "/api/v1/openapi.json", Summary: "This document.", Public: true, Status: 200, Raw: "application/json", handle: s.handleOpenAPI},
		{Method: "GET", Path: "/api/v1/whoami", Summary: "The authenticated user, their party and token.", Reply: whoami{}, Status: 200, handle: auth(s.handleWhoami)},

		{Method: "GET", Path: "/api/v1/parties", Summary: "List parties.", Query: pageQuery, Reply: list[*ethos.Party]{}, Status: 200, handle: auth(s.handleListParties)},
		{Method: "POST", Path: "/api/v1/parties", Summary: "Create a party (admin).", Body: partyIn{}, Reply: ethos.Party{}, Status: 201, handle: auth(s.handleCreateParty)},
		{Method: "GET", Path: "/api/v1/parties/{id}", Summary: "Get a party.", Reply: ethos.Party{}, Status: 200, handle: auth(s.handleGetParty)},

		{Method: "GET", Path: "/api/v1/users", Summary: "List users (admin).", Query: append([]param{{"party_id", "string", "only users of this party", false}}, pageQuery...), Reply: list[*ethos.User]{}, Status: 200, handle: auth(s.handleListUsers)},
		{Method: "POST", Path: "/api/v1/users", Summary: "Create a user (admin).", Body: userIn{}, Reply: ethos.User{}, Status: 201, handle: auth(s.handleCreateUser)},
		{Method: "GET", Path: "/api/v1/users/{id}", Summary: "Get a user (admin, or oneself).", Reply: ethos.User{}, Status: 200, handle: auth(s.handleGetUser)},
		{Method: "PATCH", Path: "/api/v1/users/{id}", Summary: "Change a user's name, roles or disabled flag (admin).", Body: userPatch{}, Reply: ethos.User{}, Status: 200, handle: auth(s.handlePatchUser)},

		{Method: "GET", Path: "/api/v1/tokens", Summary: "List tokens: one's own, or a user's (admin).", Query: append([]param{{"user_id", "string", "whose tokens (admin)", false}}, pageQuery...), Reply: list[*ethos.Token]{}, Status: 200, handle: auth(s.handleListTokens)},
		{Method: "POST", Path: "/api/v1/tokens", Summary: "Create a token; the secret is in this response only.", Body: tokenIn{}, Reply: tokenOut{}, Status: 201, handle: auth(s.handleCreateToken)},
		{Method: "DELETE", Path: "/api/v1/tokens/{id}", Summary: "Revoke a token (one's own, or any as admin).", Reply: ethos.Token{}, Status: 200, handle: auth(s.handleRevokeToken)},

		{Method: "GET", Path: "/api/v1/projects", Summary: "List projects.", Query: append([]param{{"stage", "string", "only projects at this stage", false}}, pageQuery...), Reply: list[*ethos.Project]{}, Status: 200, handle: auth(s.handleListProjects)},
		{Method: "POST", Path: "/api/v1/projects", Summary: "Create a project (admin, data steward).", Body: projectIn{}, Reply: ethos.Project{}, Status: 201, handle: auth(s.handleCreateProject)},
		{Method: "GET", Path: "/api/v1/projects/{id}", Summary: "Get a project with its stage history.", Reply: ethos.Project{}, Status: 200, handle: auth(s.handleGetProject)},
		{Method: "PATCH", Path: "/api/v1/projects/{id}", Summary: "Change a project's description.", Body: projectPatch{}, Reply: ethos.Project{}, Status: 200, handle: auth(s.handlePatchProject)},
		{Method: "POST", Path: "/api/v1/projects/{id}/stage", Summary: "Move a project to another stage (recorded in its history).", Body: stageIn{}, Reply: ethos.Project{}, Status: 200, handle: auth(s.handleMoveStage)},
		{Method: "GET", Path: "/api/v1/projects/{id}/stages/{stage}/records", Summary: "Read a stage's records through a view, for a declared purpose (access policy).",
			Query: append([]param{{"purpose", "string", "declared purpose of use", true}, {"view", "string", "full, deidentified or aggregate (default full)", false}}, pageQuery...),
			Reply: recordsOut{}, Status: 200, handle: auth(s.handleListRecords)},
		{Method: "POST", Path: "/api/v1/projects/{id}/stages/{stage}/records", Summary: "Add a record to a stage (access policy).", Body: recordIn{}, Reply: ethos.StageRecord{}, Status: 201, handle: auth(s.handleCreateRecord)},
		{Method: "POST", Path: "/api/v1/projects/{id}/stages/{stage}/approvals", Summary: "Record an ethics or governance approval of a stage (access policy).", Body: approvalIn{}, Reply: ethos.StageRecord{}, Status: 201, handle: auth(s.handleApprove)},

		{Method: "GET", Path: "/api/v1/duas", Summary: "List data-use agreements.", Query: append([]param{{"party_id", "string", "", false}, {"project_id", "string", "", false}}, pageQuery...), Reply: list[*ethos.DUA]{}, Status: 200, handle: auth(s.handleListDUAs)},
		{Method: "POST", Path: "/api/v1/duas", Summary: "Register a data-use agreement; the caller is its approver.", Body: duaIn{}, Reply: ethos.DUA{}, Status: 201, handle: auth(s.handleCreateDUA)},
		{Method: "DELETE", Path: "/api/v1/duas/{id}", Summary: "Revoke a data-use agreement.", Reply: ethos.DUA{}, Status: 200, handle: auth(s.handleRevokeDUA)},

		{Method: "POST", Path: "/api/v1/access/check", Summary: "Explain the decision the policy would take for a request (no data returned).", Body: checkIn{}, Reply: checkOut{}, Status: 200, handle: auth(s.handleAccessCheck)},
		{Method: "GET", Path: "/api/v1/access/policy", Summary: "The effective access matrix, widened and narrowed cells marked.", Reply: policyOut{}, Status: 200, handle: auth(s.handleAccessPolicy)},
		{Method: "GET", Path: "/api/v1/access/review", Summary: "Periodic access review: agreements and tokens unused for N days.", Query: []param{{"unused_days", "integer", "days without use (default 90)", false}}, Reply: reviewOut{}, Status: 200, handle: auth(s.handleAccessReview)},

		{Method: "GET", Path: "/api/v1/audit/checkpoint", Summary: "The latest signed checkpoint (note text).", Status: 200, Raw: "text/plain", handle: auth(s.handleGetCheckpoint)},
		{Method: "POST", Path: "/api/v1/audit/checkpoint", Summary: "Sign and store a checkpoint of the current tree now.", Status: 200, Raw: "text/plain", handle: auth(s.handleSignCheckpoint)},
		{Method: "GET", Path: "/api/v1/audit/events/{index}", Summary: "One audit event with its canonical leaf (base64).", Reply: eventOut{}, Status: 200, handle: auth(s.handleGetEvent)},
		{Method: "GET", Path: "/api/v1/audit/proofs/inclusion", Summary: "Inclusion proof of an event in the tree of tree_size events.",
			Query: []param{{"index", "integer", "event index", true}, {"tree_size", "integer", "tree size (default: latest checkpoint)", false}}, Reply: audit.InclusionProof{}, Status: 200, handle: auth(s.handleInclusionProof)},
		{Method: "GET", Path: "/api/v1/audit/proofs/consistency", Summary: "Consistency proof between two tree sizes.",
			Query: []param{{"old_size", "integer", "", true}, {"new_size", "integer", "default: latest checkpoint", false}}, Reply: audit.ConsistencyProof{}, Status: 200, handle: auth(s.handleConsistencyProof)},
		{Method: "GET", Path: "/api/v1/audit/export", Summary: "The whole log as JSON lines (format " + audit.ExportFormat + ").", Status: 200, Raw: "application/jsonl", handle: auth(s.handleExport)},
	}
	// Each stage adds its endpoints from its own file: one line per
	// stage here, so stages never edit one another's tables.
	for _, more := range []func(authFunc) []route{
		s.collectionRoutes,
		s.processingRoutes,
		s.trainingRoutes,
		s.monitorRoutes,
		s.evaluationRoutes,
		s.deploymentRoutes,
		s.checksRoutes,
	} {
		rs = append(rs, more(auth)...)
	}
	return rs
}

// checkPathIDs answers 404 for a request whose path names something that
// cannot be an Ethos id (a name, text with spaces or '^'): handlers put the
// ids of the path into audit entries, so only ids may get that far. The
// message names the wildcard, never the value.
func checkPathIDs(r *http.Request) error {
	rest := r.Pattern
	for {
		_, after, ok := strings.Cut(rest, "{")
		if !ok {
			return nil
		}
		name, tail, _ := strings.Cut(after, "}")
		rest = tail
		name = strings.TrimSuffix(name, "...")
		if !ethos.ValidNodeID(r.PathValue(name)) {
			return ethos.Errorf(ethos.ENOTFOUND, "%s: not an Ethos id (letters, digits, '_', '-', '.', ':')", name)
		}
	}
}

// authFunc wraps a handler that needs an authenticated principal.
type authFunc = func(h func(w http.ResponseWriter, r *http.Request, p *principal) error) func(w http.ResponseWriter, r *http.Request) error

// Reply and body types that are not root types.
type (
	health struct {
		Status     string `json:"status"`
		AuditSize  int64  `json:"audit_size"`
		Version    string `json:"version"`
		PolicyNote string `json:"policy"`
	}
	whoami struct {
		User  *ethos.User  `json:"user"`
		Party *ethos.Party `json:"party"`
		Token *ethos.Token `json:"token"`
	}
	partyIn struct {
		Name string          `json:"name"`
		Type ethos.PartyType `json:"type"`
	}
	userIn struct {
		PartyID string       `json:"party_id"`
		Name    string       `json:"name"`
		Roles   []ethos.Role `json:"roles"`
	}
	userPatch struct {
		Name     *string       `json:"name"`
		Roles    *[]ethos.Role `json:"roles"`
		Disabled *bool         `json:"disabled"`
	}
	tokenIn struct {
		UserID        string `json:"user_id"` // default: the caller
		Name          string `json:"name"`
		ExpiresInDays int    `json:"expires_in_days"` // default 90
	}
	tokenOut struct {
		Token  *ethos.Token `json:"token"`
		Secret string       `json:"secret"`
	}
	projectIn struct {
		Name            string `json:"name"`
		IntendedUse     string `json:"intended_use"`
		Modality        string `json:"modality"`
		ClinicalSetting string `json:"clinical_setting"`
		PartyID         string `json:"party_id"` // default: the caller's party
	}
	projectPatch struct {
		Name            *string `json:"name"`
		IntendedUse     *string `json:"intended_use"`
		Modality        *string `json:"modality"`
		ClinicalSetting *string `json:"clinical_setting"`
	}
	stageIn struct {
		Stage  ethos.Stage `json:"stage"`
		Reason string      `json:"reason"`
	}
	recordIn struct {
		Purpose      ethos.Purpose `json:"purpose"`
		Kind         string        `json:"kind"`
		Identifiable bool          `json:"identifiable"`
		Body         jsonValue     `json:"body"`
	}
	approvalIn struct {
		Purpose  ethos.Purpose `json:"purpose"`
		Decision string        `json:"decision"` // approved | rejected | conditional
		Note     string        `json:"note"`
		Ref      string        `json:"reference"`
	}
	recordsOut struct {
		View     ethos.View           `json:"view"`
		Decision ethos.AccessDecision `json:"decision"`
		Records  []*ethos.StageRecord `json:"records,omitempty"`
		Counts   []ethos.RecordCount  `json:"counts,omitempty"`
		Total    int                  `json:"total"`
	}
	duaIn struct {
		PartyID   string          `json:"party_id"`
		ProjectID string          `json:"project_id"`
		Stages    []ethos.Stage   `json:"stages"`
		Purposes  []ethos.Purpose `json:"purposes"`
		Views     []ethos.View    `json:"views"`
		ExpiresAt string          `json:"expires_at"` // RFC 3339
		Reference string          `json:"reference"`
	}
	checkIn struct {
		UserID    string        `json:"user_id"` // default: the caller
		ProjectID string        `json:"project_id"`
		Stage     ethos.Stage   `json:"stage"`
		Action    ethos.Action  `json:"action"`
		Purpose   ethos.Purpose `json:"purpose"`
		View      ethos.View    `json:"view"`
	}
	checkOut struct {
		Decision   ethos.AccessDecision `json:"decision"`
		UserID     string               `json:"user_id"`
		PartyType  ethos.PartyType      `json:"party_type"`
		Roles      []ethos.Role         `json:"roles"`
		Level      ethos.AccessLevel    `json:"level"`
		Meaning    string               `json:"level_meaning"`
		ActiveDUAs []string             `json:"active_duas"`
	}
	policyOut struct {
		Source  string        `json:"source"`
		Cells   []policy.Cell `json:"cells"`
		Widened []policy.Cell `json:"widened"`
	}
	reviewOut struct {
		UnusedDays int            `json:"unused_days"`
		Since      string         `json:"since"`
		DUAs       []*ethos.DUA   `json:"duas"`
		Tokens     []*ethos.Token `json:"tokens"`
	}
	eventOut struct {
		Index    int64     `json:"index"`
		Leaf     []byte    `json:"leaf"` // the canonical bytes (base64), what the proofs hash
		LeafHash string    `json:"leaf_hash"`
		Event    eventJSON `json:"event"`
	}
	eventJSON struct {
		Time      string `json:"time"`
		Actor     string `json:"actor"`
		Party     string `json:"party"`
		Action    string `json:"action"`
		Resource  string `json:"resource"`
		Stage     string `json:"stage"`
		Purpose   string `json:"purpose"`
		Decision  string `json:"decision"`
		Reason    string `json:"reason"`
		RequestID string `json:"request_id"`
	}
)
