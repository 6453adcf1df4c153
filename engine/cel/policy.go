package cel

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"

	"github.com/seed-12b584bc/ratify/builtins"
)

// Validation is one CEL expression that must hold, and the message given
// when it does not.
type Validation struct {
	Expression string `json:"expression"`
	Message    string `json:"message,omitempty"`
}

// Policy is a compiled list of validations; all must hold.
type Policy struct {
	programs []program
}

type program struct {
	Validation
	prg cel.Program
}

// ErrNoValidations is returned for an empty policy, which would admit everything.
var ErrNoValidations = errors.New("a CEL policy needs at least one validation")

// NewEnv is the CEL environment of policies: variables subject, reference,
// digest, namespace and every builtin family.
func NewEnv() (*cel.Env, error) {
	opts := []cel.EnvOption{
		cel.Variable("subject", cel.StringType),
		cel.Variable("reference", cel.StringType),
		cel.Variable("digest", cel.StringType),
		cel.Variable("namespace", cel.StringType),
	}
	for _, fam := range builtins.Families() {
		opts = append(opts, Library(fam))
	}
	return cel.NewEnv(opts...)
}

// Compile type-checks and plans the validations.
func Compile(vs []Validation) (*Policy, error) {
	if len(vs) == 0 {
		return nil, ErrNoValidations
	}
	env, err := NewEnv()
	if err != nil {
		return nil, err
	}
	p := &Policy{}
	for i, v := range vs {
		ast, iss := env.Compile(v.Expression)
		if iss.Err() != nil {
			return nil, fmt.Errorf("validation %d: %w", i+1, iss.Err())
		}
		if ast.OutputType() != cel.BoolType && ast.OutputType() != cel.DynType {
			return nil, fmt.Errorf("validation %d: %q is %s, want bool", i+1, v.Expression, ast.OutputType())
		}
		prg, err := env.Program(ast, cel.EvalOptions(cel.OptOptimize))
		if err != nil {
			return nil, fmt.Errorf("validation %d: %w", i+1, err)
		}
		p.programs = append(p.programs, program{Validation: v, prg: prg})
	}
	return p, nil
}

// Eval runs every validation; the subject is allowed when all hold. Each
// failing validation gives a reason: its message, or the expression, with
// the evaluation error if there was one.
func (p *Policy) Eval(ctx context.Context, env *builtins.Env, input map[string]any) (allow bool, reasons []string, err error) {
	ctx = builtins.WithEnv(ctx, env)
	allow = true
	for _, pr := range p.programs {
		res := <-pr.prg.ConcurrentEval(ctx, input)
		msg := pr.Message
		if msg == "" {
			msg = "validation failed: " + pr.Expression
		}
		switch {
		case res.Err != nil:
			allow = false
			reasons = append(reasons, fmt.Sprintf("%s: %v", msg, res.Err))
		case res.Val == types.True:
		default:
			allow = false
			reasons = append(reasons, msg)
		}
		if ctx.Err() != nil {
			return false, reasons, ctx.Err()
		}
	}
	return allow, reasons, nil
}
