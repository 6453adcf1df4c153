package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"time"

	"oras.land/oras-go/v2/registry/remote"

	"github.com/seed-12b584bc/ratify/internal/sample"
)

// counting counts requests reaching the registry.
type counting struct {
	next http.Handler
	n    atomic.Int64
}

func (c *counting) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.n.Add(1)
	if os.Getenv("LOADGEN_TRACE") != "" {
		log.Println(r.Method, r.URL.String())
	}
	c.next.ServeHTTP(w, r)
}

// startDistribution runs the registry binary on a loopback port.
func startDistribution(bin, dir string) (host string, stop func(), err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	host = l.Addr().String()
	l.Close()
	cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n",
		filepath.Join(dir, "data"), host)
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return "", nil, err
	}
	cmd := exec.Command(bin, "serve", cfgPath)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop = func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
	for i := 0; i < 200; i++ {
		if c, err := net.Dial("tcp", host); err == nil {
			c.Close()
			return host, stop, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	return "", nil, errors.New("the distribution registry did not start")
}

func pushSigned(ctx context.Context, name string, key *sample.CosignKey, n int) ([]string, error) {
	refs := make([]string, n)
	err := parallel(n, 8, func(i int) error {
		repoName := fmt.Sprintf("%s-%d", name, i)
		repo, err := remote.NewRepository(repoName)
		if err != nil {
			return err
		}
		repo.PlainHTTP = true
		tag := "v1"
		d, err := sample.PushImage(ctx, repo, tag)
		if err == nil {
			_, err = sample.Cosign(ctx, key, repo, repoName, d, "")
		}
		if err != nil {
			return err
		}
		refs[i] = repoName + ":" + tag
		return nil
	})
	return refs, err
}

// countingProxy serves upstream (host:port, plain HTTP) on a loopback port
// through a counting reverse proxy: host is the proxy's address.
func countingProxy(upstream string) (reg *counting, host string, stop func(), err error) {
	target, err := neturl.Parse("http://" + upstream)
	if err != nil {
		return nil, "", nil, err
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	// Providers fetch in parallel: connections to the registry are kept
	// rather than opened per request, for both alike.
	rp.Transport = &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: time.Minute}
	reg = &counting{next: rp}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", nil, err
	}
	srv := &http.Server{Handler: reg, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return reg, ln.Addr().String(), func() { _ = srv.Close() }, nil
}
