package client_test

import (
	"strings"
	"testing"

	"github.com/metlog/metlog/client"
	"github.com/metlog/metlog/message"
)

// authFail is the event most tests start from, as metlog-cef's tests do.
func authFail() client.CEFEvent {
	return client.CEFEvent{
		Vendor: "Mozilla", Product: "Firefox Accounts", Version: "1.0",
		SignatureID: client.CEFAuthFailure, Name: "Login failed", Severity: 5,
		Extensions: []client.CEFExtension{client.Ext("src", "10.0.0.1"), client.Ext("suser", "ana")},
	}
}

// TestAppendCEF is the formatting and escaping of mozilla/cef's and
// metlog-cef's test_cef_logging, test_suser, test_custom_extensions and
// test_default_signature.
func TestAppendCEF(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(ev *client.CEFEvent)
		want string
	}{
		{"plain", func(*client.CEFEvent) {},
			"CEF:0|Mozilla|Firefox Accounts|1.0|AuthFail|Login failed|5|src=10.0.0.1 suser=ana"},
		{"no extensions", func(ev *client.CEFEvent) { ev.Extensions = nil },
			"CEF:0|Mozilla|Firefox Accounts|1.0|AuthFail|Login failed|5|"},
		{"default signature is the name", func(ev *client.CEFEvent) { ev.SignatureID = "" },
			"CEF:0|Mozilla|Firefox Accounts|1.0|Login failed|Login failed|5|src=10.0.0.1 suser=ana"},
		{"escaped default signature", func(ev *client.CEFEvent) { ev.SignatureID, ev.Name = "", `a|b\c` },
			`CEF:0|Mozilla|Firefox Accounts|1.0|a\|b\\c|a\|b\\c|5|src=10.0.0.1 suser=ana`},
		{"empty header fields", func(ev *client.CEFEvent) { ev.Vendor, ev.Product, ev.Version = "", "", "" },
			"CEF:0||||AuthFail|Login failed|5|src=10.0.0.1 suser=ana"},
		{"pipes and backslashes in the header", func(ev *client.CEFEvent) {
			ev.Vendor, ev.Product, ev.Version, ev.SignatureID, ev.Name = `Moz|illa`, `back\slash`, `1|0\`, `sig|1`, `a|b`
		}, `CEF:0|Moz\|illa|back\\slash|1\|0\\|sig\|1|a\|b|5|src=10.0.0.1 suser=ana`},
		{"line breaks in the header become spaces", func(ev *client.CEFEvent) { ev.Name = "line1\nline2\r\nend" },
			"CEF:0|Mozilla|Firefox Accounts|1.0|AuthFail|line1 line2  end|5|src=10.0.0.1 suser=ana"},
		{"equals in the header is not escaped", func(ev *client.CEFEvent) { ev.Name = "a=b" },
			"CEF:0|Mozilla|Firefox Accounts|1.0|AuthFail|a=b|5|src=10.0.0.1 suser=ana"},
		// metlog-cef: a user agent of =|\ is written cs1=\=|\\ .
		{"user agent", func(ev *client.CEFEvent) {
			ev.Extensions = []client.CEFExtension{client.Ext("cs1Label", "requestClientApplication"), client.Ext("cs1", `=|\`)}
		}, `CEF:0|Mozilla|Firefox Accounts|1.0|AuthFail|Login failed|5|cs1Label=requestClientApplication cs1=\=|\\`},
		{"line breaks in values", func(ev *client.CEFEvent) { ev.Extensions = []client.CEFExtension{client.Ext("msg", "a\nb\rc\r\n")} },
			`CEF:0|Mozilla|Firefox Accounts|1.0|AuthFail|Login failed|5|msg=a\nb\rc\r\n`},
		{"spaces and pipes in values", func(ev *client.CEFEvent) {
			ev.Extensions = []client.CEFExtension{client.Ext("request", "/a b|c"), client.Ext("requestMethod", "GET")}
		}, `CEF:0|Mozilla|Firefox Accounts|1.0|AuthFail|Login failed|5|request=/a b|c requestMethod=GET`},
		{"empty value", func(ev *client.CEFEvent) { ev.Extensions = []client.CEFExtension{client.Ext("suser", "")} },
			"CEF:0|Mozilla|Firefox Accounts|1.0|AuthFail|Login failed|5|suser="},
		{"key characters", func(ev *client.CEFEvent) { ev.Extensions = []client.CEFExtension{client.Ext("a_B-9.z", "v")} },
			"CEF:0|Mozilla|Firefox Accounts|1.0|AuthFail|Login failed|5|a_B-9.z=v"},
		{"unicode", func(ev *client.CEFEvent) {
			ev.Name = "ログイン失敗"
			ev.Extensions = []client.CEFExtension{client.Ext("suser", "bukan\u00fdrka")}
		}, "CEF:0|Mozilla|Firefox Accounts|1.0|AuthFail|ログイン失敗|5|suser=bukan\u00fdrka"},
		{"severity 0", func(ev *client.CEFEvent) { ev.Severity = 0 },
			"CEF:0|Mozilla|Firefox Accounts|1.0|AuthFail|Login failed|0|src=10.0.0.1 suser=ana"},
		{"severity 10", func(ev *client.CEFEvent) { ev.Severity = 10 },
			"CEF:0|Mozilla|Firefox Accounts|1.0|AuthFail|Login failed|10|src=10.0.0.1 suser=ana"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := authFail()
			tc.edit(&ev)
			got, err := client.AppendCEF([]byte("prefix "), &ev)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != "prefix "+tc.want {
				t.Errorf("got  %s\nwant prefix %s", got, tc.want)
			}
			// Seven unescaped pipes end the header, whatever it holds.
			if n := unescapedPipes(strings.TrimPrefix(string(got), "prefix ")); n < 7 {
				t.Errorf("%d unescaped pipes in %s", n, got)
			}
		})
	}
}

// unescapedPipes counts the pipes of a CEF header that are not escaped.
func unescapedPipes(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '|':
			n++
			if n == 7 {
				return n
			}
		}
	}
	return n
}

func TestAppendCEFErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(ev *client.CEFEvent)
		want string
	}{
		{"severity -1", func(ev *client.CEFEvent) { ev.Severity = -1 }, "severity -1 is not between 0 and 10"},
		{"severity 11", func(ev *client.CEFEvent) { ev.Severity = 11 }, "severity 11 is not between 0 and 10"},
		{"no name", func(ev *client.CEFEvent) { ev.Name = "" }, "no name"},
		{"key with a space", func(ev *client.CEFEvent) { ev.Extensions = append(ev.Extensions, client.Ext("bad key", "v")) }, `"bad key"`},
		{"key with equals", func(ev *client.CEFEvent) { ev.Extensions = append(ev.Extensions, client.Ext("a=b", "v")) }, `"a=b"`},
		{"key with a pipe", func(ev *client.CEFEvent) { ev.Extensions = append(ev.Extensions, client.Ext("a|b", "v")) }, `"a|b"`},
		{"empty key", func(ev *client.CEFEvent) { ev.Extensions = append(ev.Extensions, client.Ext("", "v")) }, `""`},
		{"non-ASCII key", func(ev *client.CEFEvent) { ev.Extensions = append(ev.Extensions, client.Ext("clé", "v")) }, `"clé"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev := authFail()
			tc.edit(&ev)
			got, err := client.AppendCEF([]byte("kept"), &ev)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "cef: ") {
				t.Errorf("error %v, want one mentioning %s", err, tc.want)
			}
			if string(got) != "kept" {
				t.Errorf("AppendCEF changed dst to %q on error", got)
			}
		})
	}
}

