package oras

import "testing"

// onShallowStack returns fn's result, and raises fn's panic in the caller.
func TestOnShallowStack(t *testing.T) {
	if got := onShallowStack(func() int { return 42 }); got != 42 {
		t.Fatalf("got %d", got)
	}
	defer func() {
		if p := recover(); p != "boom" {
			t.Fatalf("recovered %v", p)
		}
	}()
	onShallowStack(func() int { panic("boom") })
	t.Fatal("no panic")
}
