package client

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
)

// The process-wide clients, like metlog-py's CLIENT_HOLDER: a default
// client that libraries can log through without being handed one, and
// clients registered by name. Nothing in this package uses them; an
// application that passes its Client around explicitly never needs them.
var (
	defaultMu     sync.Mutex // serializes building and setting the default
	defaultClient atomic.Pointer[Client]

	registryMu sync.RWMutex
	registry   map[string]*Client
)

// Default returns the process's default client: the one given to
// SetDefault, or else one built, on the first call, from the environment
// (ConfigFromEnv). When the environment's configuration is invalid, or the
// client cannot be built, Default writes one line saying why to standard
// error and returns a client that discards everything it is given, so a
// misconfigured environment never stops an application. Default is safe
// for concurrent use, and every call returns the same client until
// SetDefault changes it.
func Default() *Client {
	if c := defaultClient.Load(); c != nil {
		return c
	}
	defaultMu.Lock()
	defer defaultMu.Unlock()
	if c := defaultClient.Load(); c != nil {
		return c
	}
	c := clientFromEnv()
	defaultClient.Store(c)
	return c
}

// SetDefault makes c the client Default returns. It does not close the
// client it replaces, which callers may still hold. SetDefault(nil) makes
// the next call of Default build a client from the environment again.
func SetDefault(c *Client) {
	defaultMu.Lock()
	defer defaultMu.Unlock()
	defaultClient.Store(c)
}

// clientFromEnv builds a client from the environment, or, when that fails,
// a discarding one, after saying why on standard error.
func clientFromEnv() *Client {
	cfg, err := ConfigFromEnv()
	if err == nil {
		var c *Client
		if c, err = New(cfg); err == nil {
			return c
		}
	}
	// errors.Join separates its errors with newlines; keep to one line.
	why := strings.ReplaceAll(err.Error(), "\n", "; ")
	fmt.Fprintf(os.Stderr, "metlog: default client discards all messages: %s\n", why)
	c, err := New(Config{Output: discardSender{}})
	if err != nil {
		panic("metlog: building a discarding client: " + err.Error()) // cannot happen
	}
	return c
}

// Register makes c the client Get returns for name, replacing any client
// registered under that name before (which it does not close).
// Register(name, nil) is Unregister(name). It is safe for concurrent use.
func Register(name string, c *Client) {
	if c == nil {
		Unregister(name)
		return
	}
	registryMu.Lock()
	defer registryMu.Unlock()
	if registry == nil {
		registry = make(map[string]*Client)
	}
	registry[name] = c
}

// Unregister forgets the client registered under name, without closing it.
// It is safe for concurrent use.
func Unregister(name string) {
	registryMu.Lock()
	defer registryMu.Unlock()
	delete(registry, name)
}

// Get returns the client registered under name, or nil when there is none.
// It is safe for concurrent use.
func Get(name string) *Client {
	registryMu.RLock()
	defer registryMu.RUnlock()
	return registry[name]
}

// discardSender is a Sender that drops every message, for a default client
// whose configuration could not be used.
type discardSender struct{}

func (discardSender) Send([]byte) error { return nil }
func (discardSender) Close() error      { return nil }
func (discardSender) Datagram() bool    { return true }
