package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/seed-12b584bc/ratify/test/cluster"
	"github.com/seed-12b584bc/ratify/test/wait"
)

// Two replicas on one API server with leader election: both answer from
// a change, exactly one holds the Lease, and only it writes status; when
// it stops, the other takes the Lease over and writes status.
func (f *clusterFixture) replicas(t *testing.T) {
	c := cluster.Start(t)
	const ns, leaseName = "ratify-ha", "ratify-status.config.ratify.deislabs.io"
	c.Kubectl(t, "create", "namespace", ns)
	c.Apply(t, f.guide(t))
	// Each replica is the binary under its own name: the API server names
	// a writer (managedFields' manager) after it.
	names := []string{"ratify-a", "ratify-b"}
	replicas := map[string]*served{}
	dir := t.TempDir()
	for _, name := range names {
		bin := filepath.Join(dir, name)
		if err := os.Symlink(f.ratify, bin); err != nil {
			t.Fatal(err)
		}
		replicas[name] = f.serve(t, c, bin, ns, "--leader-elect")
	}
	// The replicas whose log says they acquired the Lease.
	acquired := func(among ...string) []string {
		var who []string
		for _, name := range among {
			if strings.Contains(strings.ToLower(replicas[name].logs.String()), "successfully acquired lease") {
				who = append(who, name)
			}
		}
		return who
	}
	var lease string
	wait.For(t, 30*time.Second, "one Lease, held", func() string {
		out := c.Leases(t, ns)
		if lines := strings.Split(out, "\n"); len(lines) != 1 || !strings.HasPrefix(out, leaseName+"=") || strings.HasSuffix(out, "=") {
			return out
		}
		lease = out
		return ""
	})
	var leader, other string
	wait.For(t, 10*time.Second, "exactly one replica acquired it", func() string {
		if who := acquired(names...); len(who) != 1 {
			return fmt.Sprintf("%v", who)
		}
		leader = acquired(names...)[0]
		return ""
	})
	if other = names[0]; other == leader {
		other = names[1]
	}
	t.Logf("Lease %s: %s", lease, leader)

	// A change: the cosign key rotated, and a provider that is refused.
	c.Apply(t, f.cosignKMP(t, f.rotatedKeyPEM)+"---\n"+kmpNoContentType("ha-refused", f.keyPEM))
	for _, name := range names {
		r := replicas[name]
		took := wait.For(t, 10*time.Second, name+": the old key's image denied", func() string {
			return expect(r.verify(t, f.cosignSigned), false)
		})
		if msg := expect(r.verify(t, f.rotatedSigned), true); msg != "" {
			t.Errorf("%s: signed with the new key: %s", name, msg)
		}
		t.Logf("%s answers from the change %s after kubectl apply returned", name, took.Round(time.Millisecond))
	}
	wait.For(t, 30*time.Second, "ha-refused's status", func() string {
		if st := c.Status(t, "keymanagementprovider", "", "ha-refused"); !strings.Contains(st, "contentType is required") {
			return st
		}
		return ""
	})
	for res, writers := range c.StatusWriters(t, "stores,keymanagementproviders,verifiers") {
		if len(writers) != 1 || writers[0] != leader {
			t.Errorf("%s: status written by %v, want only the Lease holder %s", res, writers, leader)
		}
	}

	// The holder stops (SIGTERM releases the Lease): the other takes over
	// and writes what changes next.
	stopped := replicas[leader]
	if err := stopped.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-stopped.done:
		stopped.done <- err // for the cleanup
		if err != nil {
			t.Fatalf("%s: exit after SIGTERM: %v\n%s", leader, err, stopped.logs)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("%s still running 15s after SIGTERM", leader)
	}
	took := wait.For(t, 30*time.Second, other+" holds the Lease", func() string {
		if out := c.Leases(t, ns); out == lease || strings.HasSuffix(out, "=") || len(acquired(other)) != 1 {
			return out
		}
		return ""
	})
	t.Logf("%s took the Lease over %s after %s stopped", other, took.Round(time.Millisecond), leader)
	c.Apply(t, strings.Replace(kmpNoContentType("ha-refused", f.keyPEM), "parameters: {", "parameters: {contentType: key, ", 1))
	wait.For(t, 30*time.Second, "ha-refused's new status", func() string {
		if st := c.Status(t, "keymanagementprovider", "", "ha-refused"); st != "true|" {
			return st
		}
		return ""
	})
	if w := c.StatusWriters(t, "stores,keymanagementproviders,verifiers")["keymanagementprovider/ha-refused"]; !strings.Contains(strings.Join(w, " "), other) {
		t.Errorf("ha-refused: status written by %v, want %s among them", w, other)
	}
	if msg := expect(replicas[other].verify(t, f.rotatedSigned), true); msg != "" {
		t.Errorf("%s after the takeover: %s", other, msg)
	}
}
