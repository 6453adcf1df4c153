package builtins

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sort"
	"strconv"
	"strings"
)

// callKey is name and a digest of a canonical encoding of args (map keys
// sorted, every value length-prefixed so no two argument lists collide):
// the memo's key, and with revision and scope the cache's.
func callKey(name string, args []any) string {
	buf := make([]byte, 0, 512)
	for _, a := range args {
		buf = appendCanonical(buf, a)
	}
	sum := sha256.Sum256(buf)
	return name + "|" + hex.EncodeToString(sum[:])
}

func appendCanonical(buf []byte, v any) []byte {
	switch v := v.(type) {
	case nil:
		return append(buf, 'n')
	case bool:
		if v {
			return append(buf, 't')
		}
		return append(buf, 'f')
	case string:
		buf = append(buf, 's')
		buf = strconv.AppendInt(buf, int64(len(v)), 10)
		buf = append(buf, ':')
		return append(buf, v...)
	case float64:
		buf = append(buf, 'd')
		buf = strconv.AppendFloat(buf, v, 'g', -1, 64)
		return append(buf, ';')
	case json.Number:
		buf = append(buf, 'd')
		buf = append(buf, v...)
		return append(buf, ';')
	case []any:
		buf = append(buf, '[')
		buf = strconv.AppendInt(buf, int64(len(v)), 10)
		buf = append(buf, ':')
		for _, x := range v {
			buf = appendCanonical(buf, x)
		}
		return buf
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		buf = append(buf, '{')
		buf = strconv.AppendInt(buf, int64(len(v)), 10)
		buf = append(buf, ':')
		for _, k := range keys {
			buf = appendCanonical(buf, k)
			buf = appendCanonical(buf, v[k])
		}
		return buf
	default:
		// Other numbers: their JSON form.
		b, _ := json.Marshal(v)
		buf = append(buf, 'j')
		buf = strconv.AppendInt(buf, int64(len(b)), 10)
		buf = append(buf, ':')
		return append(buf, b...)
	}
}

// pinnedArg reports whether a subject argument names a digest: only then
// may its result outlive the evaluation, since a tag can move.
func pinnedArg(arg any) bool {
	s, _ := arg.(string)
	return strings.Contains(s, "@sha256:") || strings.Contains(s, "@sha512:")
}
