package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"time"

	"github.com/cdnpurge/cdnpurge/apiclient/cdnemu"
)

// DefaultEmulatorListen is where `cdnpurge emulator` listens by default.
const defaultEmulatorListen = "127.0.0.1:8090"

func (a *app) emulator(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := a.newFlagSet("emulator", "",
		`Run the CDN API emulator: a real HTTP server that checks v1 and V3 signatures,
serves STS (GetCallerIdentity, AssumeRole, AssumeRoleWithOIDC) and keeps an
account with domains, quotas, rate limits and tasks. For demos and tests only;
nothing real is purged. Point a client at it with CDNPURGE_ENDPOINT=<printed URL>.
It serves the DCDN refresh, preload, quota and task actions too (API 2018-01-15)
on the domains of --dcdn-domains, with a quota and tasks of their own; point
the DCDN endpoint (cdn.dcdn_endpoint) at the same URL.
With --tls-cert/--tls-key, or --tls-ca-out to make a throwaway CA, it speaks
https, which credentials-go's role and OIDC providers require of STS.`,
		`  cdnpurge emulator --listen 127.0.0.1:8090
  cdnpurge emulator --listen 127.0.0.1:0 --domains example.com,*.example.org
  cdnpurge emulator --domains example.com --dcdn-domains api.example.com --dcdn-url-quota 500
  CDNPURGE_ENDPOINT=http://127.0.0.1:8090 CDNPURGE_CDN_EMULATOR=true cdnpurge quota --sync
  cdnpurge emulator --listen 127.0.0.1:8443 --tls-ca-out /tmp/emu-ca.pem
  SSL_CERT_FILE=/tmp/emu-ca.pem CDNPURGE_ENDPOINT=https://127.0.0.1:8443 cdnpurge quota --sync`, stderr)
	var opts cdnemu.Options
	opts.RegisterFlags(fs)
	listen := fs.String("listen", defaultEmulatorListen, "`ADDR` to listen on (127.0.0.1:0 picks a free port)")
	certFile := fs.String("tls-cert", "", "serve https with this certificate `FILE` (PEM; with --tls-key)")
	keyFile := fs.String("tls-key", "", "private key `FILE` of --tls-cert (PEM)")
	caOut := fs.String("tls-ca-out", "", "serve https with a certificate of a throwaway CA, written to `FILE` (PEM) for SSL_CERT_FILE")
	if err := a.parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("emulator takes no arguments, got %q", fs.Args())
	}
	if err := opts.Validate(); err != nil {
		return usageError{err: err}
	}
	e, err := cdnemu.New(opts)
	if err != nil {
		return fmt.Errorf("emulator: %w", err)
	}
	if (*certFile == "") != (*keyFile == "") || (*certFile != "" && *caOut != "") {
		return usagef("emulator: give --tls-cert with --tls-key, or --tls-ca-out, not both")
	}
	var srv *cdnemu.Server
	switch {
	case *certFile != "":
		cert, cerr := tls.LoadX509KeyPair(*certFile, *keyFile)
		if cerr != nil {
			return fmt.Errorf("emulator: --tls-cert/--tls-key: %w", cerr)
		}
		srv, err = cdnemu.ServeTLS(e, *listen, cert)
	case *caOut != "":
		cert, cerr := selfSignedCert(*caOut)
		if cerr != nil {
			return fmt.Errorf("emulator: --tls-ca-out: %w", cerr)
		}
		srv, err = cdnemu.ServeTLS(e, *listen, cert)
	default:
		srv, err = cdnemu.Serve(e, *listen)
	}
	if err != nil {
		return fmt.Errorf("emulator on %s: %w (pick a free address with --listen)", *listen, err)
	}
	fmt.Fprintf(stdout, "emulator listening on %s (%s)\n", srv.URL, opts.String())
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	return srv.Shutdown(sctx)
}

// selfSignedCert makes a throwaway CA, writes its certificate to caFile and
// returns a server certificate it signed for the loopback addresses.
func selfSignedCert(caFile string) (tls.Certificate, error) {
	ca, err := cdnemu.NewTestCA()
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := ca.WriteCertFile(caFile); err != nil {
		return tls.Certificate{}, err
	}
	return ca.ServerCert()
}
