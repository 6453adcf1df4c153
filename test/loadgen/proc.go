package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"time"
)

// cpuTime is the CPU the process has used (user and system), from
// /proc/<pid>/stat, in clock ticks of 10 ms (USER_HZ is 100 on Linux).
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(fields) < 13 {
		return 0, errors.New("short /proc stat")
	}
	var utime, stime int64
	if _, err := fmt.Sscan(fields[11], &utime); err != nil {
		return 0, err
	}
	if _, err := fmt.Sscan(fields[12], &stime); err != nil {
		return 0, err
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}

// peakRSS is the process's high-water resident set (VmHWM).
func peakRSS(pid int) (int64, error) {
	m, err := memoryOf(pid)
	return m.peak, err
}

// memory is what /proc/<pid>/status says of a process's resident set, in
// bytes: the high-water mark (VmHWM), and the set now (VmRSS) with its
// anonymous part (RssAnon: heap, stacks) and its file-backed part (RssFile:
// mostly the executable's own pages, mapped as they are touched).
type memory struct{ peak, now, anon, file int64 }

func memoryOf(pid int) (memory, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memory{}, err
	}
	var m memory
	fields := map[string]*int64{"VmHWM:": &m.peak, "VmRSS:": &m.now, "RssAnon:": &m.anon, "RssFile:": &m.file}
	for _, line := range strings.Split(string(b), "\n") {
		name, rest, _ := strings.Cut(line, "\t")
		if p, ok := fields[name]; ok {
			var kb int64
			if _, err := fmt.Sscanf(strings.TrimSpace(rest), "%d kB", &kb); err != nil {
				return memory{}, fmt.Errorf("%s in /proc/%d/status: %w", name, pid, err)
			}
			*p = kb << 10
			delete(fields, name)
		}
	}
	if len(fields) > 0 {
		return memory{}, fmt.Errorf("/proc/%d/status lacks %d of VmHWM, VmRSS, RssAnon, RssFile", pid, len(fields))
	}
	return m, nil
}

// process is a provider started by startProcess.
type process struct {
	addr    string // host:port it serves on
	pid     int
	logPath string
	done    chan struct{} // closed when it has exited
	state   *os.ProcessState
	stop    func()
}

// failed is err, saying so when the process has exited (a crash makes a
// request fail with a reset connection, which says nothing of why) and
// with the end of its log.
func (p *process) failed(err error) error {
	select {
	case <-p.done:
	case <-time.After(200 * time.Millisecond):
		return err
	}
	out, _ := os.ReadFile(p.logPath)
	if len(out) > 8192 {
		out = out[len(out)-8192:]
	}
	return &exitedError{cause: err, state: p.state.String(), log: string(out)}
}

// exitedError is a failure during which the provider's process exited.
type exitedError struct {
	cause      error
	state, log string
}

func (e *exitedError) Error() string {
	return fmt.Sprintf("%v; the provider exited (%s), its log ends:\n%s", e.cause, e.state, e.log)
}

func (e *exitedError) Unwrap() error { return e.cause }

// summary is how it exited: its state and the panic, if its log has one.
func (e *exitedError) summary() string {
	s := e.state
	lines := strings.Split(e.log, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "panic: ") {
			s += ", " + l
			// The frame that panicked, past the runtime's own.
			for _, f := range lines[i+1:] {
				if strings.HasPrefix(f, "\t") && !strings.Contains(f, "/src/runtime/") && strings.Contains(f, "@") {
					s += " at " + strings.TrimSpace(strings.Fields(f)[0])
					break
				}
			}
			break
		}
	}
	return s
}

// startProcess runs bin with args, then addrFlag and a free loopback
// address, its output in logPath, and waits until it accepts connections.
// env is added to the load generator's environment.
func startProcess(bin string, args []string, addrFlag string, env []string, logPath string) (*process, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(bin, append(append([]string(nil), args...), addrFlag, addr)...)
	cmd.Env = append(os.Environ(), env...)
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	p := &process{addr: addr, pid: cmd.Process.Pid, logPath: logPath, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		p.state = cmd.ProcessState
		logf.Close()
		close(p.done)
	}()
	p.stop = func() { _ = cmd.Process.Kill(); <-p.done }
	for i := 0; i < 400; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return p, nil
		}
		select {
		case <-p.done:
			return nil, p.failed(fmt.Errorf("%s did not start", bin))
		case <-time.After(50 * time.Millisecond):
		}
	}
	p.stop()
	out, _ := os.ReadFile(logPath)
	return nil, fmt.Errorf("%s did not start:\n%s", bin, out)
}
