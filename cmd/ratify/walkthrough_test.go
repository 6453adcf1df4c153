package main

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seed-12b584bc/ratify/test/regtest"
	"github.com/seed-12b584bc/ratify/test/tools"
)

// A step of the policy-authoring walkthrough: a ```sh block, what the
// comment before it asks of the test, and the ```text block after it, if any.
type walkStep struct {
	marker string
	script string
	expect []string
}

// walkthroughDoc is the page whose "## Walkthrough" section the test runs.
const walkthroughDoc = "../../docs/policy-authoring.md"

// walkthroughSteps reads the "Walkthrough" section of walkthroughDoc: it ends
// at the next heading of its level or above, outside code blocks (a shell
// comment in a block is not a heading).
//
// Markers: "<!-- walkthrough: ...starts... -->" before the block that starts
// a registry (the test starts one instead), "...stops..." before the block
// that stops it, and "exit N" before a block that must exit with N.
func walkthroughSteps(t *testing.T) []walkStep {
	t.Helper()
	b, err := os.ReadFile(walkthroughDoc)
	if err != nil {
		t.Fatal(err)
	}
	var steps []walkStep
	in, marker, block, lang := false, "", []string(nil), ""
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case lang == "" && strings.HasPrefix(line, "## Walkthrough"):
			in = true
			continue
		case in && lang == "" && (strings.HasPrefix(line, "## ") || strings.HasPrefix(line, "# ")):
			in = false
		}
		if !in {
			continue
		}
		switch {
		case lang != "" && line == "```":
			if lang == "sh" {
				steps = append(steps, walkStep{marker: marker, script: strings.Join(block, "\n") + "\n"})
				marker = ""
			} else if lang == "text" && len(steps) > 0 {
				steps[len(steps)-1].expect = block
			}
			lang, block = "", nil
		case lang != "":
			block = append(block, line)
		case strings.HasPrefix(line, "```"):
			lang = strings.TrimPrefix(line, "```")
		case strings.HasPrefix(line, "<!-- walkthrough:"):
			marker = strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(line, "<!-- walkthrough:"), "-->"))
		}
	}
	if len(steps) < 5 {
		t.Fatalf("the walkthrough in %s has %d shell steps", walkthroughDoc, len(steps))
	}
	return steps
}

// TestReadmeWalkthrough does what the policy-authoring walkthrough (the
// README's tour points to it) says, as a new user would: the shell blocks run
// in order, in a fresh directory, with the real notation CLI, crane and the
// ratify binary; the
// registry is a distribution registry (the image the walkthrough runs with
// docker), stopped where the walkthrough stops it. Each ```text block lists
// lines the step's output must contain ("…" ends a prefix).
func TestReadmeWalkthrough(t *testing.T) {
	steps := walkthroughSteps(t)
	bin := t.TempDir()
	for name, path := range map[string]string{
		"ratify": buildRatify(t), "notation": tools.Path(t, "notation"), "crane": tools.Path(t, "crane"),
	} {
		if err := os.Symlink(path, filepath.Join(bin, name)); err != nil {
			t.Fatal(err)
		}
	}
	home, work := t.TempDir(), t.TempDir()
	var reg *regtest.Registry
	env := func() []string {
		return append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
			"HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"), "DOCKER_CONFIG="+filepath.Join(home, ".docker"),
			"REGISTRY="+reg.Host)
	}

	for i, s := range steps {
		switch {
		case strings.Contains(s.marker, "starts"):
			reg = regtest.StartDistribution(t, regtest.DistributionOptions{})
			continue
		case strings.Contains(s.marker, "stops"):
			reg.Stop()
			continue
		}
		if reg == nil {
			t.Fatalf("step %d runs before the walkthrough starts a registry", i+1)
		}
		wantCode := 0
		if strings.HasPrefix(s.marker, "exit ") {
			wantCode = int(s.marker[len("exit ")] - '0')
		}
		cmd := exec.Command("bash", "-e", "-o", "pipefail", "-c", s.script)
		cmd.Dir, cmd.Env = work, env()
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		t.Logf("step %d:\n%s%s", i+1, s.script, out)
		if code != wantCode {
			t.Fatalf("step %d exited %d, want %d:\n%s\n%s", i+1, code, wantCode, s.script, out)
		}
		for _, line := range s.expect {
			want := strings.TrimSpace(strings.ReplaceAll(line, "localhost:5000", reg.Host))
			if cut := strings.Index(want, "…"); cut >= 0 {
				want = want[:cut]
			}
			if want != "" && !strings.Contains(string(out), want) {
				t.Errorf("step %d: output lacks %q", i+1, want)
			}
		}
	}
}
