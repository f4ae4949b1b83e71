package tlsconf

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeCert writes a self-signed certificate and key to dir.
func writeCert(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return certFile, keyFile
}

func TestServerAndClient(t *testing.T) {
	cert, key := writeCert(t, t.TempDir())
	srv := Config{CertFile: cert, KeyFile: key, CAFile: cert, ClientAuth: "require"}
	if err := srv.ValidateServer(); err != nil {
		t.Fatal(err)
	}
	tc, err := srv.Server()
	if err != nil || tc.ClientAuth != tls.RequireAndVerifyClientCert || tc.ClientCAs == nil || tc.MinVersion != tls.VersionTLS12 {
		t.Fatalf("server config %+v, %v", tc, err)
	}
	cli := Config{CAFile: cert, CertFile: cert, KeyFile: key, ServerName: "localhost", MinVersion: "1.3"}
	cc, err := cli.Client()
	if err != nil || cc.RootCAs == nil || len(cc.Certificates) != 1 || cc.MinVersion != tls.VersionTLS13 || cc.ServerName != "localhost" {
		t.Fatalf("client config %+v, %v", cc, err)
	}
	if (&Config{}).On() || !(&Config{MinVersion: "1.3"}).On() {
		t.Fatal("On() must be false only for an empty table")
	}
}

func TestValidationErrors(t *testing.T) {
	cert, key := writeCert(t, t.TempDir())
	for _, tc := range []struct {
		name   string
		c      Config
		server bool
		want   string
	}{
		{"server without key", Config{CertFile: cert}, true, "needs cert_file and key_file"},
		{"require without CA", Config{CertFile: cert, KeyFile: key, ClientAuth: "require"}, true, "needs ca_file"},
		{"bad client_auth", Config{CertFile: cert, KeyFile: key, ClientAuth: "sometimes"}, true, "is not none, request or require"},
		{"missing file", Config{CertFile: "/nonexistent.pem", KeyFile: key}, true, "no such file"},
		{"CA not PEM", Config{CertFile: cert, KeyFile: key, CAFile: key}, true, "holds no PEM certificate"},
		{"bad version", Config{Enabled: true, MinVersion: "1.1"}, false, "is not 1.2 or 1.3"},
		{"client cert without key", Config{CertFile: cert}, false, "needs both cert_file and key_file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.server {
				err = tc.c.ValidateServer()
			} else {
				err = tc.c.ValidateClient()
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
	if err := (&Config{}).ValidateServer(); err != nil {
		t.Fatal("no TLS is valid")
	}
}