// cefFields are the cef_meta fields of a CEF message, in order.
func cefFields(facility, ident, options, priority string, more ...message.Field) []message.Field {
	return append([]message.Field{
		message.NewString("cef_meta.syslog_facility", facility),
		message.NewString("cef_meta.syslog_ident", ident),
		message.NewString("cef_meta.syslog_options", options),
		message.NewString("cef_meta.syslog_priority", priority),
	}, more...)
}

// TestClientCEF is metlog-cef's plugin: a "cef" message with the event as
// payload and the syslog options in cef_meta.* fields.
func TestClientCEF(t *testing.T) {
	const payload = "CEF:0|Mozilla|Firefox Accounts|1.0|AuthFail|Login failed|5|src=10.0.0.1 suser=ana"
	for _, tc := range []struct {
		name string
		opts []client.Option
		want want
	}{
		{"defaults", nil, want{"cef", "auth", 6, payload, cefFields("LOCAL4", "auth", "", "INFO")}},
		{"facility", []client.Option{client.SyslogFacility("local0")},
			want{"cef", "auth", 6, payload, cefFields("LOCAL0", "auth", "", "INFO")}},
		{"facility AUTH", []client.Option{client.SyslogFacility("AUTH")},
			want{"cef", "auth", 6, payload, cefFields("AUTH", "auth", "", "INFO")}},
		{"ident", []client.Option{client.SyslogIdent("fxa-auth")},
			want{"cef", "auth", 6, payload, cefFields("LOCAL4", "fxa-auth", "", "INFO")}},
		{"options", []client.Option{client.SyslogOptions("pid,ndelay")},
			want{"cef", "auth", 6, payload, cefFields("LOCAL4", "auth", "PID,NDELAY", "INFO")}},
		{"priority alert", []client.Option{client.SyslogPriority("alert")},
			want{"cef", "auth", 1, payload, cefFields("LOCAL4", "auth", "", "ALERT")}},
		{"priority ERR", []client.Option{client.SyslogPriority("ERR")},
			want{"cef", "auth", 3, payload, cefFields("LOCAL4", "auth", "", "ERR")}},
		{"priority spelt error", []client.Option{client.SyslogPriority("error")},
			want{"cef", "auth", 3, payload, cefFields("LOCAL4", "auth", "", "ERR")}},
		{"priority spelt warn", []client.Option{client.SyslogPriority("warn")},
			want{"cef", "auth", 4, payload, cefFields("LOCAL4", "auth", "", "WARNING")}},
		{"priority as a number", []client.Option{client.SyslogPriority("2")},
			want{"cef", "auth", 2, payload, cefFields("LOCAL4", "auth", "", "CRIT")}},
		{"logger is the default ident", []client.Option{client.Logger("other")},
			want{"cef", "other", 6, payload, cefFields("LOCAL4", "other", "", "INFO")}},
		{"fields after the meta", []client.Option{client.Fields(client.String("request_id", "r1"))},
			want{"cef", "auth", 6, payload, cefFields("LOCAL4", "auth", "", "INFO", message.NewString("request_id", "r1"))}},
		{"all", []client.Option{client.SyslogFacility("local7"), client.SyslogIdent("id"), client.SyslogOptions("PID"),
			client.SyslogPriority("debug"), client.Logger("l")},
			want{"cef", "l", 7, payload, cefFields("LOCAL7", "id", "PID", "DEBUG")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, capt := newClient(t, client.Config{Logger: "auth"})
			if err := c.CEF(authFail(), tc.opts...); err != nil {
				t.Fatal(err)
			}
			check(t, only(t, capt), tc.want)
		})
	}
}

func TestClientCEFErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		ev   func() client.CEFEvent
		opts []client.Option
		want []string
	}{
		{"facility", authFail, []client.Option{client.SyslogFacility("local9")}, []string{`facility "LOCAL9"`}},
		{"option", authFail, []client.Option{client.SyslogOptions("PID,BOGUS")}, []string{`option "BOGUS"`}},
		{"priority", authFail, []client.Option{client.SyslogPriority("loud")}, []string{`priority "loud"`}},
		{"several", authFail, []client.Option{client.SyslogFacility("x"), client.SyslogPriority("y")},
			[]string{`facility "X"`, `priority "y"`}},
		{"event", func() client.CEFEvent { ev := authFail(); ev.Severity = 11; return ev }, nil, []string{"severity 11"}},
		{"no name", func() client.CEFEvent { ev := authFail(); ev.Name = ""; return ev }, nil, []string{"no name"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, capt := newClient(t, client.Config{})
			err := c.CEF(tc.ev(), tc.opts...)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %s", err, w)
				}
			}
			messages(t, capt, 0)
		})
	}
}

// TestClientCEFFiltered checks that a filtered CEF event is counted, and
// that an invalid one is an error whatever the filters.
func TestClientCEFFiltered(t *testing.T) {
	c, capt := newClient(t, client.Config{Filter: client.FilterConfig{TypesDeny: []string{"cef"}}})
	if err := c.CEF(authFail()); err != nil {
		t.Fatal(err)
	}
	bad := authFail()
	bad.Severity = 42
	if err := c.CEF(bad); err == nil {
		t.Error("an invalid event was accepted because the filter dropped it")
	}
	if err := c.CEF(authFail(), client.SyslogFacility("nope")); err == nil {
		t.Error("an invalid facility was accepted because the filter dropped it")
	}
	messages(t, capt, 0)
	if s := c.Stats(); s.Filtered != 1 {
		t.Errorf("Stats().Filtered = %d, want 1", s.Filtered)
	}

	c, capt = newClient(t, client.Config{Filter: client.FilterConfig{MaxSeverity: client.LevelOf(message.Warning)}})
	if err := c.CEF(authFail()); err != nil { // INFO
		t.Fatal(err)
	}
	if err := c.CEF(authFail(), client.SyslogPriority("crit")); err != nil {
		t.Fatal(err)
	}
	if m := only(t, capt); m.Severity != 2 {
		t.Errorf("severity %d, want 2", m.Severity)
	}
}

func TestCEFConstants(t *testing.T) {
	for got, want := range map[string]string{
		client.CEFAuthFailure: "AuthFail", client.CEFCaptchaFailure: "CaptchaFail",
		client.CEFOverrideFailure: "InvalidAdmin", client.CEFAccountLocked: "AccountLockout",
		client.CEFPasswordResetClr: "PasswordResetCleared",
	} {
		if got != want {
			t.Errorf("%s, want %s", got, want)
		}
	}
}
