package http

import (
	"net/http"
	"strconv"
	"time"

	"github.com/ethos-imaging/ethos"
)

// route is one API route. The OpenAPI document (openapi.json) must list
// exactly these; a test keeps them in sync.
type route struct {
	method, path string
	auth         bool
	handler      http.Handler
}

func routes(s *Server) []route {
	h := func(method, path string, f func(http.ResponseWriter, *http.Request) error) route {
		return route{method, path, true, s.wrap(f)}
	}
	return []route{
		{"GET", "/healthz", false, http.HandlerFunc(s.healthz)},
		{"GET", "/api/v1/openapi.json", false, http.HandlerFunc(serveOpenAPI)},
		h("GET", "/api/v1/me", s.me),
		h("GET", "/api/v1/parties", s.listParties),
		h("POST", "/api/v1/parties", s.createParty),
		h("GET", "/api/v1/users", s.listUsers),
		h("POST", "/api/v1/users", s.createUser),
		h("PATCH", "/api/v1/users/{id}", s.updateUser),
		h("GET", "/api/v1/tokens", s.listTokens),
		h("POST", "/api/v1/tokens", s.createToken),
		h("POST", "/api/v1/tokens/{id}/revoke", s.revokeToken),
		h("GET", "/api/v1/projects", s.listProjects),
		h("POST", "/api/v1/projects", s.createProject),
		h("GET", "/api/v1/projects/{id}", s.getProject),
		h("PATCH", "/api/v1/projects/{id}", s.updateProject),
		h("POST", "/api/v1/projects/{id}/stage", s.setStage),
		h("GET", "/api/v1/projects/{id}/stages/{stage}/records", s.listRecords),
		h("POST", "/api/v1/projects/{id}/stages/{stage}/records", s.createRecord),
		h("GET", "/api/v1/duas", s.listDUAs),
		h("POST", "/api/v1/duas", s.createDUA),
		h("POST", "/api/v1/duas/{id}/revoke", s.revokeDUA),
		h("POST", "/api/v1/access/check", s.accessCheck),
		h("GET", "/api/v1/access/policy", s.accessPolicy),
		h("GET", "/api/v1/access/review", s.accessReview),
		h("GET", "/api/v1/audit/checkpoint", s.auditCheckpoint),
		h("GET", "/api/v1/audit/proof/inclusion", s.auditInclusion),
		h("GET", "/api/v1/audit/proof/consistency", s.auditConsistency),
		h("GET", "/api/v1/audit/export", s.auditExport),
	}
}

// wrap turns a handler returning an error into an http.Handler.
func (s *Server) wrap(f func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := f(w, r); err != nil {
			s.error(w, r, err)
		}
	})
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "audit_events": s.App.Log.Size()})
}

// List is the body of every list response.
type List[T any] struct {
	Items []T `json:"items"`
	Total int `json:"total"`
}

func list[T any](items []T, total int) List[T] {
	if items == nil {
		items = []T{}
	}
	return List[T]{Items: items, Total: total}
}

// queryInt reads an integer query parameter (def when absent).
func queryInt(r *http.Request, name string, def int64) (int64, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, ethos.Errorf(ethos.EINVALID, "query parameter %s: want a non-negative integer", name)
	}
	return n, nil
}

func paging(r *http.Request) (offset, limit int, err error) {
	o, err := queryInt(r, "offset", 0)
	if err != nil {
		return 0, 0, err
	}
	l, err := queryInt(r, "limit", 100)
	if err != nil {
		return 0, 0, err
	}
	if l > 1000 {
		return 0, 0, ethos.Errorf(ethos.EINVALID, "query parameter limit: at most 1000")
	}
	return int(o), int(l), nil
}

func strPtr(r *http.Request, name string) *string {
	if v := r.URL.Query().Get(name); v != "" {
		return &v
	}
	return nil
}

func (s *Server) me(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, ethos.UserFromContext(r.Context()))
	return nil
}

