package forward_test

import (
	"bytes"
	"context"
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
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/metlog/metlog/message"
	"github.com/metlog/metlog/pipeline"
	"github.com/metlog/metlog/pipeline/pipelinetest"
)

// frame is one frame a test server received.
type frame struct {
	conn   int // index of the connection it came on
	hdr    message.Header
	msg    *message.Message
	verify error // KeyRing.Verify's verdict, when the server has keys
}

// frameServer is the receiving end: a TCP (or TLS) listener that reads
// frames with message.FrameScanner, as metlogd's input does, keeping the
// raw bytes of each connection too.
type frameServer struct {
	ln   net.Listener
	keys *message.KeyRing

	mu      sync.Mutex
	conns   []*serverConn
	frames  []frame
	changed chan struct{}
	wg      sync.WaitGroup
}

type serverConn struct {
	net.Conn
	raw    bytes.Buffer // guarded by frameServer.mu
	peer   []*x509.Certificate
	ended  bool // the client closed it, or the server did
	hsErr  error
	frames int
}

// newFrameServer listens on addr ("" for any port of 127.0.0.1), with TLS
// when tc is not nil, verifying signatures against keys when not nil.
func newFrameServer(t testing.TB, addr string, tc *tls.Config, keys *message.KeyRing) *frameServer {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if tc != nil {
		ln = tls.NewListener(ln, tc)
	}
	s := &frameServer{ln: ln, keys: keys}
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(s.close)
	return s
}

func (s *frameServer) addr() string { return s.ln.Addr().String() }

func (s *frameServer) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		sc := &serverConn{Conn: c}
		idx := len(s.conns)
		s.conns = append(s.conns, sc)
		s.notifyLocked()
		s.mu.Unlock()
		s.wg.Add(1)
		go s.serve(idx, sc)
	}
}

// lockedWriter appends to a buffer under the server's lock.
type lockedWriter struct {
	s *frameServer
	b *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	return w.b.Write(p)
}

func (s *frameServer) serve(idx int, sc *serverConn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		sc.ended = true
		s.notifyLocked()
		s.mu.Unlock()
		sc.Close()
	}()
	if tc, ok := sc.Conn.(*tls.Conn); ok {
		err := tc.Handshake()
		s.mu.Lock()
		sc.hsErr = err
		sc.peer = tc.ConnectionState().PeerCertificates
		s.mu.Unlock()
		if err != nil {
			return
		}
	}
	sc2 := message.NewFrameScanner(io.TeeReader(sc.Conn, lockedWriter{s, &sc.raw}), 0)
	for sc2.Next() {
		f := frame{conn: idx, hdr: *sc2.Header(), msg: &message.Message{}}
		f.hdr.Signer = strings.Clone(f.hdr.Signer)
		f.hdr.HMAC = bytes.Clone(f.hdr.HMAC)
		if err := f.msg.Unmarshal(sc2.Message()); err != nil {
			f.msg = nil
		}
		if s.keys != nil {
			f.verify = s.keys.Verify(sc2.Header(), sc2.Message())
		}
		s.mu.Lock()
		s.frames = append(s.frames, f)
		sc.frames++
		s.notifyLocked()
		s.mu.Unlock()
	}
}

func (s *frameServer) notifyLocked() {
	if s.changed != nil {
		close(s.changed)
		s.changed = nil
	}
}

// waitFor waits until cond, called under the lock, holds.
func (s *frameServer) waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		if cond() {
			s.mu.Unlock()
			return
		}
		if s.changed == nil {
			s.changed = make(chan struct{})
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-deadline.C:
			s.mu.Lock()
			n := len(s.frames)
			s.mu.Unlock()
			t.Fatalf("timed out waiting for %s (%d frames received)", what, n)
		}
	}
}

// wait waits for n frames and returns every frame received.
func (s *frameServer) wait(t testing.TB, n int) []frame {
	t.Helper()
	s.waitFor(t, fmt.Sprintf("%d frames", n), func() bool { return len(s.frames) >= n })
	return s.received()
}

func (s *frameServer) received() []frame {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]frame(nil), s.frames...)
}

func (s *frameServer) connCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// raw returns the bytes received on connection i.
func (s *frameServer) raw(i int) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.conns[i].raw.Bytes())
}

// closeConn closes connection i from the server's side and waits until its
// reader has returned.
func (s *frameServer) closeConn(t testing.TB, i int) {
	t.Helper()
	s.mu.Lock()
	c := s.conns[i]
	s.mu.Unlock()
	c.Close()
	s.waitFor(t, "the connection to end", func() bool { return c.ended })
}

