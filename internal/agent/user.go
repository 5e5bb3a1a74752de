package agent

import (
	"fmt"
	"os"
	"os/user"
	"strconv"

	"github.com/trainyard/trainyard/internal/driver"
)

// RunAs resolves the account jobs run as. name "" picks the default: "nobody" when the agent
// runs as root, else the agent's own account (nil). A root agent never runs jobs as root unless
// asked to by name, so a job cannot read the server's tokens and keys.
func RunAs(name string) (*driver.User, error) {
	if name == "" {
		if os.Geteuid() != 0 {
			return nil, nil
		}
		name = "nobody"
	}
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("run jobs as %q: %w", name, err)
	}
	if u.Uid == strconv.Itoa(os.Geteuid()) {
		return nil, nil
	}
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("run jobs as %q: only an agent running as root can switch users", name)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("run jobs as %q: uid %s gid %s are not numbers", name, u.Uid, u.Gid)
	}
	return &driver.User{Name: u.Username, UID: uint32(uid), GID: uint32(gid)}, nil
}
