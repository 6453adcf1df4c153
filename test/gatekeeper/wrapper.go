package gatekeeper

import (
	"fmt"
	"os"
	"strings"
	"syscall"
)

// wrapperEnv, when set, makes this process the wrapper that starts
// gatekeeper: its value is the hosts file to bind-mount over /etc/hosts,
// os.Args[1] is gatekeeper and os.Args[2:] its arguments. Start runs the
// test binary again this way, in a new mount namespace.
const wrapperEnv = "RATIFY_GATEKEEPER_HOSTS_FILE"

// wrapperFailed is the wrapper's exit code when it could not make the
// mount or start gatekeeper; its message is in the log.
const wrapperFailed = 97

// wrapperMarker starts every message of the wrapper, so that Start can tell
// a wrapper failure from a gatekeeper one in the log.
const wrapperMarker = "gatekeeper wrapper: "

// The wrapper runs before the test binary parses its flags or runs any
// test: a test binary that imports this package needs no TestMain.
func init() {
	if hosts, ok := os.LookupEnv(wrapperEnv); ok {
		os.Exit(runWrapper(hosts, os.Args[1:]))
	}
}

// runWrapper bind-mounts hosts over /etc/hosts and replaces this process by
// gatekeeper. The parent started it with CLONE_NEWNS, for which Go makes /
// private recursively, so the mount stays in this process's namespace. It
// returns only on failure.
func runWrapper(hosts string, args []string) int {
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, wrapperMarker+"no gatekeeper to run")
		return wrapperFailed
	}
	if err := syscall.Mount(hosts, "/etc/hosts", "", syscall.MS_BIND, ""); err != nil {
		fmt.Fprintf(os.Stderr, "%sbind-mounting %s over /etc/hosts: %v\n", wrapperMarker, hosts, err)
		return wrapperFailed
	}
	env := make([]string, 0, len(os.Environ()))
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, wrapperEnv+"=") {
			env = append(env, kv)
		}
	}
	err := syscall.Exec(args[0], append([]string{"gatekeeper"}, args[1:]...), env)
	fmt.Fprintf(os.Stderr, "%sexec %s: %v\n", wrapperMarker, args[0], err)
	return wrapperFailed
}

// hostsFile is the machine's /etc/hosts with a line mapping names to
// 127.0.0.1 after it.
func hostsFile(names []string) ([]byte, error) {
	base, err := os.ReadFile("/etc/hosts")
	if err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	var b strings.Builder
	b.Write(base)
	if len(base) > 0 && base[len(base)-1] != '\n' {
		b.WriteByte('\n')
	}
	if len(names) > 0 {
		b.WriteString("# names of the test's processes, for gatekeeper only\n")
		b.WriteString("127.0.0.1 " + strings.Join(names, " ") + "\n")
	}
	return []byte(b.String()), nil
}
