package engine

// evalStackBytes is the stack an evaluation starts with. A policy
// evaluation recurses deeply (OPA's evaluator calls itself for every
// expression, rule and builtin), and a new goroutine's stack starts at a
// few KiB: grown by doubling deep in that recursion, each doubling copies
// the stack and adjusts every frame on it, which cost a quarter of the CPU
// of a cold verification. Grown once while the stack is shallow, it costs
// one small copy.
const evalStackBytes = 256 << 10

// growStack grows the calling goroutine's stack to at least
// evalStackBytes, while it holds few frames.
//
//go:noinline
func growStack() byte {
	var buf [evalStackBytes]byte
	return touch(buf[:])
}

// touch keeps buf (and so growStack's frame) from being optimised away.
//
//go:noinline
func touch(buf []byte) byte { return buf[len(buf)-1] }
