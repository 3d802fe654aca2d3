package main

import "flag"

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
