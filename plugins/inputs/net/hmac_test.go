package netin

import (
	"fmt"
	"strings"
	"testing"

	"github.com/metlog/metlog/client"
	"github.com/metlog/metlog/message"
	"github.com/metlog/metlog/pipeline"
	"github.com/metlog/metlog/pipeline/pipelinetest"
)

// The keys the vectors in message/testdata were signed with (see
// message/framing_test.go).
const vectorSigners = `
[in.signers]
acceptance_1 = "s3cr3t"
acceptance_2 = "k3y"
acc_3 = "pykey"
`

// vectorFiles are the captured frames: unsigned, HMAC-MD5 by acceptance
// v1, HMAC-SHA1 by acceptance v2, HMAC-SHA1 by acc v3 (heka-py).
var vectorFiles = []string{"heka-go-frames.hex", "heka-go-frames-hmac-md5.hex", "heka-go-frames-hmac-sha1.hex", "heka-py-frames-hmac-sha1.hex"}

// TestHMACVectors sends the frames captured from Heka's Go client and
// heka-py over TCP and UDP, with the right keys, wrong keys, unknown
// signers, and unsigned frames allowed or refused.
func TestHMACVectors(t *testing.T) {
	for _, tc := range []struct {
		name     string
		cfg      string
		accepted map[string]bool // by vector file
	}{
		{"right-keys", vectorSigners, map[string]bool{vectorFiles[0]: true, vectorFiles[1]: true, vectorFiles[2]: true, vectorFiles[3]: true}},
		{"right-keys-signed-only", "require_signed = true\n" + vectorSigners, map[string]bool{vectorFiles[1]: true, vectorFiles[2]: true, vectorFiles[3]: true}},
		{"wrong-md5-key", `
[in.signers]
acceptance_1 = "wrong"
acceptance_2 = "k3y"
acc_3 = "pykey"
`, map[string]bool{vectorFiles[0]: true, vectorFiles[2]: true, vectorFiles[3]: true}},
		{"wrong-version", `
[in.signers]
acceptance_1 = "s3cr3t"
acceptance_3 = "k3y"
acc_3 = "pykey"
`, map[string]bool{vectorFiles[0]: true, vectorFiles[1]: true, vectorFiles[3]: true}},
		{"unknown-signer", `
[in.signers]
acceptance_1 = "s3cr3t"
acceptance_2 = "k3y"
`, map[string]bool{vectorFiles[0]: true, vectorFiles[1]: true, vectorFiles[2]: true}},
		{"heka-table-form", `
[in.signers.acceptance_1]
hmac_key = "s3cr3t"
[in.signers.acceptance_2]
hmac_key = "k3y"
[in.signers.acc_3]
hmac_key = "pykey"
`, map[string]bool{vectorFiles[0]: true, vectorFiles[1]: true, vectorFiles[2]: true, vectorFiles[3]: true}},
		{"no-keys", "", map[string]bool{vectorFiles[0]: true}},
		{"no-keys-signed-only", "require_signed = true\n", map[string]bool{}},
	} {
		for _, network := range []string{"tcp", "udp"} {
			t.Run(network+"/"+tc.name, func(t *testing.T) {
				// The signers table must come last in its section.
				extra, signers, _ := strings.Cut(tc.cfg, "[in.signers")
				if signers != "" {
					signers = "[in.signers" + signers
				}
				var p pipelineAndCapture
				if network == "tcp" {
					p.p, p.out, p.addr = startStream(t, "tcp", formatHeka, extra+signers)
				} else {
					p.p, p.out, p.addr = startUDP(t, formatAuto, extra+signers)
				}
				c := dial(t, network, p.addr)
				var want []*message.Message
				refused := 0
				for _, file := range vectorFiles {
					for _, fr := range vectors(t, file) {
						write(t, c, fr) // one frame per datagram over UDP
						if tc.accepted[file] {
							want = append(want, decodeFrame(t, fr))
						} else {
							refused++
						}
					}
				}
				switch {
				case !strings.Contains(tc.cfg, "require_signed"):
					write(t, c, sentinel())
				case strings.Contains(tc.cfg, `acceptance_1 = "s3cr3t"`):
					write(t, c, signedSentinel(t, "acceptance", 1, "s3cr3t"))
				default: // nothing can pass: wait for the count
					waitCounts(t, p.p, "in", counts{Unauthorized: uint64(refused)})
					if n := len(p.out.Messages()); n != 0 {
						t.Fatalf("%d messages passed", n)
					}
					return
				}
				got := p.out.Wait(t, len(want)+1)
				if last := got[len(got)-1]; last.Type != "sentinel" {
					t.Fatalf("last message %+v, want the sentinel", last)
				}
				checkByUUID(t, got[:len(got)-1], want)
				checkCounts(t, p.p, "in", counts{Unauthorized: uint64(refused)})
			})
		}
	}
}

