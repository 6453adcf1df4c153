package kmp

import (
	"context"
	"fmt"
	"time"

	"github.com/seed-12b584bc/ratify/builtins/decl"
)

// Source is what the kmp builtins read: keys and certificates of a
// provider reference as seen from a policy scope. *Registry implements it.
type Source interface {
	Keys(ctx context.Context, ref, scope string) ([]Key, error)
	Certificates(ctx context.Context, ref, scope string) ([]Certificate, error)
}

// Session is what the kmp family needs of an evaluation session: its key
// management providers, nil when none are configured.
type Session interface {
	decl.Session
	Providers() Source
}

// Builtins are the kmp family's declarations.
var Builtins = []*decl.Func{
	{
		Name: "kmp.keys", Family: "kmp", SubjectArg: -1,
		Description:       "The public keys of a key management provider: `name` (cluster-wide) or `namespace/name`.",
		Args:              []decl.Arg{{Name: "provider", Type: decl.String, Description: "provider reference"}},
		Result:            decl.Array,
		ResultDescription: "[{provider, name, version, enabled, algorithm, pem}]",
		Impl: decl.For(func(ctx context.Context, s Session, args []any) (any, error) {
			src, err := providers(s)
			if err != nil {
				return nil, err
			}
			keys, err := src.Keys(ctx, args[0].(string), s.Scope())
			if err != nil {
				return nil, err
			}
			return values(keys, Key.Value), nil
		}),
	},
	{
		Name: "kmp.certificates", Family: "kmp", SubjectArg: -1,
		Description:       "The certificates of a key management provider: `name` (cluster-wide) or `namespace/name`.",
		Args:              []decl.Arg{{Name: "provider", Type: decl.String, Description: "provider reference"}},
		Result:            decl.Array,
		ResultDescription: "[{provider, name, version, enabled, subject, issuer, notAfter, pem}]",
		Impl: decl.For(func(ctx context.Context, s Session, args []any) (any, error) {
			src, err := providers(s)
			if err != nil {
				return nil, err
			}
			certs, err := src.Certificates(ctx, args[0].(string), s.Scope())
			if err != nil {
				return nil, err
			}
			return values(certs, Certificate.Value), nil
		}),
	},
}

func providers(s Session) (Source, error) {
	src := s.Providers()
	if src == nil {
		return nil, fmt.Errorf("%w: no key management providers", decl.ErrNotConfigured)
	}
	return src, nil
}

// values converts items to the JSON-like array policies see (nil stays
// nil, as JSON null).
func values[T any](items []T, value func(T) map[string]any) []any {
	if items == nil {
		return nil
	}
	out := make([]any, len(items))
	for i, it := range items {
		out[i] = value(it)
	}
	return out
}

// Value is k as policies see it, the JSON form of Key.
func (k Key) Value() map[string]any {
	return map[string]any{
		"provider": k.Provider, "name": k.Name, "version": k.Version,
		"enabled": k.Enabled, "algorithm": k.Algorithm, "pem": k.PEM,
	}
}

// Value is c as policies see it, the JSON form of Certificate.
func (c Certificate) Value() map[string]any {
	return map[string]any{
		"provider": c.Provider, "name": c.Name, "version": c.Version, "enabled": c.Enabled,
		"subject": c.Subject, "issuer": c.Issuer, "notAfter": c.NotAfter.Format(time.RFC3339Nano), "pem": c.PEM,
	}
}
