package main

import (
	"bufio"
	"context"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cdnpurge/cdnpurge/apiclient"
	"github.com/cdnpurge/cdnpurge/apiclient/cdnemu"
	"github.com/cdnpurge/cdnpurge/apiclient/credentials"
)

// `cdnpurge emulator --tls-ca-out` serves https with a throwaway CA's
// certificate, STS included.
func TestEmulatorCommandTLS(t *testing.T) {
	t.Parallel()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- newApp(noEnv, strings.NewReader("")).main(ctx, []string{"emulator", "--listen", "127.0.0.1:0",
			"--tls-ca-out", ca, "--account-id", "4242"}, pw, io.Discard)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("no address printed: %v", err)
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	fields := strings.Fields(line)
	if len(fields) < 4 || !strings.HasPrefix(fields[3], "https://127.0.0.1:") {
		t.Fatalf("line %q", line)
	}
	pem, err := os.ReadFile(ca)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("--tls-ca-out wrote no certificate")
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig.RootCAs = pool
	cl, err := apiclient.New(apiclient.Options{Endpoint: fields[3], STSEndpoint: fields[3], HTTPClient: &http.Client{Transport: tr},
		Credentials: credentials.Credentials{AccessKeyID: cdnemu.DefaultAccessKeyID, AccessKeySecret: cdnemu.DefaultAccessKeySecret}})
	if err != nil {
		t.Fatal(err)
	}
	id, err := cl.GetCallerIdentity(ctx)
	if err != nil || id.AccountID != "4242" {
		t.Errorf("GetCallerIdentity = %+v, %v", id, err)
	}
	stopEmulatorCmd(t, cancel, done)
	if code, _, stderr := runCLIWith(t, nil, "", "emulator", "--tls-cert", "x.pem"); code != 2 || !strings.Contains(stderr, "--tls-key") {
		t.Errorf("--tls-cert alone: code %d %s", code, stderr)
	}
}

// `cdnpurge emulator --dcdn-domains` serves those domains on the DCDN
// actions only, with DCDN's own quota flags.
func TestEmulatorCommandDCDNDomains(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- newApp(noEnv, strings.NewReader("")).main(ctx, []string{"emulator", "--listen", "127.0.0.1:0",
			"--domains", "example.com", "--dcdn-domains", "api.example.com,*.dyn.example.com", "--dcdn-url-quota", "2"}, pw, io.Discard)
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("no address printed: %v", err)
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	fields := strings.Fields(line)
	if len(fields) < 4 || !strings.Contains(line, "DCDNDomains: [api.example.com *.dyn.example.com]") {
		t.Fatalf("line %q", line)
	}
	cl, err := apiclient.New(apiclient.Options{Endpoint: fields[3], Endpoints: map[apiclient.Product]string{apiclient.ProductDCDN: fields[3]},
		Credentials: credentials.Credentials{AccessKeyID: cdnemu.DefaultAccessKeyID, AccessKeySecret: cdnemu.DefaultAccessKeySecret}})
	if err != nil {
		t.Fatal(err)
	}
	dcdn, cdn := apiclient.DCDN(), apiclient.CDN()
	if _, err := cl.Refresh(ctx, dcdn, apiclient.RefreshRequest{Paths: []string{"api.example.com/a", "x.dyn.example.com/b"}}); err != nil {
		t.Errorf("DCDN refresh: %v", err)
	}
	if q, err := cl.DescribeQuota(ctx, dcdn); err != nil || q.URLQuota != 2 || q.URLRemain != 0 {
		t.Errorf("DCDN quota %+v, %v", q, err)
	}
	if _, err := cl.Refresh(ctx, cdn, apiclient.RefreshRequest{Paths: []string{"api.example.com/a"}}); !apiclient.DomainNotFound(err) {
		t.Errorf("CDN refresh of a DCDN domain: %v", err)
	}
	if q, err := cl.DescribeQuota(ctx, cdn); err != nil || q.URLRemain != cdnemu.DefaultURLQuota {
		t.Errorf("CDN quota %+v, %v", q, err)
	}
	stopEmulatorCmd(t, cancel, done)
	if code, _, stderr := runCLIWith(t, nil, "", "emulator", "--domains", "a.example.com", "--dcdn-domains", "a.example.com"); code != 2 ||
		!strings.Contains(stderr, "--dcdn-domains") {
		t.Errorf("a domain on both products: code %d %s", code, stderr)
	}
}
