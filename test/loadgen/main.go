// Command loadgen measures `ratify serve` the way Gatekeeper uses it:
// Gatekeeper-shaped requests over mutual TLS on loopback, against loopback
// registries. `make bench` runs its default mode, `make bench-compare` its
// peer mode.
//
// The default mode (10 keys a request, cosign-signed images) prints: warm
// (cached) request latency p50/p99 and keys/s; cold verification images/s;
// registry requests per cold verification of an image with one signature,
// on the OCI 1.1 registry and on the distribution registry (tag schema);
// peak RSS of the server after -keys keys over -images distinct images.
// With -compare it measures a second ratify binary the same way in the same
// run and prints the ratios.
//
// `loadgen peer` measures ratify beside Ratify v1.4.4 (the implementation
// it replaces) with the same registry, images, transport and load, and
// prints one table of both with the ratios: see peer.go.
package main

import (
	"flag"
	"log"
	"os"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "peer" {
		if err := peerMain(os.Args[2:]); err != nil {
			log.Fatal(err)
		}
		return
	}
	bin := flag.String("ratify", "bin/ratify", "the ratify binary")
	compare := flag.String("compare", "", "another ratify binary measured the same way in the same run (a baseline)")
	images := flag.Int("images", 10000, "distinct signed images")
	keys := flag.Int("keys", 100000, "keys sent in the RSS run")
	cold := flag.Int("cold", 1000, "images verified cold for the images/s figure")
	warm := flag.Int("warm", 20000, "warm requests")
	conc := flag.Int("concurrency", 4, "requests in flight")
	distImages := flag.Int("distribution-images", 200, "images on the distribution registry (0 skips it)")
	flag.Parse()
	bins := []string{*bin}
	if *compare != "" {
		bins = append(bins, *compare)
	}
	if err := run(bins, *images, *keys, *cold, *warm, *conc, *distImages); err != nil {
		log.Fatal(err)
	}
}