func (s *frameServer) close() {
	s.ln.Close()
	s.mu.Lock()
	for _, c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// testMessages returns n distinct messages with every kind of field, their
// uuid and timestamp set so that the router leaves them as they are.
func testMessages(n int, prefix string) []*message.Message {
	out := make([]*message.Message, n)
	for i := range out {
		m := &message.Message{
			UUID:       message.NewUUID(),
			Timestamp:  time.Date(2026, 11, 24, 23, 48, 3, i, time.UTC).UnixNano(),
			Type:       "counter",
			Logger:     "forward_test",
			Severity:   int32(i % 8),
			Payload:    fmt.Sprintf("%s-%d", prefix, i),
			EnvVersion: "0.8",
			Pid:        int32(1000 + i),
			Hostname:   "edge-1",
		}
		m.AddString("name", "req.count")
		m.AddInt("seq", int64(i))
		m.AddDouble("rate", 0.5)
		m.AddBool("ok", i%2 == 0)
		m.AddBytes("raw", []byte{0x1e, 0x1f, byte(i)}) // separators inside a message
		out[i] = m
	}
	return out
}

// deliver hands clones of msgs to the pipeline, as an input would.
func deliver(t testing.TB, p *pipeline.Pipeline, msgs []*message.Message) {
	t.Helper()
	d := p.Deliverer("test")
	for _, m := range msgs {
		if err := d.Deliver(context.Background(), m.Clone()); err != nil {
			t.Fatal(err)
		}
	}
}

// checkFrames fails unless frames carry exactly msgs, in order.
func checkFrames(t testing.TB, frames []frame, msgs []*message.Message) {
	t.Helper()
	if len(frames) != len(msgs) {
		t.Fatalf("got %d frames, want %d: %s", len(frames), len(msgs), payloads(frames))
	}
	for i, f := range frames {
		if f.msg == nil {
			t.Fatalf("frame %d does not decode", i)
		}
		if !f.msg.Equal(msgs[i]) {
			t.Fatalf("frame %d:\n got %s\nwant %s", i, message.AppendJSON(nil, f.msg), message.AppendJSON(nil, msgs[i]))
		}
	}
}

func payloads(frames []frame) string {
	var b strings.Builder
	for _, f := range frames {
		if f.msg != nil {
			fmt.Fprintf(&b, "%d:%s ", f.conn, f.msg.Payload)
		}
	}
	return b.String()
}

// onConn returns the frames that came on connection i.
func onConn(frames []frame, i int) []frame {
	var out []frame
	for _, f := range frames {
		if f.conn == i {
			out = append(out, f)
		}
	}
	return out
}

// wantFrames is the exact byte stream that msgs make, framed and signed.
func wantFrames(msgs []*message.Message, s *message.Signer) []byte {
	var b []byte
	for _, m := range msgs {
		b = message.AppendFrame(b, m, s)
	}
	return b
}

// pki is a CA, a server certificate for 127.0.0.1 and "metlog.test" and a
// client certificate, written as PEM files.
type pki struct {
	dir                     string
	caFile                  string
	serverCert, serverKey   string
	clientCert, clientKey   string
	ca                      *x509.Certificate
	caKey                   *ecdsa.PrivateKey
	serverPair              tls.Certificate
	pool                    *x509.CertPool
	otherCAFile             string // a CA that signed nothing here
	otherClientCert, otherK string // a client certificate from the other CA
}

func newPKI(t testing.TB) *pki {
	t.Helper()
	p := &pki{dir: t.TempDir()}
	p.ca, p.caKey = newCA(t, "metlog test CA")
	p.caFile = p.writeCert(t, "ca.crt", p.ca)
	p.pool = x509.NewCertPool()
	p.pool.AddCert(p.ca)
	p.serverCert, p.serverKey = p.issue(t, "server", p.ca, p.caKey, x509.ExtKeyUsageServerAuth)
	p.clientCert, p.clientKey = p.issue(t, "client", p.ca, p.caKey, x509.ExtKeyUsageClientAuth)
	other, otherKey := newCA(t, "some other CA")
	p.otherCAFile = p.writeCert(t, "other-ca.crt", other)
	p.otherClientCert, p.otherK = p.issue(t, "other-client", other, otherKey, x509.ExtKeyUsageClientAuth)
	var err error
	if p.serverPair, err = tls.LoadX509KeyPair(p.serverCert, p.serverKey); err != nil {
		t.Fatal(err)
	}
	return p
}

// serverTLS is the listener's configuration; with clientAuth, it requires
// a client certificate from the CA.
func (p *pki) serverTLS(clientAuth bool) *tls.Config {
	c := &tls.Config{Certificates: []tls.Certificate{p.serverPair}, MinVersion: tls.VersionTLS12}
	if clientAuth {
		c.ClientAuth = tls.RequireAndVerifyClientCert
		c.ClientCAs = p.pool
	}
	return c
}

func randomSerial(t testing.TB) *big.Int {
	n, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func newCA(t testing.TB, name string) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          randomSerial(t),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func (p *pki) issue(t testing.TB, name string, ca *x509.Certificate, caKey *ecdsa.PrivateKey, usage x509.ExtKeyUsage) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(t),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		DNSNames:     []string{"metlog.test"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile = filepath.Join(p.dir, name+".crt")
	keyFile = filepath.Join(p.dir, name+".key")
	writePEM(t, certFile, "CERTIFICATE", der)
	writePEM(t, keyFile, "EC PRIVATE KEY", kder)
	return certFile, keyFile
}

func (p *pki) writeCert(t testing.TB, name string, c *x509.Certificate) string {
	t.Helper()
	f := filepath.Join(p.dir, name)
	writePEM(t, f, "CERTIFICATE", c.Raw)
	return f
}

func writePEM(t testing.TB, file, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// freeAddr is pipelinetest.FreePort for TCP.
func freeAddr(t testing.TB) string { return pipelinetest.FreePort(t, "tcp") }

// newStalledServer accepts connections and reads one byte from each, then
// nothing more; it returns its address, and signals on accepted when the
// first byte of a connection has come.
func newStalledServer(t testing.TB, accepted chan<- struct{}) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			var b [1]byte
			_, _ = io.ReadFull(c, b[:])
			select {
			case accepted <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return ln.Addr().String()
}