type pipelineAndCapture struct {
	p    *pipeline.Pipeline
	out  *pipelinetest.Capture
	addr string
}

// checkByUUID matches got against want by uuid.
func checkByUUID(t *testing.T, got, want []*message.Message) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d messages, want %d", len(got), len(want))
	}
	byUUID := map[[16]byte]*message.Message{}
	for _, w := range want {
		byUUID[w.UUID] = w
	}
	for _, g := range got {
		w := byUUID[g.UUID]
		if w == nil || !g.Equal(w) {
			t.Fatalf("message %x differs or was not sent:\n got %+v\nwant %+v", g.UUID, g, w)
		}
	}
}

// TestHMACClient signs with the client library and checks that the input
// accepts its frames with the right key only.
func TestHMACClient(t *testing.T) {
	for _, hash := range []string{"md5", "sha1", "sha256"} {
		for _, tc := range []struct {
			key      string
			accepted bool
		}{{"the-key", true}, {"another-key", false}} {
			t.Run(fmt.Sprintf("%s/%v", hash, tc.accepted), func(t *testing.T) {
				p, out, addr := startStream(t, "tcp", formatHeka, "require_signed = true\n[in.signers]\napp_7 = \""+tc.key+"\"\n")
				c := newClient(t, "tcp://"+addr, "protobuf", client.HMACConfig{Signer: "app", KeyVersion: 7, Hash: hash, Key: "the-key"})
				for i := range 10 {
					c.Send(testMessage(i))
				}
				flush(t, c)
				write(t, dial(t, "tcp", addr), signedSentinel(t, "app", 7, tc.key))
				if tc.accepted {
					out.Wait(t, 11)
					checkCounts(t, p, "in", counts{})
					return
				}
				out.Wait(t, 1)
				waitCounts(t, p, "in", counts{Unauthorized: 10})
				if n := len(out.Messages()); n != 1 {
					t.Fatalf("%d messages arrived, want only the sentinel", n)
				}
			})
		}
	}
}

// TestHMACTamperedFrame flips a byte of a signed message.
func TestHMACTamperedFrame(t *testing.T) {
	p, out, addr := startStream(t, "tcp", formatHeka, vectorSigners)
	fr := vectors(t, vectorFiles[2])[0]
	fr[len(fr)-1] ^= 1
	write(t, dial(t, "tcp", addr), fr, sentinel())
	out.Wait(t, 1)
	checkCounts(t, p, "in", counts{Unauthorized: 1})
}

// signedSentinel is a sentinel frame signed with HMAC-SHA256.
func signedSentinel(t *testing.T, signer string, version uint32, key string) []byte {
	t.Helper()
	s, err := message.NewSigner(signer, version, message.SHA256, []byte(key))
	if err != nil {
		t.Fatal(err)
	}
	return message.AppendFrame(nil, &message.Message{UUID: message.NewUUID(), Type: "sentinel", Payload: "sentinel"}, s)
}
