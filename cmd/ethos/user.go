package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/ethos-imaging/ethos"
)

func runUser(ctx context.Context, env *Env, args []string) error {
	return dispatch(ctx, env, "user", []subcommand{
		{"create", "add a user to a party with roles", userCreate},
		{"list", "list users", userList},
		{"disable", "disable a user (their tokens stop working)", userDisable},
	}, args)
}

func parseRoles(s string) ([]ethos.Role, error) {
	var rs []ethos.Role
	for _, r := range splitList(s) {
		role, err := ethos.ParseRole(r)
		if err != nil {
			return nil, usagef("--roles: %s", ethos.ErrorMessage(err))
		}
		rs = append(rs, role)
	}
	if len(rs) == 0 {
		return nil, usagef("--roles is required (comma-separated: admin, data-steward, researcher, ml-engineer, clinician, ethics-reviewer, auditor, patient-advocate)")
	}
	return rs, nil
}

func userCreate(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "user create", "user create --party ID --name NAME --roles R1,R2 [--json]")
	df := addDataFlags(fs)
	party := fs.String("party", "", "party id")
	name := fs.String("name", "", "user's name (staff, never a patient)")
	roles := fs.String("roles", "", "comma-separated roles")
	asJSON := fs.Bool("json", false, "print as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := noArgs(fs, "user create"); err != nil {
		return err
	}
	rs, err := parseRoles(*roles)
	if err != nil {
		return err
	}
	return withData(ctx, env, df, func(ctx context.Context, in *instance) error {
		u := &ethos.User{PartyID: *party, Name: *name, Roles: rs}
		if err := in.app.CreateUser(ctx, u); err != nil {
			return err
		}
		if *asJSON {
			return printJSON(env.Stdout, u)
		}
		_, err := fmt.Fprintln(env.Stdout, u.ID)
		return err
	})
}

func userList(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "user list", "user list [--party ID] [--json]")
	df := addDataFlags(fs)
	party := fs.String("party", "", "only this party's users")
	asJSON := fs.Bool("json", false, "print as JSON")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := noArgs(fs, "user list"); err != nil {
		return err
	}
	return withData(ctx, env, df, func(ctx context.Context, in *instance) error {
		f := ethos.UserFilter{}
		if *party != "" {
			f.PartyID = party
		}
		us, _, err := in.app.FindUsers(ctx, f)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSON(env.Stdout, nonNil(us))
		}
		var rows [][]string
		for _, u := range us {
			rs := make([]string, len(u.Roles))
			for i, r := range u.Roles {
				rs[i] = string(r)
			}
			state := "active"
			if u.Disabled {
				state = "disabled"
			}
			rows = append(rows, []string{u.ID, u.PartyID, strings.Join(rs, ","), state, u.Name})
		}
		return table(env.Stdout, []string{"ID", "PARTY", "ROLES", "STATE", "NAME"}, rows)
	})
}

func userDisable(ctx context.Context, env *Env, args []string) error {
	fs := newFlagSet(env, "user disable", "user disable USER_ID")
	df := addDataFlags(fs)
	id, err := oneArgAnywhere(fs, args, "user disable", "user id")
	if err != nil {
		return err
	}
	return withData(ctx, env, df, func(ctx context.Context, in *instance) error {
		yes := true
		_, err := in.app.UpdateUser(ctx, id, ethos.UserUpdate{Disabled: &yes})
		return err
	})
}
