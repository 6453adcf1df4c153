package cel

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/checker"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/interpreter"

	"github.com/seed-12b584bc/ratify/builtins"
)

// Validation is one CEL expression that must hold, and the message given
// when it does not.
type Validation struct {
	Expression string `json:"expression"`
	Message    string `json:"message,omitempty"`
}

// CostLimit is the budget of one validation's evaluation, in cel-go's cost
// units (see cel.CostLimit): about one per operation, so one per element
// of a list a macro iterates, plus the cost of what it evaluates for each.
// An evaluation that exceeds it stops with ErrCostLimit, whatever time is
// left before the deadline: the cost of an expression depends only on it
// and on its inputs, so the overrun is the policy's error, the same at
// every evaluation. A million is Kubernetes' per-expression limit for
// ValidatingAdmissionPolicy. Verification policies spend a few units per
// builtin call and per element of a builtin's result they iterate
// (hundreds to thousands in all), so it leaves room for attestations with
// thousands of entries; exhausting it takes about 0.2 s of one core
// (BenchmarkCostLimit), and the request's deadline still bounds the time a
// policy of many validations takes.
//
// The limit is checked as the expression runs, not at Compile: the
// checker's estimate cannot bound expressions over builtin results (lists
// of unknown size, so the estimated maximum is unbounded for every policy
// that iterates referrers or signatures), and its minimum ignores the
// short-circuits of all and exists (an expression it estimates above the
// limit may stop after one element), so neither rejects soundly. The
// estimate serves one purpose: cel-go's cost tracking makes an evaluation
// several times slower and allocates at every step, so a validation whose
// estimated maximum is well within the limit (it never iterates anything
// of unknown size; see estimateMargin) runs without it.
const CostLimit uint64 = 1_000_000

// estimateMargin: a validation runs without cost tracking when its
// estimated maximum cost times estimateMargin is within the limit. The
// estimate is meant as an upper bound but is not exact: cel-go's tracking
// counts one more than its estimate for each index of a map literal, some
// 1% more in loops (TestCostEstimateBoundsEvaluation). Should an estimate
// still fall short, the deadline stops the evaluation.
const estimateMargin = 4

// interruptCheckFrequency is how many iterations of macros (all, exists,
// map, filter, ...) run between two looks at the context, so an evaluation
// stops soon after its deadline or cancellation. A look is a non-blocking
// receive: a hundred iterations cost far more.
const interruptCheckFrequency = 100

// ErrCostLimit is returned when a validation exceeded CostLimit.
var ErrCostLimit = errors.New("the policy exceeded its cost limit")

// Policy is a compiled list of validations; all must hold.
type Policy struct {
	programs []*program
}

type program struct {
	Validation
	env *cel.Env
	ast *cel.Ast
	// costLimit is the cost limit the evaluation checks: CostLimit, or 0
	// (none) when the estimate proves the program within it, and in tests
	// of the deadline.
	costLimit uint64
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
	opts := []cel.ProgramOption{
		cel.Functions(bindings(ev)...),
		cel.EvalOptions(cel.OptOptimize),
		// Stop at the context's deadline (see program.eval) and at the budget.
		cel.InterruptCheckFrequency(interruptCheckFrequency),
	}
	if p.costLimit > 0 {
		opts = append(opts, cel.CostLimit(p.costLimit))
	}
	prg, err := p.env.Program(p.ast, opts...)
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

// Compile type-checks and plans the validations, each with CostLimit.
func Compile(vs []Validation) (*Policy, error) {
	return compile(vs, CostLimit)
}

// compile is Compile with another cost limit (0: none).
func compile(vs []Validation, costLimit uint64) (*Policy, error) {
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
		pr := &program{Validation: v, env: env, ast: ast, costLimit: costLimit}
		if est, err := env.EstimateCost(ast, noEstimates{}); err == nil && est.Max <= costLimit/estimateMargin {
			pr.costLimit = 0
		}
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

// noEstimates leaves every size and call cost to cel-go's defaults, which
// are those of its runtime cost tracking: sizes not known from the
// expression itself are unbounded.
type noEstimates struct{}

func (noEstimates) EstimateSize(checker.AstNode) *checker.SizeEstimate { return nil }
func (noEstimates) EstimateCallCost(string, string, *checker.AstNode, []checker.AstNode) *checker.CallEstimate {
	return nil
}

// Eval runs every validation; the subject is allowed when all hold. Each
// failing validation gives a reason: its message, or the expression, with
// the evaluation error if there was one. Two failures are errors of the
// whole evaluation, which then stops: the context's end (the error wraps
// ctx.Err(), context.DeadlineExceeded or context.Canceled) and a validation
// over its cost limit (the error wraps ErrCostLimit).
func (p *Policy) Eval(ctx context.Context, sess *builtins.Session, input map[string]any) (allow bool, reasons []string, err error) {
	allow = true
	for i, pr := range p.programs {
		res, evalErr := pr.eval(ctx, sess, input)
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
		if cerr := ctx.Err(); cerr != nil {
			if evalErr != nil && errors.Is(evalErr, cerr) {
				return false, reasons, fmt.Errorf("validation %d: %w", i+1, evalErr)
			}
			return false, reasons, cerr
		}
		if errors.Is(evalErr, ErrCostLimit) {
			return false, reasons, fmt.Errorf("validation %d: %w", i+1, evalErr)
		}
	}
	return allow, reasons, nil
}

func (p *program) eval(ctx context.Context, sess *builtins.Session, input map[string]any) (ref.Val, error) {
	in, err := p.get()
	if err != nil {
		return nil, err
	}
	in.ev.ctx, in.ev.sess = ctx, sess
	defer func() {
		in.ev.ctx, in.ev.sess = nil, nil
		p.instances.Put(in)
	}()
	// ContextEval stops the evaluation soon after ctx ends (every
	// interruptCheckFrequency iterations) with an error wrapping
	// context.Cause(ctx).
	val, _, err := in.prg.ContextEval(ctx, input)
	if err != nil {
		if c, ok := errors.AsType[interpreter.EvalCancelledError](err); ok && c.Cause == interpreter.CostLimitExceeded {
			return nil, fmt.Errorf("%w of %d: %v", ErrCostLimit, p.costLimit, err)
		}
	}
	return val, err
}