func (s *Server) listParties(w http.ResponseWriter, r *http.Request) error {
	off, lim, err := paging(r)
	if err != nil {
		return err
	}
	f := ethos.PartyFilter{Name: strPtr(r, "name"), Offset: off, Limit: lim}
	if t := strPtr(r, "type"); t != nil {
		pt, err := ethos.ParsePartyType(*t)
		if err != nil {
			return err
		}
		f.Type = &pt
	}
	ps, n, err := s.App.FindParties(r.Context(), f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list(ps, n))
	return nil
}

// PartyInput is the body of POST /api/v1/parties.
type PartyInput struct {
	Name string          `json:"name"`
	Type ethos.PartyType `json:"type"`
}

func (s *Server) createParty(w http.ResponseWriter, r *http.Request) error {
	var in PartyInput
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	p := &ethos.Party{Name: in.Name, Type: in.Type}
	if err := p.Validate(); err != nil {
		return err
	}
	if err := s.App.CreateParty(r.Context(), p); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, p)
	return nil
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) error {
	off, lim, err := paging(r)
	if err != nil {
		return err
	}
	f := ethos.UserFilter{PartyID: strPtr(r, "party_id"), Offset: off, Limit: lim}
	if v := strPtr(r, "role"); v != nil {
		role, err := ethos.ParseRole(*v)
		if err != nil {
			return err
		}
		f.Role = &role
	}
	us, n, err := s.App.FindUsers(r.Context(), f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list(us, n))
	return nil
}

// UserInput is the body of POST /api/v1/users.
type UserInput struct {
	PartyID string       `json:"party_id"`
	Name    string       `json:"name"`
	Roles   []ethos.Role `json:"roles"`
}

func (s *Server) createUser(w http.ResponseWriter, r *http.Request) error {
	var in UserInput
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	u := &ethos.User{PartyID: in.PartyID, Name: in.Name, Roles: in.Roles}
	if err := u.Validate(); err != nil {
		return err
	}
	if err := s.App.CreateUser(r.Context(), u); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, u)
	return nil
}

func (s *Server) updateUser(w http.ResponseWriter, r *http.Request) error {
	var in ethos.UserUpdate
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	u, err := s.App.UpdateUser(r.Context(), r.PathValue("id"), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, u)
	return nil
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) error {
	uid := r.URL.Query().Get("user_id")
	if uid == "" && r.URL.Query().Get("all") != "true" {
		uid = ethos.UserFromContext(r.Context()).ID
	}
	ts, n, err := s.App.FindTokens(r.Context(), uid)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list(ts, n))
	return nil
}

// TokenInput is the body of POST /api/v1/tokens.
type TokenInput struct {
	UserID   string `json:"user_id"`   // default: the caller
	Name     string `json:"name"`      // what the token is for
	TTLHours int    `json:"ttl_hours"` // default 90 days
}

// TokenCreated is the answer to POST /api/v1/tokens: the only time the
// secret is shown.
type TokenCreated struct {
	Token  *ethos.Token `json:"token"`
	Secret string       `json:"secret"`
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request) error {
	var in TokenInput
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	if in.UserID == "" {
		in.UserID = ethos.UserFromContext(r.Context()).ID
	}
	if in.TTLHours < 0 {
		return ethos.Errorf(ethos.EINVALID, "field ttl_hours: must not be negative")
	}
	t, secret, err := s.App.CreateToken(r.Context(), in.UserID, in.Name, time.Duration(in.TTLHours)*time.Hour)
	if err != nil {
		return err
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, TokenCreated{Token: t, Secret: secret})
	return nil
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) error {
	t, err := s.App.RevokeToken(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, t)
	return nil
}

func (s *Server) listProjects(w http.ResponseWriter, r *http.Request) error {
	off, lim, err := paging(r)
	if err != nil {
		return err
	}
	f := ethos.ProjectFilter{Name: strPtr(r, "name"), Offset: off, Limit: lim}
	if v := strPtr(r, "stage"); v != nil {
		st, err := ethos.ParseStage(*v)
		if err != nil {
			return err
		}
		f.Stage = &st
	}
	ps, n, err := s.App.FindProjects(r.Context(), f)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list(ps, n))
	return nil
}

// ProjectInput is the body of POST /api/v1/projects.
type ProjectInput struct {
	Name            string `json:"name"`
	IntendedUse     string `json:"intended_use"`
	Modality        string `json:"modality"`
	ClinicalSetting string `json:"clinical_setting"`
}

