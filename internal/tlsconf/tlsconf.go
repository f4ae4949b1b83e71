// Package tlsconf builds crypto/tls configurations from the tls tables of
// plugin sections, for servers (inputs, with optional mutual TLS) and
// clients (outputs). Its errors start with the key they are about
// ("tls.cert_file: ..."), so configuration errors point at its line.
//
//	[tcp_in.tls]
//	cert_file = "/etc/metlog/server.crt"
//	key_file = "/etc/metlog/server.key"
//	ca_file = "/etc/metlog/clients-ca.crt"   # with client_auth: the CA client certificates must chain to
//	client_auth = "require"                   # none (default), request, require
package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// Config is the tls table of a section. The zero value means no TLS.
type Config struct {
	Enabled    bool   `toml:"enabled"`     // implied by cert_file (servers) or any other key (clients)
	CertFile   string `toml:"cert_file"`   // PEM certificate; a client's, for mutual TLS
	KeyFile    string `toml:"key_file"`    // PEM private key
	CAFile     string `toml:"ca_file"`     // PEM CA bundle: servers verify clients with it, clients the server
	ClientAuth string `toml:"client_auth"` // servers: none, request or require
	ServerName string `toml:"server_name"` // clients: the name to verify; default the host dialled
	// InsecureSkipVerify makes a client accept any server certificate.
	// For tests only.
	InsecureSkipVerify bool   `toml:"insecure_skip_verify"`
	MinVersion         string `toml:"min_version"` // "1.2" (default) or "1.3"
}

// On reports whether TLS is configured.
func (c *Config) On() bool {
	return c.Enabled || c.CertFile != "" || c.KeyFile != "" || c.CAFile != "" || c.InsecureSkipVerify ||
		c.ServerName != "" || c.MinVersion != "" || c.ClientAuth != ""
}

// ValidateServer checks a server's settings, reading the files.
func (c *Config) ValidateServer() error {
	if !c.On() {
		return nil
	}
	if c.CertFile == "" || c.KeyFile == "" {
		return errors.New("tls.cert_file: a server needs cert_file and key_file")
	}
	switch c.ClientAuth {
	case "", "none", "request":
	case "require":
		if c.CAFile == "" {
			return errors.New(`tls.client_auth: "require" needs ca_file, the CA client certificates must chain to`)
		}
	default:
		return fmt.Errorf("tls.client_auth: %q is not none, request or require", c.ClientAuth)
	}
	_, err := c.Server()
	return err
}

// ValidateClient checks a client's settings, reading the files.
func (c *Config) ValidateClient() error {
	if !c.On() {
		return nil
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		return errors.New("tls.key_file: a client certificate needs both cert_file and key_file")
	}
	_, err := c.Client()
	return err
}

func (c *Config) minVersion() (uint16, error) {
	switch c.MinVersion {
	case "", "1.2":
		return tls.VersionTLS12, nil
	case "1.3":
		return tls.VersionTLS13, nil
	}
	return 0, fmt.Errorf("tls.min_version: %q is not 1.2 or 1.3", c.MinVersion)
}

// Server returns the tls.Config of a server.
func (c *Config) Server() (*tls.Config, error) {
	mv, err := c.minVersion()
	if err != nil {
		return nil, err
	}
	cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("tls.cert_file: %w", err)
	}
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: mv}
	if c.CAFile != "" {
		pool, err := loadPool(c.CAFile)
		if err != nil {
			return nil, err
		}
		tc.ClientCAs = pool
	}
	switch c.ClientAuth {
	case "request":
		tc.ClientAuth = tls.VerifyClientCertIfGiven
	case "require":
		tc.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return tc, nil
}

// Client returns the tls.Config of a client.
func (c *Config) Client() (*tls.Config, error) {
	mv, err := c.minVersion()
	if err != nil {
		return nil, err
	}
	tc := &tls.Config{MinVersion: mv, ServerName: c.ServerName, InsecureSkipVerify: c.InsecureSkipVerify} //nolint:gosec // opt-in, for tests
	if c.CAFile != "" {
		pool, err := loadPool(c.CAFile)
		if err != nil {
			return nil, err
		}
		tc.RootCAs = pool
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls.cert_file: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

func loadPool(file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("tls.ca_file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("tls.ca_file: %s holds no PEM certificate", file)
	}
	return pool, nil
}
