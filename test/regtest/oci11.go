package regtest

import (
	"bytes"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// StartOCI11 runs go-containerregistry's in-process registry with its OCI
// 1.1 referrers API on a loopback port. pageSize > 0 makes the referrers API
// paginate with the spec's `Link: <...>; rel="next"` header.
//
// go-containerregistry's handler takes a referrer's artifactType only from
// its config media type, ignores the artifactType filter and never pages;
// referrersAPI completes those parts of the OCI 1.1 distribution spec on top
// of it, reading each referrer manifest from the same registry.
func StartOCI11(t testing.TB, pageSize int) *Registry {
	t.Helper()
	inner := registry.New(registry.WithReferrersSupport(true), registry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(&referrersAPI{inner: inner, pageSize: pageSize})
	t.Cleanup(srv.Close)
	return &Registry{Host: strings.TrimPrefix(srv.URL, "http://"), stop: srv.Close}
}

type referrersAPI struct {
	inner    http.Handler
	pageSize int
}

func (h *referrersAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	elems := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if r.Method != http.MethodGet || len(elems) < 4 || elems[len(elems)-2] != "referrers" {
		h.inner.ServeHTTP(w, r)
		return
	}
	repo := strings.Join(elems[1:len(elems)-2], "/")
	rec := httptest.NewRecorder()
	h.inner.ServeHTTP(rec, r)
	if rec.Code != http.StatusOK {
		copyResponse(w, rec)
		return
	}
	var index ocispec.Index
	if err := json.Unmarshal(rec.Body.Bytes(), &index); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	want := r.URL.Query().Get("artifactType")
	var kept []ocispec.Descriptor
	for _, d := range index.Manifests {
		d.ArtifactType = h.artifactType(repo, d)
		if want == "" || d.ArtifactType == want {
			kept = append(kept, d)
		}
	}
	sort.Slice(kept, func(i, j int) bool { return kept[i].Digest < kept[j].Digest })
	if want != "" {
		w.Header().Set("OCI-Filters-Applied", "artifactType")
	}
	if last := r.URL.Query().Get("last"); last != "" {
		i := sort.Search(len(kept), func(i int) bool { return string(kept[i].Digest) > last })
		kept = kept[i:]
	}
	if h.pageSize > 0 && len(kept) > h.pageSize {
		kept = kept[:h.pageSize]
		q := url.Values{"last": {string(kept[len(kept)-1].Digest)}}
		if want != "" {
			q.Set("artifactType", want)
		}
		w.Header().Set("Link", "<"+r.URL.Path+"?"+q.Encode()+`>; rel="next"`)
	}
	if kept == nil {
		kept = []ocispec.Descriptor{}
	}
	index.Manifests = kept
	body, _ := json.Marshal(index)
	w.Header().Set("Content-Type", ocispec.MediaTypeImageIndex)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	_, _ = w.Write(body)
}

// artifactType reads the referrer manifest: its artifactType field, else
// its config media type, as the spec says.
func (h *referrersAPI) artifactType(repo string, d ocispec.Descriptor) string {
	req := httptest.NewRequest(http.MethodGet, "/v2/"+repo+"/manifests/"+d.Digest.String(), nil)
	req.Header.Set("Accept", d.MediaType)
	rec := httptest.NewRecorder()
	h.inner.ServeHTTP(rec, req)
	var m ocispec.Manifest
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &m) != nil {
		return d.ArtifactType
	}
	if m.ArtifactType != "" {
		return m.ArtifactType
	}
	return m.Config.MediaType
}

func copyResponse(w http.ResponseWriter, rec *httptest.ResponseRecorder) {
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = io.Copy(w, bytes.NewReader(rec.Body.Bytes()))
}
