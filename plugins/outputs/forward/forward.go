// Package forward holds the outputs that forward messages to another
// metlogd, the way routers are chained into tiers (edge routers next to the
// applications, a central router in front of the back ends):
//
//	tcp_output  Heka stream framing over TCP, optionally TLS and mutual TLS;
//	            one write per batch, reconnecting after failures
//	udp_output  one framed message per datagram, fire and forget
//
// Both write Heka stream framing (0x1E, header, 0x1F, protobuf message),
// what every metlogd and Heka input reads, optionally signed with an HMAC
// key ([name.hmac]) that the receiving router verifies. They take no
// encoder: the framing is what makes forwarding lossless and signable.
package forward

import (
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/metlog/metlog/message"
	"github.com/metlog/metlog/pipeline"
)

func init() {
	pipeline.Register(pipeline.Plugin{
		Type:    "tcp_output",
		Kind:    pipeline.KindOutput,
		New:     func() any { return NewTCP() },
		Summary: "forwards framed protobuf messages to another metlogd over TCP, with optional TLS and HMAC signing",
	})
	pipeline.Register(pipeline.Plugin{
		Type:    "udp_output",
		Kind:    pipeline.KindOutput,
		New:     func() any { return NewUDP() },
		Summary: "forwards framed protobuf messages to another metlogd over UDP, one datagram each",
	})
}

// HMAC is the [name.hmac] table: the key every frame is signed with, as the
// receiving router's verification expects. The zero value signs nothing.
type HMAC struct {
	// Signer is the signer name written into each frame header.
	Signer string `toml:"signer"`
	// KeyVersion is the key version written into each frame header.
	KeyVersion uint32 `toml:"key_version"`
	// Hash is md5 (the default, as Heka), sha1 or sha256.
	Hash string `toml:"hash"`
	// Key is the shared secret; write it as "${ENV_VAR}" to keep it out of
	// the file.
	Key string `toml:"key"`
}

// signer returns the signer h describes, or nil when h is empty. Its
// errors name the key at fault, as "hmac.key: sentence".
func (h *HMAC) signer() (*message.Signer, error) {
	if *h == (HMAC{}) {
		return nil, nil
	}
	var errs []error
	if h.Signer == "" {
		errs = append(errs, errors.New("hmac.signer: signing needs a signer name; set it, or remove the [hmac] table"))
	}
	if h.Key == "" {
		errs = append(errs, errors.New("hmac.key: signing needs a key; set it, or remove the [hmac] table"))
	}
	fn := message.MD5
	if h.Hash != "" {
		var err error
		if fn, err = message.ParseHashFunction(h.Hash); err != nil {
			errs = append(errs, fmt.Errorf("hmac.hash: %q is not md5, sha1 or sha256", h.Hash))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	s, err := message.NewSigner(h.Signer, h.KeyVersion, fn, []byte(h.Key))
	if err != nil {
		return nil, fmt.Errorf("hmac.signer: %w", err)
	}
	return s, nil
}

// validateAddress checks that addr is host:port with a port number.
func validateAddress(addr string) error {
	if addr == "" {
		return errors.New(`address: the output needs an address, such as "central.example.com:5565"`)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address: %q is not host:port", addr)
	}
	if host == "" {
		return fmt.Errorf("address: %q has no host", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("address: port %q is not a number 1..65535", port)
	}
	return nil
}
