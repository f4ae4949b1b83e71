package client_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/metlog/metlog/client"
	"github.com/metlog/metlog/message"
)

// printMessages prints what capt holds, one message per line followed by
// its fields, and forgets it. Envelope values that change from run to run
// (uuid, timestamp, hostname, pid) are left out.
func printMessages(capt *client.Capture) {
	for _, m := range capt.Messages() {
		fmt.Printf("%s logger=%s severity=%d payload=%q\n", m.Type, m.Logger, m.Severity, m.Payload)
		for i := range m.Fields {
			f := &m.Fields[i]
			fmt.Printf("  %s", f.Name)
			if f.Representation != "" {
				fmt.Printf(" (%s)", f.Representation)
			}
			fmt.Printf(" %s:", f.Type)
			for j := range f.Len() {
				v, _ := f.Value(j)
				fmt.Printf(" %#v", v)
			}
			fmt.Println()
		}
	}
	capt.Reset()
}

// A client sends to metlogd over UDP by default; tests give it a Capture,
// which keeps the messages so they can be checked.
func Example() {
	capt := client.NewCapture()
	c, err := client.New(client.Config{Logger: "myapp", Output: capt})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	c.Info("user logged in", client.String("user", "ana"), client.Int("attempts", 2))
	c.Incr("logins")
	printMessages(capt)
	// Output:
	// oldstyle logger=myapp severity=6 payload="user logged in"
	//   user string: "ana"
	//   attempts integer: 2
	// counter logger=myapp severity=6 payload="1"
	//   rate double: 1
	//   name string: "logins"
}

func ExampleClient_Info() {
	capt := client.NewCapture()
	c, _ := client.New(client.Config{Logger: "api", Output: capt})
	defer c.Close()

	c.Info("request handled",
		client.String("path", "/items"),
		client.Int("status", 200),
		client.Duration("took", 1500*time.Microsecond),
		client.Bool("cached", false),
		client.Strings("tags", "beta", "eu"),
		client.Int("size", 512).WithRepresentation("bytes"))
	c.Logf(message.Warning, "disk %d%% full", 91)
	printMessages(capt)
	// Output:
	// oldstyle logger=api severity=6 payload="request handled"
	//   path string: "/items"
	//   status integer: 200
	//   took (ms) double: 1.5
	//   cached bool: false
	//   tags string: "beta" "eu"
	//   size (bytes) integer: 512
	// oldstyle logger=api severity=4 payload="disk 91% full"
}

func ExampleClient_Incr() {
	capt := client.NewCapture()
	c, _ := client.New(client.Config{Logger: "shop", Output: capt})
	defer c.Close()

	c.Incr("orders")
	c.Incr("items.sold", client.Count(3), client.Fields(client.String("sku", "A-1")))
	printMessages(capt)

	// With Rate(0.1), one call in ten, at random, sends, with rate 0.1 in
	// its fields so that the router scales the count back up.
	c.Incr("page.views", client.Rate(0.1))
	fmt.Println(len(capt.Messages()) <= 1)
	// Output:
	// counter logger=shop severity=6 payload="1"
	//   rate double: 1
	//   name string: "orders"
	// counter logger=shop severity=6 payload="3"
	//   rate double: 1
	//   name string: "items.sold"
	//   sku string: "A-1"
	// true
}

func ExampleClient_Timer() {
	capt := client.NewCapture()
	c, _ := client.New(client.Config{Logger: "db", Output: capt})
	defer c.Close()

	// A stop-watch: Stop sends the time since Timer, in milliseconds, and
	// returns it.
	t := c.Timer("db.query")
	time.Sleep(time.Millisecond) // the query
	took := t.Stop(client.Fields(client.String("table", "users")))
	m := capt.Messages()[0]
	name, _ := m.GetString("name")
	fmt.Println(m.Type, name, took >= time.Millisecond)
	capt.Reset()

	// A duration measured elsewhere.
	c.TimerSend("db.connect", 12345*time.Microsecond)
	printMessages(capt)
	// Output:
	// timer db.query true
	// timer logger=db severity=6 payload="12.345"
	//   rate double: 1
	//   name string: "db.connect"
}

func ExampleClient_Time() {
	capt := client.NewCapture()
	c, _ := client.New(client.Config{Output: capt, DisabledTimers: []string{"noisy"}})
	defer c.Close()

	c.Time("rebuild.index", func() { time.Sleep(time.Millisecond) })
	c.Time("noisy", func() {}) // disabled: runs, sends nothing
	for _, m := range capt.Messages() {
		name, _ := m.GetString("name")
		fmt.Println(m.Type, name)
	}
	fmt.Println("filtered:", c.Stats().Filtered)
	// Output:
	// timer rebuild.index
	// filtered: 1
}

func ExampleClient_Gauge() {
	capt := client.NewCapture()
	c, _ := client.New(client.Config{Logger: "pool", Output: capt})
	defer c.Close()

	c.Gauge("connections", 12)
	c.GaugeDelta("connections", -2)
	c.GaugeDelta("connections", 0.5)
	for _, m := range capt.Messages() {
		fmt.Println(m.Type, m.Payload)
	}
	// Output:
	// gauge 12
	// gauge -2
	// gauge +0.5
}

