package regtest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"

	"github.com/seed-12b584bc/ratify/internal/sample"
)

// Repo is a client for the repository name of r, over HTTPS trusting r's CA
// when r serves TLS, else over plain HTTP.
func (r *Registry) Repo(t testing.TB, name string) *remote.Repository {
	t.Helper()
	repo := Repo(t, r.Host, name, "", "")
	if r.TLS != nil {
		pem, err := os.ReadFile(r.TLS.CAFile)
		if err != nil {
			t.Fatal(err)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		repo.PlainHTTP = false
		repo.Client = &auth.Client{Client: &http.Client{Transport: tr}, Cache: auth.NewCache()}
	}
	return repo
}

// Repo is a client for host/name over plain HTTP, with credentials when
// username is set.
func Repo(t testing.TB, host, name, username, password string) *remote.Repository {
	t.Helper()
	r, err := remote.NewRepository(host + "/" + name)
	if err != nil {
		t.Fatal(err)
	}
	r.PlainHTTP = true
	client := &auth.Client{Cache: auth.NewCache()}
	if username != "" {
		client.Credential = auth.StaticCredential(host, auth.Credential{Username: username, Password: password})
	}
	r.Client = client
	return r
}

// PushImage pushes a small single-layer image with random content (so each
// call makes a new digest) and tags it when tag is set.
func PushImage(t testing.TB, repo oras.Target, tag string) ocispec.Descriptor {
	t.Helper()
	desc, err := sample.PushImage(context.Background(), repo, tag)
	if err != nil {
		t.Fatal(err)
	}
	return desc
}

// PushArtifact pushes an OCI 1.1 artifact manifest of artifactType whose
// subject is subject, with payload as its one layer.
func PushArtifact(t testing.TB, repo oras.Target, subject ocispec.Descriptor, artifactType string, payload []byte, annotations map[string]string) ocispec.Descriptor {
	t.Helper()
	desc, err := sample.PushArtifact(context.Background(), repo, subject, artifactType, payload, annotations)
	if err != nil {
		t.Fatal(err)
	}
	return desc
}
