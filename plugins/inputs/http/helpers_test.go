package httpin_test

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/metlog/metlog/message"
	"github.com/metlog/metlog/pipeline"
	"github.com/metlog/metlog/pipeline/pipelinetest"
	httpin "github.com/metlog/metlog/plugins/inputs/http"
)

// answer is a response of the input.
type answer struct {
	Status   int
	Header   http.Header
	Accepted int    `json:"accepted"`
	Error    string `json:"error"`
	Line     int    `json:"line"`
	Frame    int    `json:"frame"`
	Offset   *int   `json:"offset"`
}

// req is one request to send.
type req struct {
	method   string // default POST
	ctype    string // Content-Type; "-" for none
	encoding string // Content-Encoding
	token    string // bearer token
	auth     string // whole Authorization header
	chunked  bool   // hide the length
	body     []byte
}

func send(t testing.TB, c *http.Client, url string, r req) answer {
	t.Helper()
	a, err := trySend(c, url, r)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// trySend is send for goroutines other than the test's.
func trySend(c *http.Client, url string, r req) (answer, error) {
	method := r.method
	if method == "" {
		method = http.MethodPost
	}
	var body io.Reader = bytes.NewReader(r.body)
	if r.chunked {
		body = io.MultiReader(bytes.NewReader(r.body)) // not a type net/http knows the length of
	}
	hr, err := http.NewRequest(method, url, body)
	if err != nil {
		return answer{}, err
	}
	switch r.ctype {
	case "":
		hr.Header.Set("Content-Type", "application/x-ndjson")
	case "-":
	default:
		hr.Header.Set("Content-Type", r.ctype)
	}
	if r.encoding != "" {
		hr.Header.Set("Content-Encoding", r.encoding)
	}
	if r.token != "" {
		hr.Header.Set("Authorization", "Bearer "+r.token)
	}
	if r.auth != "" {
		hr.Header.Set("Authorization", r.auth)
	}
	resp, err := c.Do(hr)
	if err != nil {
		return answer{}, fmt.Errorf("%s %s: %w", method, url, err)
	}
	defer resp.Body.Close()
	return parseAnswer(resp)
}

func readAnswer(t testing.TB, resp *http.Response) answer {
	t.Helper()
	a, err := parseAnswer(resp)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func parseAnswer(resp *http.Response) (answer, error) {
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return answer{}, err
	}
	a := answer{Status: resp.StatusCode, Header: resp.Header}
	if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusOK {
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			return a, fmt.Errorf("status %d: Content-Type %q, body %q", resp.StatusCode, ct, b)
		}
		if err := json.Unmarshal(b, &a); err != nil {
			return a, fmt.Errorf("status %d: body %q: %w", resp.StatusCode, b, err)
		}
	}
	return a, nil
}

// rawPost writes a request on conn by hand and returns a reader for the
// answer.
func rawPost(t testing.TB, conn net.Conn, path string, body []byte) *bufio.Reader {
	t.Helper()
	hr, err := http.NewRequest(http.MethodPost, "http://"+conn.RemoteAddr().String()+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	hr.Header.Set("Content-Type", "application/x-ndjson")
	if err := hr.Write(conn); err != nil {
		t.Fatal(err)
	}
	return bufio.NewReader(conn)
}

// metlogLines returns the envelopes metlog-py sent (captured datagrams) and
// the messages they decode to.
func metlogLines(t testing.TB) ([][]byte, []*message.Message) {
	t.Helper()
	b, err := os.ReadFile("../../../message/testdata/metlogpy-udp.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	var lines [][]byte
	var msgs []*message.Message
	for _, l := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		m := new(message.Message)
		if err := message.DecodeMetlogJSON(l, m); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, l)
		msgs = append(msgs, m)
	}
	return lines, msgs
}

