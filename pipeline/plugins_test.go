package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/metlog/metlog/message"
	"github.com/metlog/metlog/pipeline"
)

// Plugins used by the tests of this package.
func init() {
	pipeline.Register(pipeline.Plugin{Type: "test_input", Kind: pipeline.KindInput, New: func() any { return &testInput{} }})
	pipeline.Register(pipeline.Plugin{Type: "echo_filter", Kind: pipeline.KindFilter, New: func() any { return &echoFilter{} }})
	pipeline.Register(pipeline.Plugin{Type: "tick_filter", Kind: pipeline.KindFilter, New: func() any { return &tickFilter{} }})
	pipeline.Register(pipeline.Plugin{Type: "picky_output", Kind: pipeline.KindOutput, New: func() any { return &pickyOutput{Level: 3} }})
	pipeline.Register(pipeline.Plugin{Type: "failing_output", Kind: pipeline.KindOutput, New: func() any { return &failingOutput{} }})
	pipeline.Register(pipeline.Plugin{Type: "picky_delivery_output", Kind: pipeline.KindOutput, New: func() any { return &pickyDelivery{} }})
}

// testInput delivers Count messages of type Type, then waits to be stopped.
type testInput struct {
	Count   int    `toml:"count"`
	Type    string `toml:"message_type"`
	started atomic.Int32
}

func (in *testInput) Run(ctx context.Context, d pipeline.Deliverer) error {
	in.started.Add(1)
	for i := range in.Count {
		if err := d.Deliver(ctx, &message.Message{Type: in.Type, Payload: fmt.Sprint(i)}); err != nil {
			return nil
		}
	}
	<-ctx.Done()
	return nil
}

// echoFilter injects a copy of each message it gets, typed "echo".
type echoFilter struct{}

func (echoFilter) Process(ctx context.Context, m *message.Message, inj pipeline.Injector) error {
	return inj.Inject(ctx, &message.Message{Type: "echo", Payload: m.Payload})
}

// tickFilter counts messages and injects the count on each tick.
type tickFilter struct {
	seen int
}

func (f *tickFilter) Process(ctx context.Context, m *message.Message, inj pipeline.Injector) error {
	f.seen++
	return nil
}

func (f *tickFilter) DefaultTickerInterval() time.Duration { return time.Hour }

func (f *tickFilter) Tick(ctx context.Context, now time.Time, inj pipeline.Injector) error {
	return inj.Inject(ctx, &message.Message{Type: "tick", Payload: fmt.Sprint(f.seen)})
}

// pickyOutput validates its level.
type pickyOutput struct {
	Level int    `toml:"level"`
	Name  string `toml:"name"`
}

func (o *pickyOutput) Validate() error {
	var errs []error
	if o.Level < 1 || o.Level > 5 {
		errs = append(errs, fmt.Errorf("level: %d is not between 1 and 5", o.Level))
	}
	if o.Name == "bad" {
		errs = append(errs, errors.New("the name may not be bad"))
	}
	return errors.Join(errs...)
}

func (o *pickyOutput) Deliver(ctx context.Context, batch []*message.Message) error { return nil }

func (o *pickyOutput) DefaultEncoder() string { return "json" }

// failingOutput fails to start when told to.
type failingOutput struct {
	FailStart bool `toml:"fail_start"`
}

func (o *failingOutput) Start(ctx context.Context, s *pipeline.Settings) error {
	if o.FailStart {
		return errors.New("cannot start, as configured")
	}
	return nil
}

func (o *failingOutput) Deliver(ctx context.Context, batch []*message.Message) error { return nil }

// pickyDelivery delivers every message but those of type "big", which it
// drops and counts as too large, as forwarding outputs do.
type pickyDelivery struct {
	metrics *pipeline.Metrics
	got     atomic.Int64
}

func (o *pickyDelivery) Start(ctx context.Context, s *pipeline.Settings) error {
	o.metrics = s.Metrics
	return nil
}

func (o *pickyDelivery) Deliver(ctx context.Context, batch []*message.Message) error {
	for _, m := range batch {
		if m.Type == "big" {
			o.metrics.Drop(pipeline.DropTooLarge, 1)
			continue
		}
		o.got.Add(1)
	}
	return nil
}