func (s *Server) createProject(w http.ResponseWriter, r *http.Request) error {
	var in ProjectInput
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	p := &ethos.Project{Name: in.Name, IntendedUse: in.IntendedUse, Modality: in.Modality, ClinicalSetting: in.ClinicalSetting}
	if err := p.Validate(); err != nil {
		return err
	}
	if err := s.App.CreateProject(r.Context(), p); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, p)
	return nil
}

// ProjectDetail is a project with its stage history.
type ProjectDetail struct {
	*ethos.Project
	History []*ethos.StageChange `json:"history"`
}

func (s *Server) getProject(w http.ResponseWriter, r *http.Request) error {
	p, h, err := s.App.FindProject(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ProjectDetail{p, h})
	return nil
}

func (s *Server) updateProject(w http.ResponseWriter, r *http.Request) error {
	var in ethos.ProjectUpdate
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	p, err := s.App.UpdateProject(r.Context(), r.PathValue("id"), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

// StageInput is the body of POST /api/v1/projects/{id}/stage.
type StageInput struct {
	Stage  ethos.Stage `json:"stage"`
	Reason string      `json:"reason"`
}

func (s *Server) setStage(w http.ResponseWriter, r *http.Request) error {
	var in StageInput
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	if !in.Stage.Valid() {
		return ethos.Errorf(ethos.EINVALID, "field stage: unknown stage %q", in.Stage)
	}
	p, err := s.App.SetProjectStage(r.Context(), r.PathValue("id"), in.Stage, in.Reason)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

func pathStage(r *http.Request) (ethos.Stage, error) {
	return ethos.ParseStage(r.PathValue("stage"))
}

func (s *Server) listRecords(w http.ResponseWriter, r *http.Request) error {
	st, err := pathStage(r)
	if err != nil {
		return err
	}
	off, lim, err := paging(r)
	if err != nil {
		return err
	}
	var view ethos.View
	if v := r.URL.Query().Get("view"); v != "" {
		if view, err = ethos.ParseView(v); err != nil {
			return err
		}
	}
	rs, n, err := s.App.FindStageRecords(r.Context(), r.PathValue("id"), st, r.URL.Query().Get("purpose"), view, off, lim)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list(rs, n))
	return nil
}

// RecordInput is the body of POST /api/v1/projects/{id}/stages/{stage}/records.
type RecordInput struct {
	Kind    string     `json:"kind"`
	Title   string     `json:"title"`
	View    ethos.View `json:"view"`
	Purpose string     `json:"purpose"`
	Body    jsonRaw    `json:"body"`
}

func (s *Server) createRecord(w http.ResponseWriter, r *http.Request) error {
	st, err := pathStage(r)
	if err != nil {
		return err
	}
	var in RecordInput
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	rec := &ethos.StageRecord{ProjectID: r.PathValue("id"), Stage: st, Kind: in.Kind, Title: in.Title, View: in.View, Body: []byte(in.Body)}
	if err := s.App.CreateStageRecord(r.Context(), rec, in.Purpose); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, rec)
	return nil
}

func (s *Server) listDUAs(w http.ResponseWriter, r *http.Request) error {
	off, lim, err := paging(r)
	if err != nil {
		return err
	}
	ds, n, err := s.App.FindDUAs(r.Context(), ethos.DUAFilter{PartyID: strPtr(r, "party_id"), ProjectID: strPtr(r, "project_id"), Offset: off, Limit: lim})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list(ds, n))
	return nil
}

// DUAInput is the body of POST /api/v1/duas.
type DUAInput struct {
	PartyID    string        `json:"party_id"`
	ProjectID  string        `json:"project_id"`
	Stages     []ethos.Stage `json:"stages"`
	Purposes   []string      `json:"purposes"`
	Views      []ethos.View  `json:"views"`
	ExpiresAt  time.Time     `json:"expires_at"`
	ApprovedBy string        `json:"approved_by"`
	Reference  string        `json:"reference"`
}

