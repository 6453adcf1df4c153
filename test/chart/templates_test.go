package chart

import (
	"testing"
)

// helm lint --strict passes with the defaults and with each install's values.
func TestLint(t *testing.T) {
	h := newHelm(t)
	if out, err := h.run("lint", "--strict", chartDir()); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, in := range installs(t, newUserTLS(t)) {
		args := append([]string{"lint", "--strict", chartDir(), "--namespace", in.namespace}, in.flags...)
		if out, err := h.run(args...); err != nil {
			t.Errorf("%s: %v\n%s", in.name, err, out)
		}
	}
}

// Each install path renders what its values say.
func TestTemplates(t *testing.T) {
	h := newHelm(t)
	tls := newUserTLS(t)
	checks := map[string]func(*testing.T, docs){
		caseDefaults:   checkDefaults,
		caseGuide:      checkGuide,
		caseAddOn:      checkAddOn,
		caseUserTLS:    func(t *testing.T, d docs) { checkUserTLS(t, d, tls) },
		caseReplicas:   checkReplicas,
		caseEverything: checkEverything,
		caseDeprecated: checkDeprecated,
	}
	for _, in := range installs(t, tls) {
		t.Run(in.name, func(t *testing.T) {
			d := parse(t, h.template(t, in))
			checkEveryInstall(t, in, d)
			check, ok := checks[in.name]
			if !ok {
				t.Fatalf("no checks for %s", in.name)
			}
			check(t, d)
		})
	}
}
