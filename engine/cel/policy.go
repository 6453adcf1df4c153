package cel

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"

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
	programs []*program
}

type program struct {
	Validation
	env *cel.Env
	ast *cel.Ast
	// instances are programs bound to an evaluation slot; one evaluation
	// uses an instance at a time, so bindings need no locks and calls stay
	// synchronous.
	instances sync.Pool
}

type instance struct {
	prg cel.Program
	ev  *evaluation
}

func (p *program) get() (*instance, error) {
	if in, ok := p.instances.Get().(*instance); ok {
		return in, nil
	}
	ev := &evaluation{}
	// cel.Functions is cel-go's way to bind late-bound overloads at
	// program creation (deprecated for ordinary functions, which bind in
	// the environment; ours must bind per evaluation).
	prg, err := p.env.Program(p.ast, cel.Functions(bindings(ev)...), cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return nil, err
	}
	return &instance{prg: prg, ev: ev}, nil
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
		pr := &program{Validation: v, env: env, ast: ast}
		// Plan one instance now, so planning errors surface at compile time.
		in, err := pr.get()
		if err != nil {
			return nil, fmt.Errorf("validation %d: %w", i+1, err)
		}
		pr.instances.Put(in)
		p.programs = append(p.programs, pr)
	}
	return p, nil
}

// Eval runs every validation; the subject is allowed when all hold. Each
// failing validation gives a reason: its message, or the expression, with
// the evaluation error if there was one.
func (p *Policy) Eval(ctx context.Context, env *builtins.Env, input map[string]any) (allow bool, reasons []string, err error) {
	allow = true
	for _, pr := range p.programs {
		res, evalErr := pr.eval(ctx, env, input)
		msg := pr.Message
		if msg == "" {
			msg = "validation failed: " + pr.Expression
		}
		switch {
		case evalErr != nil:
			allow = false
			reasons = append(reasons, fmt.Sprintf("%s: %v", msg, evalErr))
		case res == types.True:
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

func (p *program) eval(ctx context.Context, env *builtins.Env, input map[string]any) (ref.Val, error) {
	in, err := p.get()
	if err != nil {
		return nil, err
	}
	in.ev.ctx, in.ev.env = ctx, env
	defer func() {
		in.ev.ctx, in.ev.env = nil, nil
		p.instances.Put(in)
	}()
	val, _, err := in.prg.ContextEval(ctx, input)
	return val, err
}