// testMessages returns n varied messages with every header value and
// several field types.
func testMessages(n int) []*message.Message {
	var out []*message.Message
	for i := range n {
		m := &message.Message{
			UUID:       message.NewUUID(),
			Timestamp:  1764030213553215123 + int64(i),
			Type:       []string{"counter", "timer", "oldstyle", "cef"}[i%4],
			Logger:     "httptest",
			Severity:   int32(i % 8),
			Payload:    "payload \"quoted\" ünïcode " + string(rune('a'+i%26)),
			EnvVersion: "0.8",
			Pid:        int32(1000 + i),
			Hostname:   "host-1",
		}
		m.AddString("name", "req.count")
		m.AddInt("n", int64(i))
		m.AddDouble("rate", 0.5)
		m.AddBool("ok", i%2 == 0)
		m.AddBytes("raw", []byte{0, 1, 2, byte(i)})
		out = append(out, m)
	}
	return out
}

func jsonLines(msgs []*message.Message) [][]byte {
	var out [][]byte
	for _, m := range msgs {
		out = append(out, message.AppendJSON(nil, m))
	}
	return out
}

func frames(msgs []*message.Message) []byte {
	var b []byte
	for _, m := range msgs {
		b = message.AppendFrame(b, m, nil)
	}
	return b
}

// sameMessages compares what arrived with what was sent; the router gives
// a uuid to messages that came without one.
func sameMessages(t testing.TB, got, want []*message.Message) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d messages arrived, want %d", len(got), len(want))
	}
	for i := range want {
		w := *want[i]
		if w.UUID == ([16]byte{}) {
			w.UUID = got[i].UUID
		}
		if w.Timestamp == 0 {
			w.Timestamp = got[i].Timestamp
		}
		if !got[i].Equal(&w) {
			t.Errorf("message %d:\n got %s\nwant %s", i, message.AppendJSON(nil, got[i]), message.AppendJSON(nil, &w))
		}
	}
}

// input returns the http_input of section name.
func input(t testing.TB, p *pipeline.Pipeline, name string) *httpin.Input {
	t.Helper()
	return pipelinetest.Plugin(t, p, name).(*httpin.Input)
}

// sharedConfig is the [metlogd] section of a pipeline whose shared HTTP
// listener is on.
func sharedConfig(t testing.TB) string {
	return "[metlogd]\ndata_dir = \"" + filepath.ToSlash(t.TempDir()) + "\"\nhttp_listen = \"127.0.0.1:0\"\n\n"
}

// certs are PEM files of a test CA, a server certificate for 127.0.0.1
// and a client certificate, all signed by the CA.
type certs struct {
	ca, serverCert, serverKey, clientCert, clientKey string
	pool                                             *x509.CertPool
	client                                           tls.Certificate
}

func makeCerts(t testing.TB) certs {
	t.Helper()
	dir := t.TempDir()
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	now := time.Now()
	caKey := key()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "metlog test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	leaf := func(serial int64, cn string, usage x509.ExtKeyUsage) ([]byte, []byte, *ecdsa.PrivateKey) {
		k := key()
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kder, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return der, kder, k
	}
	sDER, sKey, _ := leaf(2, "127.0.0.1", x509.ExtKeyUsageServerAuth)
	cDER, cKey, cPriv := leaf(3, "client", x509.ExtKeyUsageClientAuth)
	c := certs{
		ca:         write("ca.crt", "CERTIFICATE", caDER),
		serverCert: write("server.crt", "CERTIFICATE", sDER),
		serverKey:  write("server.key", "EC PRIVATE KEY", sKey),
		clientCert: write("client.crt", "CERTIFICATE", cDER),
		clientKey:  write("client.key", "EC PRIVATE KEY", cKey),
		pool:       x509.NewCertPool(),
		client:     tls.Certificate{Certificate: [][]byte{cDER}, PrivateKey: cPriv},
	}
	c.pool.AddCert(caCert)
	return c
}

// tlsClient returns a client trusting the test CA, presenting cert when it
// is not nil.
func tlsClient(t testing.TB, c certs, cert *tls.Certificate) *http.Client {
	tc := &tls.Config{RootCAs: c.pool, MinVersion: tls.VersionTLS12}
	if cert != nil {
		tc.Certificates = []tls.Certificate{*cert}
	}
	tr := &http.Transport{TLSClientConfig: tc}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func newClient(t testing.TB) *http.Client {
	tr := &http.Transport{MaxIdleConnsPerHost: 16}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}