func (s *Server) createDUA(w http.ResponseWriter, r *http.Request) error {
	var in DUAInput
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	d := &ethos.DUA{PartyID: in.PartyID, ProjectID: in.ProjectID, Stages: in.Stages, Purposes: in.Purposes, Views: in.Views,
		ExpiresAt: in.ExpiresAt, ApprovedBy: in.ApprovedBy, Reference: in.Reference}
	if err := d.Validate(); err != nil {
		return err
	}
	if err := s.App.CreateDUA(r.Context(), d); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, d)
	return nil
}

func (s *Server) revokeDUA(w http.ResponseWriter, r *http.Request) error {
	d, err := s.App.RevokeDUA(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

// CheckInput is the body of POST /api/v1/access/check.
type CheckInput struct {
	UserID    string       `json:"user_id"` // default: the caller
	ProjectID string       `json:"project_id"`
	Stage     ethos.Stage  `json:"stage"`
	Action    ethos.Action `json:"action"`
	Purpose   string       `json:"purpose"`
	View      ethos.View   `json:"view"`
}

func (s *Server) accessCheck(w http.ResponseWriter, r *http.Request) error {
	var in CheckInput
	if err := s.decode(w, r, &in); err != nil {
		return err
	}
	if !in.Action.Valid() {
		return ethos.Errorf(ethos.EINVALID, "field action: unknown action %q", in.Action)
	}
	if in.UserID == "" {
		in.UserID = ethos.UserFromContext(r.Context()).ID
	}
	d, err := s.App.Check(r.Context(), in.UserID, ethos.AccessRequest{ProjectID: in.ProjectID, Stage: in.Stage,
		Action: in.Action, Purpose: in.Purpose, View: in.View})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

func (s *Server) accessPolicy(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.App.Authorize(r.Context(), ethos.AccessRequest{Action: ethos.ActionDirectory}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"cells": s.Policy.Cells(), "widened": len(s.Policy.Widened())})
	return nil
}

func (s *Server) accessReview(w http.ResponseWriter, r *http.Request) error {
	days, err := queryInt(r, "unused_days", 90)
	if err != nil {
		return err
	}
	rev, err := s.App.AccessReview(r.Context(), int(days))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rev)
	return nil
}

func (s *Server) auditCheckpoint(w http.ResponseWriter, r *http.Request) error {
	cp, err := s.App.LatestCheckpoint(r.Context())
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write(cp)
	return nil
}

// InclusionResponse is an inclusion proof with the event's leaf bytes.
type InclusionResponse struct {
	Proof any    `json:"proof"`
	Leaf  string `json:"leaf"` // the canonical event, as stored
}

func (s *Server) auditInclusion(w http.ResponseWriter, r *http.Request) error {
	idx, err := queryInt(r, "index", -1)
	if err != nil {
		return err
	}
	if idx < 0 {
		return ethos.Errorf(ethos.EINVALID, "query parameter index is required")
	}
	size, err := queryInt(r, "tree_size", 0)
	if err != nil {
		return err
	}
	p, leaf, err := s.App.InclusionProof(r.Context(), idx, size)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, InclusionResponse{Proof: p, Leaf: string(leaf)})
	return nil
}

func (s *Server) auditConsistency(w http.ResponseWriter, r *http.Request) error {
	old, err := queryInt(r, "old_size", 0)
	if err != nil {
		return err
	}
	nw, err := queryInt(r, "new_size", 0)
	if err != nil {
		return err
	}
	p, err := s.App.ConsistencyProof(r.Context(), old, nw)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

func (s *Server) auditExport(w http.ResponseWriter, r *http.Request) error {
	// Authorize before the first byte, so a denial is a clean 403.
	if _, err := s.App.Authorize(r.Context(), ethos.AccessRequest{Action: ethos.ActionAuditRead}); err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	if err := s.App.Export(r.Context(), w); err != nil {
		s.Logger.Error("audit export failed mid-stream", "request_id", ethos.RequestIDFromContext(r.Context()), "err", err)
	}
	return nil
}

// Routes returns "METHOD /path" for every API route (the OpenAPI test
// compares them with openapi.json).
func (s *Server) Routes() []string {
	var out []string
	for _, rt := range routes(s) {
		out = append(out, rt.method+" "+rt.path)
	}
	return out
}