func ExampleClient_Exception() {
	capt := client.NewCapture()
	c, _ := client.New(client.Config{Logger: "importer", Output: capt})
	defer c.Close()

	_, err := os.Open("/nonexistent/file")
	c.Exception(fmt.Errorf("import: %w", err))

	m := capt.Messages()[0]
	typ, _ := m.GetString("error.type")
	fmt.Println(m.Type, m.Severity, m.Payload)
	fmt.Println(typ, m.Field("error.chain").Strings)
	fmt.Println(m.Field("stack.function").Strings[0])
	fmt.Println(errors.Is(err, fs.ErrNotExist))
	// Output:
	// exception 3 import: open /nonexistent/file: no such file or directory
	// *fmt.wrapError [*fmt.wrapError *fs.PathError syscall.Errno]
	// github.com/metlog/metlog/client_test.ExampleClient_Exception
	// true
}

func ExampleClient_Recover() {
	capt := client.NewCapture()
	c, _ := client.New(client.Config{Logger: "worker", Output: capt})
	defer c.Close()

	handle := func(job map[string]int) {
		// Report any panic of this job and carry on with the next one.
		// Without Swallow, Recover panics again once the report is sent.
		defer c.Recover(client.Swallow())
		job["done"]++
	}
	handle(nil)

	m := capt.Messages()[0]
	typ, _ := m.GetString("error.type")
	panicked, _ := m.GetBool("panic")
	fmt.Println(m.Type, m.Payload)
	fmt.Println(typ, panicked)
	fmt.Println(m.Field("stack.function").Strings[0])
	// Output:
	// exception assignment to entry in nil map
	// runtime.plainError true
	// github.com/metlog/metlog/client_test.ExampleClient_Recover.func1
}

func ExampleClient_CEF() {
	capt := client.NewCapture()
	c, _ := client.New(client.Config{Logger: "fxa-auth", Output: capt})
	defer c.Close()

	err := c.CEF(client.CEFEvent{
		Vendor: "Mozilla", Product: "Accounts", Version: "1.0",
		SignatureID: client.CEFAuthFailure, Name: "Login failed", Severity: 5,
		Extensions: []client.CEFExtension{client.Ext("src", "10.0.0.1"), client.Ext("suser", "ana")},
	}, client.SyslogFacility("auth"), client.SyslogPriority("warning"))
	if err != nil {
		fmt.Println(err)
	}
	printMessages(capt)
	// Output:
	// cef logger=fxa-auth severity=4 payload="CEF:0|Mozilla|Accounts|1.0|AuthFail|Login failed|5|src=10.0.0.1 suser=ana"
	//   cef_meta.syslog_facility string: "AUTH"
	//   cef_meta.syslog_ident string: "fxa-auth"
	//   cef_meta.syslog_options string: ""
	//   cef_meta.syslog_priority string: "WARNING"
}

func ExampleAppendCEF() {
	ev := client.CEFEvent{
		Vendor: "Acme", Product: "Gate|Keeper", Version: "2", Name: "Bad request", Severity: 3,
		Extensions: []client.CEFExtension{client.Ext("request", "/login?a=b"), client.Ext("msg", "line1\nline2")},
	}
	b, err := client.AppendCEF(nil, &ev)
	fmt.Println(string(b), err)
	// Output:
	// CEF:0|Acme|Gate\|Keeper|2|Bad request|Bad request|3|request=/login?a\=b msg=line1\nline2 <nil>
}

func ExampleClient_Send() {
	capt := client.NewCapture()
	c, _ := client.New(client.Config{Logger: "deployer", Output: capt})
	defer c.Close()

	// A message of any type. The client fills in the envelope (uuid,
	// timestamp, logger, hostname, pid, env_version) without changing msg,
	// and keeps no reference to it.
	msg := &message.Message{
		Type:     "deploy",
		Severity: message.Notice,
		Payload:  "v1.2.3 deployed",
		Fields: []message.Field{
			message.NewString("version", "1.2.3"),
			message.NewInt("hosts", 12),
			message.NewDouble("took", 93.5).WithRepresentation("s"),
		},
	}
	c.Send(msg)
	fmt.Println(msg.Logger == "", msg.UUID == [16]byte{})
	printMessages(capt)
	// Output:
	// true true
	// deploy logger=deployer severity=5 payload="v1.2.3 deployed"
	//   version string: "1.2.3"
	//   hosts integer: 12
	//   took (s) double: 93.5
}

func ExampleFilterConfig() {
	capt := client.NewCapture()
	c, _ := client.New(client.Config{Output: capt, Filter: client.FilterConfig{
		MaxSeverity: client.LevelOf(message.Warning), // drop info and debug
		TypesDeny:   []string{"gauge"},
	}})
	defer c.Close()

	c.Info("dropped")
	c.Error("sent")
	c.Gauge("dropped", 1)
	c.Incr("sent", client.Severity(message.Warning))
	for _, m := range capt.Messages() {
		fmt.Println(m.Type, m.Severity)
	}
	fmt.Println("filtered:", c.Stats().Filtered)
	// Output:
	// oldstyle 3
	// counter 4
	// filtered: 2
}
