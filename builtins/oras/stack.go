package oras

// onShallowStack runs fn on a goroutine of its own and returns its result.
//
// A builtin runs deep inside the policy evaluator's recursion (hundreds of
// frames), on a goroutine whose stack started small; what the builtin does
// (decoding JSON, parsing certificates, HTTP) grows that stack, and Go
// grows a stack by copying it and adjusting every frame on it. Run at the
// bottom of a fresh goroutine the same work grows a stack of a few frames:
// this cut a fifth of the CPU of a cold verification, for the price of a
// goroutine. A panic in fn is raised again in the caller's goroutine.
func onShallowStack[T any](fn func() T) T {
	var (
		out      T
		panicked any
		done     = make(chan struct{})
	)
	go func() {
		defer close(done)
		defer func() { panicked = recover() }()
		out = fn()
	}()
	<-done
	if panicked != nil {
		panic(panicked)
	}
	return out
}
