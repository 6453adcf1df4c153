package main

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"oras.land/oras-go/v2/registry/remote"

	"github.com/seed-12b584bc/ratify/internal/sample"
)

// kind is what is attached to an image, and so the verdict both providers
// must give it.
type kind int

const (
	notationSigned kind = iota
	cosignSigned
	unsigned
	// Signed, but by a notation certificate or a cosign key that neither
	// provider trusts: a provider admitting these would be checking that a
	// signature exists, not whose it is.
	untrustedNotation
	untrustedCosign
	nKinds
)

func (k kind) String() string {
	return [...]string{"notation-signed", "cosign-signed", "unsigned", "untrusted-notation", "untrusted-cosign"}[k]
}

func (k kind) allowed() bool { return k == notationSigned || k == cosignSigned }

// image is one subject: its digest reference, the key Gatekeeper sends
// once Ratify's mutation has pinned a pod's image.
type image struct {
	ref  string
	kind kind
	// warmUp images are verified first on each new process, unmeasured:
	// what a provider does once (connections, lazy initialisation) is not
	// a cost of each cold verification.
	warmUp bool
}

// trust is what both providers are configured to trust: the notation
// certificate (a file, and its PEM and leaf subject for ratify's inline
// KMP) and the cosign public key.
type trust struct {
	certFile, certPEM, subject string
	keyFile, keyPEM            string
}

// clis runs the real notation and cosign CLIs with their own home, so
// that their keys and configuration stay in the run's directory.
type clis struct {
	notation, cosign, home string
}

func (c clis) run(bin string, args ...string) error {
	cmd := exec.Command(bin, args...)
	cmd.Dir = c.home
	cmd.Env = append(os.Environ(), "HOME="+c.home, "COSIGN_PASSWORD=", "TUF_ROOT="+filepath.Join(c.home, ".sigstore"))
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s: %w\n%s", filepath.Base(bin), strings.Join(args, " "), err, out)
	}
	return nil
}

// makeImages pushes n notation-signed, n cosign-signed and nUnsigned
// unsigned images, plus one of each untrusted kind, to the registry at host
// (plain HTTP), each in a repository of its own, and signs them with the
// CLIs: the trusted keys are "bench", the others "untrusted".
func makeImages(ctx context.Context, c clis, host string, n, nUnsigned int) ([]image, trust, error) {
	var tr trust
	for _, args := range [][]string{
		{c.notation, "cert", "generate-test", "--default", "bench"},
		{c.notation, "cert", "generate-test", "untrusted"},
		{c.cosign, "generate-key-pair"},
		{c.cosign, "generate-key-pair", "--output-key-prefix", "untrusted"},
	} {
		if err := c.run(args[0], args[1:]...); err != nil {
			return nil, tr, err
		}
	}
	tr.certFile = filepath.Join(c.home, ".config", "notation", "localkeys", "bench.crt")
	tr.keyFile = filepath.Join(c.home, "cosign.pub")
	certPEM, err := os.ReadFile(tr.certFile)
	if err != nil {
		return nil, tr, err
	}
	keyPEM, err := os.ReadFile(tr.keyFile)
	if err != nil {
		return nil, tr, err
	}
	block, _ := pem.Decode(certPEM)
	if block == nil {
		return nil, tr, errors.New("notation's test certificate is not PEM")
	}
	crt, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, tr, err
	}
	tr.certPEM, tr.keyPEM, tr.subject = string(certPEM), string(keyPEM), crt.Subject.String()

	// One more of each signed kind for the warm-up.
	counts := [nKinds]int{n + 1, n + 1, nUnsigned, 1, 1}
	var imgs []image
	for k, cnt := range counts {
		for i := 0; i < cnt; i++ {
			warmUp := kind(k).allowed() && i == n
			imgs = append(imgs, image{ref: fmt.Sprintf("%s/bench/%s-%d", host, kind(k), i), kind: kind(k), warmUp: warmUp})
		}
	}
	fmt.Printf("pushing %d images to %s ...\n", len(imgs), host)
	err = parallel(len(imgs), 4, func(i int) error {
		repo, err := remote.NewRepository(imgs[i].ref)
		if err != nil {
			return err
		}
		repo.PlainHTTP = true
		d, err := sample.PushImage(ctx, repo, "v1")
		if err != nil {
			return err
		}
		imgs[i].ref += "@" + d.Digest.String()
		return nil
	})
	if err != nil {
		return nil, tr, err
	}

	fmt.Printf("signing %d images with notation and %d with cosign ...\n", n+2, n+2)
	err = parallel(len(imgs), 2, func(i int) error {
		switch imgs[i].kind {
		case notationSigned:
			return c.run(c.notation, "sign", "--insecure-registry", imgs[i].ref)
		case untrustedNotation:
			return c.run(c.notation, "sign", "--insecure-registry", "--key", "untrusted", imgs[i].ref)
		case untrustedCosign:
			return c.cosignSign("untrusted.key", imgs[i].ref)
		}
		return nil
	})
	if err != nil {
		return nil, tr, err
	}
	// cosign signs several images in one call: one process per batch of 25
	// instead of one per image.
	var cosignRefs []string
	for _, im := range imgs {
		if im.kind == cosignSigned {
			cosignRefs = append(cosignRefs, im.ref)
		}
	}
	bs := batches(cosignRefs, 25)
	err = parallel(len(bs), 2, func(i int) error { return c.cosignSign("cosign.key", bs[i]...) })
	return imgs, tr, err
}

func (c clis) cosignSign(key string, refs ...string) error {
	return c.run(c.cosign, append([]string{"sign", "--key", key, "--tlog-upload=false", "--yes", "--allow-insecure-registry"}, refs...)...)
}

// parallel calls f(0..n-1) on workers goroutines and returns the first
// error.
func parallel(n, workers int, f func(i int) error) error {
	var (
		wg       sync.WaitGroup
		next     atomic.Int64
		mu       sync.Mutex
		firstErr error
	)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	return firstErr
}
