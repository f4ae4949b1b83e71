package netin

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// pki is a test certificate authority with a server and a client
// certificate, written as PEM files.
type pki struct {
	dir                   string
	caFile                string
	serverCert, serverKey string
	clientCert, clientKey string
	pool                  *x509.CertPool
	clientPair            tls.Certificate
	otherClientPair       tls.Certificate // signed by another CA
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	p := &pki{dir: t.TempDir(), pool: x509.NewCertPool()}
	ca, caKey := makeCert(t, "metlog test CA", nil, nil, true, 0)
	p.caFile = p.writePEM(t, "ca.crt", "CERTIFICATE", ca.Raw)
	p.pool.AddCert(ca)
	srv, srvKey := makeCert(t, "127.0.0.1", ca, caKey, false, x509.ExtKeyUsageServerAuth)
	p.serverCert = p.writePEM(t, "server.crt", "CERTIFICATE", srv.Raw)
	p.serverKey = p.writeKey(t, "server.key", srvKey)
	cli, cliKey := makeCert(t, "client", ca, caKey, false, x509.ExtKeyUsageClientAuth)
	p.clientCert = p.writePEM(t, "client.crt", "CERTIFICATE", cli.Raw)
	p.clientKey = p.writeKey(t, "client.key", cliKey)
	var err error
	if p.clientPair, err = tls.LoadX509KeyPair(p.clientCert, p.clientKey); err != nil {
		t.Fatal(err)
	}
	other, otherKey := makeCert(t, "another CA", nil, nil, true, 0)
	stranger, strangerKey := makeCert(t, "stranger", other, otherKey, false, x509.ExtKeyUsageClientAuth)
	if p.otherClientPair, err = tls.X509KeyPair(
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: stranger.Raw}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: marshalKey(t, strangerKey)})); err != nil {
		t.Fatal(err)
	}
	return p
}

func makeCert(t *testing.T, cn string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, isCA bool, usage x509.ExtKeyUsage) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	if isCA {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
		parent, parentKey = tmpl, key
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{usage}
		if usage == x509.ExtKeyUsageServerAuth {
			tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func marshalKey(t *testing.T, k *ecdsa.PrivateKey) []byte {
	t.Helper()
	b, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func (p *pki) writePEM(t *testing.T, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(p.dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func (p *pki) writeKey(t *testing.T, name string, k *ecdsa.PrivateKey) string {
	t.Helper()
	return p.writePEM(t, name, "PRIVATE KEY", marshalKey(t, k))
}

// tlsSection is the [in.tls] table of a server with the test PKI.
func (p *pki) tlsSection(clientAuth string) string {
	s := fmt.Sprintf("[in.tls]\ncert_file = %q\nkey_file = %q\n", p.serverCert, p.serverKey)
	if clientAuth != "" {
		s += fmt.Sprintf("ca_file = %q\nclient_auth = %q\n", p.caFile, clientAuth)
	}
	return s
}

// sendTLS connects with cfg, writes b and half-closes; it returns the
// error of the first step that failed (a server that refuses the client
// certificate under TLS 1.3 is only seen when reading).
func sendTLS(addr string, cfg *tls.Config, b []byte) error {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Write(b); err != nil {
		return err
	}
	if err := c.CloseWrite(); err != nil {
		return err
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = io.ReadAll(c)
	return err
}

// TestTLS checks TLS and mutual TLS: the right clients get through, the
// others fail their handshake, and each failure is counted.
func TestTLS(t *testing.T) {
	p := newPKI(t)
	for _, tc := range []struct {
		name       string
		clientAuth string
		client     *tls.Config
		ok         bool
	}{
		{"tls", "", &tls.Config{RootCAs: p.pool}, true},
		{"tls-client-without-ca", "", &tls.Config{}, false}, // the client refuses the server
		{"mutual", "require", &tls.Config{RootCAs: p.pool, Certificates: []tls.Certificate{p.clientPair}}, true},
		{"mutual-no-client-cert", "require", &tls.Config{RootCAs: p.pool}, false},
		{"mutual-foreign-client-cert", "require", &tls.Config{RootCAs: p.pool,
			// Sent even though the server does not ask for its CA.
			GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &p.otherClientPair, nil },
		}, false},
		{"mutual-tls12-no-client-cert", "require", &tls.Config{RootCAs: p.pool, MaxVersion: tls.VersionTLS12}, false},
		{"request-no-client-cert", "request", &tls.Config{RootCAs: p.pool}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pl, out, addr := startStream(t, "tcp", formatHeka, p.tlsSection(tc.clientAuth))
			err := sendTLS(addr, tc.client, concat(frameOf("secret"), sentinel()))
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				got := out.Wait(t, 2)
				if got[0].Payload != "secret" {
					t.Fatalf("got %+v", got[0])
				}
				checkCounts(t, pl, "in", counts{})
				return
			}
			if err == nil {
				t.Fatal("the connection worked")
			}
			waitCounts(t, pl, "in", counts{Errors: 1})
			if n := len(out.Messages()); n != 0 {
				t.Fatalf("%d messages passed", n)
			}
		})
	}
	t.Run("plaintext-to-tls", func(t *testing.T) {
		pl, out, addr := startStream(t, "tcp", formatHeka, p.tlsSection(""))
		c := dial(t, "tcp", addr)
		write(t, c, concat(frameOf("plain"), sentinel()))
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, _ = io.ReadAll(c) // the server answers with an alert and closes
		waitCounts(t, pl, "in", counts{Errors: 1})
		if n := len(out.Messages()); n != 0 {
			t.Fatalf("%d messages passed", n)
		}
	})
	t.Run("unix", func(t *testing.T) {
		_, out, addr := startStream(t, "unix", formatHeka, p.tlsSection(""))
		c, err := net.Dial("unix", addr)
		if err != nil {
			t.Fatal(err)
		}
		tc := tls.Client(c, &tls.Config{RootCAs: p.pool, ServerName: "127.0.0.1"})
		defer tc.Close()
		if _, err := tc.Write(sentinel()); err != nil {
			t.Fatal(err)
		}
		out.Wait(t, 1)
	})
}
