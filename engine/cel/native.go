package cel

import (
	"fmt"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
)

// toNative converts a CEL value to the JSON-like Go value builtins take
// (map[string]any, []any, string, bool, float64, nil), directly: it runs
// on every builtin call.
func toNative(v ref.Val) (any, error) {
	switch v.Type() {
	case types.StringType, types.BoolType, types.DoubleType, types.NullType:
		return v.Value(), nil
	case types.IntType:
		return float64(v.Value().(int64)), nil
	case types.UintType:
		return float64(v.Value().(uint64)), nil
	case types.MapType:
		m := v.(traits.Mapper)
		out := make(map[string]any)
		for it := m.Iterator(); it.HasNext() == types.True; {
			k := it.Next()
			ks, ok := k.Value().(string)
			if !ok {
				return nil, fmt.Errorf("map key %v is not a string", k)
			}
			val, err := toNative(m.Get(k))
			if err != nil {
				return nil, err
			}
			out[ks] = val
		}
		return out, nil
	case types.ListType:
		l := v.(traits.Lister)
		n := l.Size().(types.Int)
		out := make([]any, 0, int(n))
		for i := types.Int(0); i < n; i++ {
			val, err := toNative(l.Get(i))
			if err != nil {
				return nil, err
			}
			out = append(out, val)
		}
		return out, nil
	}
	return nil, fmt.Errorf("unsupported CEL value of type %s", v.Type().TypeName())
}

// toVal converts a builtin result to a CEL value once, deeply, so the
// policy reads plain CEL maps and lists rather than reflecting on Go maps at
// every field access.
func toVal(v any) (any, error) { return deepVal(v), nil }

func deepVal(v any) ref.Val {
	switch v := v.(type) {
	case map[string]any:
		m := make(map[ref.Val]ref.Val, len(v))
		for k, x := range v {
			m[types.String(k)] = deepVal(x)
		}
		return types.NewRefValMap(types.DefaultTypeAdapter, m)
	case []any:
		l := make([]ref.Val, len(v))
		for i, x := range v {
			l[i] = deepVal(x)
		}
		return types.NewRefValList(types.DefaultTypeAdapter, l)
	case int64:
		return types.Int(v)
	case int:
		return types.Int(v)
	}
	return types.DefaultTypeAdapter.NativeToValue(v)
}
