package keyvaultsim

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// recorder remembers the status written, for Requests.
type recorder struct {
	http.ResponseWriter
	status int
}

func (r *recorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (v *Vault) serve(w http.ResponseWriter, r *http.Request) {
	rec := &recorder{ResponseWriter: w, status: http.StatusOK}
	v.handle(rec, r)
	v.mu.Lock()
	v.requests = append(v.requests, fmt.Sprintf("%s %s %d", r.Method, r.URL.Path, rec.status))
	v.mu.Unlock()
}

func (v *Vault) handle(w http.ResponseWriter, r *http.Request) {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if !strings.EqualFold(host, v.host) {
		writeError(w, http.StatusBadRequest, "BadParameter", "This vault is "+v.host+", not "+host+".", "")
		return
	}
	// The service challenges any request without a valid token first.
	switch auth := r.Header.Get("Authorization"); {
	case auth == "":
		v.challenge(w, "AKV10000: Request is missing a Bearer or PoP token.")
		return
	case v.authorize != nil:
		if !v.authorized(w, r, strings.TrimPrefix(auth, "Bearer ")) {
			return
		}
	case auth != "Bearer "+v.token:
		v.challenge(w, "AKV10032: Invalid issuer or audience: the token was not issued for this vault.")
		return
	}
	v.mu.Lock()
	latency, fail := v.latency, v.fail
	if v.fail.left > 0 {
		v.fail.left--
	}
	v.mu.Unlock()
	if latency > 0 {
		select {
		case <-time.After(latency):
		case <-r.Context().Done():
			return
		}
	}
	if fail.left != 0 {
		injected(w, fail.status)
		return
	}
	if r.Method != http.MethodGet {
		writeError(w, http.StatusMethodNotAllowed, "BadParameter", "The simulated vault serves only GET.", "")
		return
	}
	if r.URL.Query().Get("api-version") == "" {
		writeError(w, http.StatusBadRequest, "BadParameter", "The api-version query parameter is missing.", "")
		return
	}
	// /{kind}/{name}, /{kind}/{name}/ (latest), /{kind}/{name}/{version},
	// /{kind}/{name}/versions
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")
	kind := Kind(parts[0])
	if len(parts) < 2 || len(parts) > 3 || parts[1] == "" || !slices.Contains([]Kind{Keys, Secrets, Certificates}, kind) {
		writeError(w, http.StatusNotFound, "NotFound", "No such path: "+r.URL.Path, "")
		return
	}
	name, ver := parts[1], ""
	if len(parts) == 3 {
		ver = parts[2]
	}
	op := "get"
	if ver == "versions" {
		op = "list"
	}
	v.mu.Lock()
	denied := v.forbidden[string(kind)+" "+op]
	v.mu.Unlock()
	if denied {
		writeError(w, http.StatusForbidden, "Forbidden", fmt.Sprintf("Caller is not authorized to perform action on resource. Action: '%s %s'", kind, op), "ForbiddenByRbac")
		return
	}
	if op == "list" {
		v.list(w, r, kind, name)
		return
	}
	v.get(w, kind, name, ver)
}

// authorized asks the Authorizer about the request's token and operation,
// and answers the refusal itself (false).
func (v *Vault) authorized(w http.ResponseWriter, r *http.Request, token string) bool {
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")
	op := "get"
	if len(parts) == 3 && parts[2] == "versions" {
		op = "list"
	}
	err := v.authorize(token, Kind(parts[0]), op)
	var forbidden *ForbiddenError
	switch {
	case err == nil:
		return true
	case errors.As(err, &forbidden):
		writeError(w, http.StatusForbidden, "Forbidden", forbidden.Message, "ForbiddenByRbac")
	default:
		v.challenge(w, "AKV10032: Invalid issuer or audience: "+err.Error())
	}
	return false
}

func (v *Vault) challenge(w http.ResponseWriter, msg string) {
	w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer authorization="https://login.microsoftonline.com/%s", resource="%s"`, v.tenant, Resource))
	writeError(w, http.StatusUnauthorized, "Unauthorized", msg, "")
}

// injected answers a failure asked for with Fail.
func injected(w http.ResponseWriter, status int) {
	switch {
	case status == http.StatusTooManyRequests:
		w.Header().Set("Retry-After", "1")
		writeError(w, status, "Throttled", "Request was not processed because too many requests were received. Reason: A", "")
	case status >= 500:
		writeError(w, status, strings.ReplaceAll(http.StatusText(status), " ", ""), "The service is unavailable, try again later.", "")
	default:
		writeError(w, status, strings.ReplaceAll(http.StatusText(status), " ", ""), "Injected failure.", "")
	}
}

func writeError(w http.ResponseWriter, status int, code, msg, inner string) {
	e := map[string]any{"code": code, "message": msg}
	if inner != "" {
		e["innererror"] = map[string]any{"code": inner}
	}
	writeJSON(w, status, map[string]any{"error": e})
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

var notFoundCodes = map[Kind]string{Keys: "KeyNotFound", Secrets: "SecretNotFound", Certificates: "CertificateNotFound"}

var singular = map[Kind]string{Keys: "key", Secrets: "secret", Certificates: "certificate"}

func (v *Vault) get(w http.ResponseWriter, kind Kind, name, ver string) {
	v.mu.Lock()
	found := v.lookup(kind, name, ver)
	var (
		body   map[string]any
		status = http.StatusOK
		inner  string
	)
	switch {
	case found == nil:
	case kind == Secrets && !found.enabled:
		status, inner = http.StatusForbidden, "SecretDisabled"
	case kind == Keys && !found.enabled && v.keyForbidden:
		status, inner = http.StatusForbidden, "KeyDisabled"
	default:
		body = v.bundle(kind, name, found)
	}
	v.mu.Unlock()
	switch {
	case found == nil:
		what := name
		if ver != "" {
			what += "/" + ver
		}
		writeError(w, http.StatusNotFound, notFoundCodes[kind],
			fmt.Sprintf("A %s with (name/id) %s was not found in this key vault.", singular[kind], what), "")
	case inner != "":
		writeError(w, status, "Forbidden", fmt.Sprintf("Operation get is not allowed on a disabled %s.", singular[kind]), inner)
	default:
		writeJSON(w, status, body)
	}
}

func (v *Vault) id(kind Kind, name, ver string) string {
	return "https://" + v.host + "/" + string(kind) + "/" + name + "/" + ver
}

func (v *Vault) attributes(kind Kind, x *version) map[string]any {
	a := map[string]any{
		"enabled": x.enabled, "created": x.created.Unix(), "updated": x.created.Unix(),
		"recoveryLevel": "Recoverable+Purgeable", "recoverableDays": 90,
	}
	switch kind {
	case Keys:
		a["exportable"] = false
	case Certificates:
		a["nbf"], a["exp"] = x.cert.NotBefore.Unix(), x.cert.NotAfter.Unix()
	}
	return a
}

// bundle is the service's answer for one version; v.mu is held.
func (v *Vault) bundle(kind Kind, name string, x *version) map[string]any {
	b := map[string]any{"attributes": v.attributes(kind, x), "tags": map[string]any{}}
	switch kind {
	case Keys:
		key := map[string]any{"kid": v.id(Keys, name, x.id)}
		for k, val := range x.jwk {
			key[k] = val
		}
		b["key"] = key
		if x.managed {
			b["managed"] = true
		}
	case Secrets:
		b["id"], b["value"], b["contentType"] = v.id(Secrets, name, x.id), x.value, x.contentType
		if x.managed {
			b["managed"], b["kid"] = true, v.id(Keys, name, x.id)
		}
	case Certificates:
		b["id"], b["kid"], b["sid"] = v.id(Certificates, name, x.id), v.id(Keys, name, x.id), v.id(Secrets, name, x.id)
		b["cer"] = base64.StdEncoding.EncodeToString(x.cert.Raw)
		b["x5t"] = thumbprint(x)
		b["policy"] = map[string]any{
			"id":           "https://" + v.host + "/certificates/" + name + "/policy",
			"key_props":    x.keyProps,
			"secret_props": map[string]any{"contentType": x.contentType},
			"x509_props": map[string]any{
				"subject": x.cert.Subject.String(), "ekus": []string{"1.3.6.1.5.5.7.3.3"},
				"key_usage": []string{"digitalSignature"}, "validity_months": 12, "sans": map[string]any{},
			},
			"lifetime_actions": []any{map[string]any{
				"trigger": map[string]any{"lifetime_percentage": 80}, "action": map[string]any{"action_type": "AutoRenew"},
			}},
			"issuer":     map[string]any{"name": "Self"},
			"attributes": map[string]any{"enabled": true, "created": x.created.Unix(), "updated": x.created.Unix()},
		}
	}
	return b
}

func thumbprint(x *version) string {
	sum := sha1.Sum(x.cert.Raw)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// list answers a versions listing, a page at a time. The service lists
// versions in no order of creation; here they are in identifier order.
func (v *Vault) list(w http.ResponseWriter, r *http.Request, kind Kind, name string) {
	q := r.URL.Query()
	size := v.pageSize
	if n, err := strconv.Atoi(q.Get("maxresults")); err == nil && n > 0 && n < size {
		size = n
	}
	skip, _ := strconv.Atoi(q.Get("$skiptoken"))
	v.mu.Lock()
	vs := slices.Clone(v.objects[kind][name])
	slices.SortFunc(vs, func(a, b *version) int { return strings.Compare(a.id, b.id) })
	items := []any{}
	for i := skip; i >= 0 && i < len(vs) && i < skip+size; i++ {
		x := vs[i]
		item := map[string]any{"attributes": v.attributes(kind, x), "tags": map[string]any{}}
		switch kind {
		case Keys:
			item["kid"] = v.id(Keys, name, x.id)
		case Secrets:
			item["id"], item["contentType"] = v.id(Secrets, name, x.id), x.contentType
		case Certificates:
			item["id"], item["x5t"] = v.id(Certificates, name, x.id), thumbprint(x)
		}
		if x.managed {
			item["managed"] = true
		}
		items = append(items, item)
	}
	total := len(vs)
	v.mu.Unlock()
	body := map[string]any{"value": items, "nextLink": nil}
	if skip+size < total {
		next := url.Values{"api-version": {q.Get("api-version")}, "$skiptoken": {strconv.Itoa(skip + size)}, "maxresults": {strconv.Itoa(size)}}
		body["nextLink"] = "https://" + v.host + "/" + string(kind) + "/" + name + "/versions?" + next.Encode()
	}
	writeJSON(w, http.StatusOK, body)
}
