package server

import (
	"unicode/utf8"

	"github.com/open-policy-agent/frameworks/constraint/pkg/externaldata"
)

// decodeFast reads the ProviderRequest Gatekeeper writes (encoding/json's
// output of externaldata.ProviderRequest: the fields apiVersion, kind and
// request.keys, strings without escapes) without encoding/json, which
// costs an eighth of a warm request's CPU. Anything else (another field, a
// repeated one, an escape, a null, invalid UTF-8, trailing data) is not
// read here: ok is false and the caller decodes with encoding/json, so that
// the fast path only ever gives what encoding/json would
// (FuzzDecodeFast holds it to that).
func decodeFast(b []byte) (req externaldata.ProviderRequest, ok bool) {
	d := scanner{b: b}
	var seenAPI, seenKind, seenRequest bool
	if !d.object(func(name []byte) bool {
		switch string(name) {
		case "apiVersion":
			if seenAPI {
				return false
			}
			seenAPI = true
			s, ok := d.raw()
			req.APIVersion = known(s, apiVersion, apiVersionV1)
			return ok
		case "kind":
			if seenKind {
				return false
			}
			seenKind = true
			s, ok := d.raw()
			req.Kind = externaldata.ProviderKind(known(s, kindRequest))
			return ok
		case "request":
			if seenRequest {
				return false
			}
			seenRequest = true
			seenKeys := false
			return d.object(func(name []byte) bool {
				if string(name) != "keys" || seenKeys {
					return false
				}
				seenKeys = true
				keys, ok := d.strings()
				req.Request.Keys = keys
				return ok
			})
		}
		return false
	}) {
		return externaldata.ProviderRequest{}, false
	}
	d.space()
	if d.i != len(d.b) {
		return externaldata.ProviderRequest{}, false
	}
	return req, true
}

// scanner reads the subset of JSON decodeFast accepts; every method
// returns false on anything outside it.
type scanner struct {
	b []byte
	i int
}

func (d *scanner) space() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// next skips whitespace and consumes c.
func (d *scanner) next(c byte) bool {
	d.space()
	if d.i < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	return false
}

// raw is the text of a string without escapes, control characters or
// invalid UTF-8, the quotes consumed.
func (d *scanner) raw() ([]byte, bool) {
	if !d.next('"') {
		return nil, false
	}
	start, ascii := d.i, true
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			s := d.b[start:d.i]
			d.i++
			return s, ascii || utf8.Valid(s)
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
		d.i++
	}
	return nil, false
}

// known is s as one of the strings of want it equals, without allocating.
func known(s []byte, want ...string) string {
	for _, w := range want {
		if string(s) == w {
			return w
		}
	}
	return string(s)
}

func (d *scanner) str() (string, bool) {
	s, ok := d.raw()
	return string(s), ok
}

// strings reads an array of strings, each its own allocation: a key is
// kept in cache entries, which must not hold the whole body alive.
func (d *scanner) strings() ([]string, bool) {
	if !d.next('[') {
		return nil, false
	}
	out := make([]string, 0, 8) // a pod's images, mostly
	if d.next(']') {
		return out, true
	}
	for {
		s, ok := d.str()
		if !ok {
			return nil, false
		}
		out = append(out, s)
		if d.next(']') {
			return out, true
		}
		if !d.next(',') {
			return nil, false
		}
	}
}

// object reads an object, calling field for each member after its name
// and colon; field reads the value.
func (d *scanner) object(field func(name []byte) bool) bool {
	if !d.next('{') {
		return false
	}
	if d.next('}') {
		return true
	}
	for {
		name, ok := d.raw()
		if !ok || !d.next(':') || !field(name) {
			return false
		}
		if d.next('}') {
			return true
		}
		if !d.next(',') {
			return false
		}
	}
}
