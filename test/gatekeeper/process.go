package gatekeeper

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// logTailLines is how much of the log a failure shows.
const logTailLines = 80

// stopGrace is how long gatekeeper may take to stop after SIGTERM.
const stopGrace = 15 * time.Second

// process is gatekeeper running under the wrapper.
type process struct {
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{}
	err     error // cmd.Wait's, once exited is closed
}

// startProcess runs bin with args through the wrapper (this test binary,
// see wrapper.go) in a new mount namespace where hostsPath is /etc/hosts.
// Its output goes to logPath.
func startProcess(t testing.TB, bin string, args, env []string, hostsPath, logPath string) *process {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()

	cmd := exec.Command(self, append([]string{bin}, args...)...)
	cmd.Env = append(processEnv(), env...)
	cmd.Env = append(cmd.Env, wrapperEnv+"="+hostsPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{
		// Go makes / private recursively in the new namespace, so the
		// wrapper's bind mount never reaches the machine's.
		Unshareflags: syscall.CLONE_NEWNS,
		// A test binary killed outright takes gatekeeper with it.
		Pdeathsig: syscall.SIGKILL,
	}
	if err := cmd.Start(); err != nil {
		unavailable(t, "cannot run gatekeeper in a mount namespace of its own (needs root, CAP_SYS_ADMIN): %v", err)
	}
	p := &process{cmd: cmd, logPath: logPath, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	return p
}

// processEnv is this process's environment without what Start sets.
func processEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch name {
		case "KUBECONFIG", "POD_NAMESPACE", "POD_NAME", wrapperEnv:
			continue
		}
		env = append(env, kv)
	}
	return env
}

// unavailable ends a test that cannot run here: skipped locally, failed
// when CI=true so that CI never passes by skipping.
func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// exitedErr says how the process ended, or nil while it runs.
func (p *process) exitedErr() error {
	select {
	case <-p.exited:
		return fmt.Errorf("gatekeeper exited: %v", p.err)
	default:
		return nil
	}
}

// wrapperFailed reports whether the wrapper, not gatekeeper, failed: it
// could not make its mount or start gatekeeper.
func (p *process) wrapperFailed() bool {
	return p.exitedErr() != nil && strings.Contains(p.logs(), wrapperMarker)
}

// stop ends the process: SIGTERM, then SIGKILL after stopGrace.
func (p *process) stop() {
	if p.exitedErr() != nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(stopGrace):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

func (p *process) logs() string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return fmt.Sprintf("(reading gatekeeper's log: %v)", err)
	}
	return string(b)
}

// tail is the last n lines of the log.
func (p *process) tail(n int) string {
	lines := strings.Split(strings.TrimRight(p.logs(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// freePorts returns n loopback ports free a moment ago, all different.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}
