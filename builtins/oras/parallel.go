package oras

import "sync"

// FetchConcurrency bounds the registry fetches one verification has in
// flight: the signatures of an image are fetched at once rather than one
// round trip after another, and a hostile image with many signatures still
// gets no more than this many connections, its budget no more than it
// allows (the budget is charged for each request as ever).
const FetchConcurrency = 4

// Parallel calls fn(0) … fn(n-1), at most FetchConcurrency at a time, and
// returns once all have returned. A panic in fn is raised again in the
// caller's goroutine, where a builtin's recovery sees it.
func Parallel(n int, fn func(i int)) {
	if n <= 1 {
		if n == 1 {
			fn(0)
		}
		return
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		next     int
		panicked any
	)
	take := func() (int, bool) {
		mu.Lock()
		defer mu.Unlock()
		if next >= n || panicked != nil {
			return 0, false
		}
		next++
		return next - 1, true
	}
	run := func(i int) {
		defer func() {
			if p := recover(); p != nil {
				mu.Lock()
				if panicked == nil {
					panicked = p
				}
				mu.Unlock()
			}
		}()
		fn(i)
	}
	for w := 0; w < min(n, FetchConcurrency); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i, ok := take(); ok; i, ok = take() {
				run(i)
			}
		}()
	}
	wg.Wait()
	if panicked != nil {
		panic(panicked)
	}
}
