package main

import (
	"context"
	"flag"
	"net/url"
)

// connectOne parses the flags of a client command that takes exactly one
// positional id, then connects. A wrong number of positional arguments is
// a usage error with the message usage; the checks run in the order the
// commands always used: flags, arguments, then the connection settings.
func connectOne(fs *flag.FlagSet, args []string, connect func() (*client, error), usage string) (*client, string, error) {
	pos, err := parseArgs(fs, args)
	if err != nil {
		return nil, "", err
	}
	if len(pos) != 1 {
		return nil, "", usagef("%s", usage)
	}
	c, err := connect()
	if err != nil {
		return nil, "", err
	}
	return c, pos[0], nil
}

// connectDeployment parses the flags of a monitor command, requires a
// valid --deployment (dep) and connects.
func connectDeployment(fs *flag.FlagSet, args []string, connect func() (*client, error), dep *string) (*client, error) {
	if _, err := parseArgs(fs, args); err != nil {
		return nil, err
	}
	if err := needDeployment(*dep); err != nil {
		return nil, err
	}
	return connect()
}

// listProjectItems lists up to 1000 items of a project, from the server
// at path when remote yields a client (a token is set), otherwise from the
// data directory with local after the caller's read access to the project
// is checked (serverOrData). It returns the items and their total.
func listProjectItems[T any](ctx context.Context, env *Env, remote func() (*client, error), data, user, project, path string,
	local func(pa *processingApp) ([]T, int, error)) ([]T, int, error) {
	out, err := serverOrData(ctx, env, remote, data, user, project,
		func(cl *client) (listed[T], error) {
			var out listed[T]
			err := remoteRead(ctx, cl, project, path, url.Values{"limit": {"1000"}}, &out)
			return out, err
		},
		func(pa *processingApp) (listed[T], error) {
			if err := pa.datasetService().CheckRead(ctx, pa.caller, "project/"+pa.project.ID); err != nil {
				return listed[T]{}, err
			}
			items, n, err := local(pa)
			return listed[T]{Items: items, Total: n}, err
		})
	if err != nil {
		return nil, 0, err
	}
	return out.Items, out.Total, nil
}

// connectFlags parses the flags of a client command that takes no
// positional arguments, then connects.
func connectFlags(fs *flag.FlagSet, args []string, connect func() (*client, error)) (*client, error) {
	if err := parseFlags(fs, args); err != nil {
		return nil, err
	}
	return connect()
}
