package pipeline

import (
	"fmt"
	"sync"
)

// Services lets the plugins of one pipeline reach each other in-process,
// by name, where going through the router would cost a message per datum:
// a stat filter publishes its aggregator under its section name, and the
// statsd inputs that name it add samples to it directly.
//
// What is published may change on reload (a new instance under the same
// name), so users look it up when they need it rather than keep it.
type Services struct {
	mu sync.RWMutex
	m  map[string]any
}

func newServices() *Services { return &Services{m: make(map[string]any)} }

// Publish makes v available under name until withdraw is called. It fails
// when the name is taken.
func (s *Services) Publish(name string, v any) (withdraw func(), err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, taken := s.m[name]; taken {
		return nil, fmt.Errorf("a service named %q is already published", name)
	}
	s.m[name] = v
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.m[name] == v {
				delete(s.m, name)
			}
		})
	}, nil
}

// Lookup returns what is published under name.
func (s *Services) Lookup(name string) (any, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	v, ok := s.m[name]
	return v, ok
}
