package kmp

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// transientError marks a fetch failure that may pass by itself.
type transientError struct{ err error }

func (e transientError) Error() string { return e.err.Error() }
func (e transientError) Unwrap() error { return e.err }

// isTransient tells failures worth waiting out (throttling, server errors,
// timeouts, a connection that failed) from those that need a change in
// the configuration or the vault.
func isTransient(err error) bool {
	if code := status(err); code != 0 {
		return code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500
	}
	var (
		unknownCA x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		verify    *tls.CertificateVerificationError
		dns       *net.DNSError
		netErr    net.Error
	)
	switch {
	case errors.As(err, &unknownCA), errors.As(err, &hostname), errors.As(err, &invalid), errors.As(err, &verify):
		return false // the vault's certificate is not trusted: a configuration matter
	case errors.As(err, &dns):
		return !dns.IsNotFound // no such vault is permanent
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF), errors.As(err, &netErr):
		return true
	}
	return false
}

// status is the HTTP status of the vault's (or the identity provider's)
// answer err carries, 0 if none.
func status(err error) int {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode
	}
	var af *azidentity.AuthenticationFailedError
	if errors.As(err, &af) && af.RawResponse != nil {
		return af.RawResponse.StatusCode
	}
	return 0
}

// vaultBody is Key Vault's error document.
type vaultBody struct {
	Error struct {
		Code       string `json:"code"`
		Message    string `json:"message"`
		InnerError struct {
			Code string `json:"code"`
		} `json:"innererror"`
	} `json:"error"`
}

func body(err error) (vaultBody, bool) {
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.RawResponse == nil {
		return vaultBody{}, false
	}
	payload, perr := runtime.Payload(re.RawResponse)
	var b vaultBody
	if perr != nil || json.Unmarshal(payload, &b) != nil {
		return vaultBody{}, false
	}
	return b, true
}

// isDisabledAnswer is the vault's 403 for a disabled object: code
// Forbidden, inner code SecretDisabled (or KeyDisabled).
func isDisabledAnswer(err error, inner string) bool {
	if status(err) != http.StatusForbidden {
		return false
	}
	b, ok := body(err)
	return ok && b.Error.Code == "Forbidden" && b.Error.InnerError.Code == inner
}

// summary is one line for a person: the vault's status, code and message
// instead of the SDK's page-long dump.
func summary(err error) string {
	code := status(err)
	if code == 0 {
		var ue *url.Error
		if errors.As(err, &ue) {
			return ue.Err.Error()
		}
		return err.Error()
	}
	s := fmt.Sprintf("the vault answered %d %s", code, http.StatusText(code))
	if b, ok := body(err); ok && b.Error.Code != "" {
		s += ": " + b.Error.Code
		if b.Error.Message != "" {
			s += ": " + b.Error.Message
		}
	}
	switch code {
	case http.StatusUnauthorized:
		s += " (the vault refused the identity's token)"
	case http.StatusForbidden:
		s += " (the identity needs get and list permission on keys and secrets, e.g. the roles Key Vault Crypto User and Key Vault Secrets User)"
	case http.StatusNotFound:
		s += " (no such object or version in the vault)"
	}
	return s
}

// describedError is err told in one line, still matching errors.As/Is.
type describedError struct {
	msg string
	err error
}

func (e describedError) Error() string { return e.msg }
func (e describedError) Unwrap() error { return e.err }

func vaultError(kind, name, version string, err error) error {
	what := kind + " " + name
	if version != "" {
		what += " version " + version
	}
	return describedError{what + ": " + summary(err), err}
}
