package matcher

import (
	"bytes"
	"sync"

	"github.com/metlog/metlog/message"
)

// node is one compiled piece of an expression. eval must not allocate,
// retain msg, or modify anything: nodes are shared by every goroutine that
// uses the Matcher.
type node interface {
	eval(msg *message.Message) bool
}

// constNode is TRUE or FALSE, or a test whose result is known at compile
// time.
type constNode bool

func (c constNode) eval(*message.Message) bool { return bool(c) }

// andNode is a chain of && that stops at the first false.
type andNode []node

func (a andNode) eval(msg *message.Message) bool {
	for _, n := range a {
		if !n.eval(msg) {
			return false
		}
	}
	return true
}

// orNode is a chain of || that stops at the first true.
type orNode []node

func (o orNode) eval(msg *message.Message) bool {
	for _, n := range o {
		if n.eval(msg) {
			return true
		}
	}
	return false
}

// and2 is a && of two operands: the common case, without a loop.
type and2 struct{ a, b node }

func (n *and2) eval(msg *message.Message) bool { return n.a.eval(msg) && n.b.eval(msg) }

// or2 is a || of two operands.
type or2 struct{ a, b node }

func (n *or2) eval(msg *message.Message) bool { return n.a.eval(msg) || n.b.eval(msg) }

// header names a header variable of a Message.
type header uint8

const (
	hUUID header = iota
	hType
	hLogger
	hPayload
	hEnvVersion
	hHostname
	hTimestamp
	hSeverity
	hPid
)

// headers maps the variable names of the language to headers.
var headers = map[string]header{
	"Uuid": hUUID, "Type": hType, "Logger": hLogger, "Payload": hPayload,
	"EnvVersion": hEnvVersion, "Hostname": hHostname,
	"Timestamp": hTimestamp, "Severity": hSeverity, "Pid": hPid,
}

// isNumber reports whether h is one of the numeric headers.
func (h header) isNumber() bool { return h >= hTimestamp }

// str returns the value of a string header other than Uuid.
func (h header) str(msg *message.Message) string {
	switch h {
	case hType:
		return msg.Type
	case hLogger:
		return msg.Logger
	case hPayload:
		return msg.Payload
	case hEnvVersion:
		return msg.EnvVersion
	case hHostname:
		return msg.Hostname
	}
	return ""
}

// num returns the value of a numeric header.
func (h header) num(msg *message.Message) int64 {
	switch h {
	case hTimestamp:
		return msg.Timestamp
	case hSeverity:
		return int64(msg.Severity)
	case hPid:
		return int64(msg.Pid)
	}
	return 0
}

// strHeader tests a string header (Type, Logger, Payload, EnvVersion,
// Hostname).
type strHeader struct {
	h header
	p strPred
}

func (n *strHeader) eval(msg *message.Message) bool { return n.p.matchString(n.h.str(msg)) }

// strHeaderEq is an equality test of a string header.
type strHeaderEq struct {
	h   header
	lit string
}

func (n *strHeaderEq) eval(msg *message.Message) bool { return n.h.str(msg) == n.lit }

// strHeaderPrefix tests a string header for a prefix: =~ /^lit/, or !~
// when neg.
type strHeaderPrefix struct {
	h   header
	lit string
	neg bool
}

func (n *strHeaderPrefix) eval(msg *message.Message) bool {
	s := n.h.str(msg)
	return (len(s) >= len(n.lit) && s[:len(n.lit)] == n.lit) != n.neg
}

// strHeaderSuffix tests a string header for a suffix: =~ /lit$/, or !~
// when neg.
type strHeaderSuffix struct {
	h   header
	lit string
	neg bool
}

func (n *strHeaderSuffix) eval(msg *message.Message) bool {
	s := n.h.str(msg)
	return (len(s) >= len(n.lit) && s[len(s)-len(n.lit):] == n.lit) != n.neg
}

// strHeaderIn is a chain of == tests of one string header joined by ||,
// such as Type == 'a' || Type == 'b'.
type strHeaderIn struct {
	h    header
	lits []string
}

func (n *strHeaderIn) eval(msg *message.Message) bool {
	s := n.h.str(msg)
	for _, l := range n.lits {
		if s == l {
			return true
		}
	}
	return false
}

// numHeader tests a numeric header (Timestamp, Severity, Pid) exactly.
type numHeader struct {
	h header
	t intTest
}

func (n *numHeader) eval(msg *message.Message) bool { return n.t.test(n.h.num(msg)) }

// uuidEq tests Uuid == literal (or != when ne) on the 16 bytes.
type uuidEq struct {
	u  [16]byte
	ne bool
}

func (n *uuidEq) eval(msg *message.Message) bool { return (msg.UUID == n.u) != n.ne }

// uuidOrder tests the order of Uuid against a full UUID literal. The order
// of canonical UUID strings is the order of their bytes.
type uuidOrder struct {
	u [16]byte
	t intTest // applied to the result of bytes.Compare
}

func (n *uuidOrder) eval(msg *message.Message) bool {
	return n.t.test(int64(bytes.Compare(msg.UUID[:], n.u[:])))
}

// uuidLiteral tests the canonical form of Uuid with a comparison to a
// partial literal or a literal regex. It reads the characters of the
// canonical form one at a time, as far as the test needs, without
// formatting it; only a substring search formats it, on the stack.
type uuidLiteral struct{ p strPred }

func (n *uuidLiteral) eval(msg *message.Message) bool {
	u, lit := &msg.UUID, n.p.lit
	var r bool
	switch n.p.kind {
	case pEq:
		r = compareUUID(u, lit) == 0
	case pNe:
		r = compareUUID(u, lit) != 0
	case pLt:
		r = compareUUID(u, lit) < 0
	case pLe:
		r = compareUUID(u, lit) <= 0
	case pGt:
		r = compareUUID(u, lit) > 0
	case pGe:
		r = compareUUID(u, lit) >= 0
	case pPrefix:
		r = len(lit) <= 36 && uuidHas(u, 0, lit)
	case pSuffix:
		r = len(lit) <= 36 && uuidHas(u, 36-len(lit), lit)
	default: // pContains
		var buf [36]byte
		formatUUID(&buf, u)
		r = bytes.Contains(buf[:], n.p.blit)
	}
	return r != n.p.neg
}

// uuidNibbles maps each position of the canonical form of a UUID to the
// nibble it shows (byte*2, +1 for the low nibble), or -1 for a dash.
var uuidNibbles = func() (t [36]int8) {
	j := 0
	for i := range t {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			t[i] = -1
			continue
		}
		t[i] = int8(j)
		j++
	}
	return t
}()

// uuidChar returns the character at position i (0..35) of the canonical
// form of u.
func uuidChar(u *[16]byte, i int) byte {
	const hex = "0123456789abcdef"
	n := uuidNibbles[i]
	if n < 0 {
		return '-'
	}
	b := u[n>>1&15]
	if n&1 == 0 {
		return hex[b>>4]
	}
	return hex[b&15]
}

// compareUUID compares the canonical form of u with s, as strings.
func compareUUID(u *[16]byte, s string) int {
	for i := 0; i < 36 && i < len(s); i++ {
		if c := uuidChar(u, i); c != s[i] {
			if c < s[i] {
				return -1
			}
			return 1
		}
	}
	switch {
	case len(s) > 36:
		return -1
	case len(s) < 36:
		return 1
	}
	return 0
}

// uuidHas reports whether the canonical form of u has s at position at;
// at+len(s) must not pass 36.
func uuidHas(u *[16]byte, at int, s string) bool {
	for i := 0; i < len(s); i++ {
		if uuidChar(u, at+i) != s[i] {
			return false
		}
	}
	return true
}

// uuidDigits are the offsets of the hex digit pairs of the 16 bytes in the
// canonical form xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx.
var uuidDigits = [16]uint8{0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34}

// formatUUID writes the canonical form of u to buf, as message.AppendUUID
// does, without appending.
func formatUUID(buf *[36]byte, u *[16]byte) {
	const hex = "0123456789abcdef"
	buf[8], buf[13], buf[18], buf[23] = '-', '-', '-', '-'
	for i, b := range u {
		p := uuidDigits[i] % 35 // p itself: lets the compiler drop bounds checks
		buf[p] = hex[b>>4]
		buf[p+1] = hex[b&0xf]
	}
}

// uuidRegexp matches the canonical form of Uuid with a regexp. The regexp
// package keeps its input reachable from heap memory while it runs, so a
// stack buffer would escape; the buffer comes from a pool instead.
type uuidRegexp struct{ p strPred }

var uuidBufs = sync.Pool{New: func() any { return new([36]byte) }}

func (n *uuidRegexp) eval(msg *message.Message) bool {
	buf := uuidBufs.Get().(*[36]byte)
	formatUUID(buf, &msg.UUID)
	r := n.p.matchBytes(buf[:])
	uuidBufs.Put(buf)
	return r
}

// fieldRef names one value of a message field: Fields[name][fi][ai]. The
// name is never empty.
type fieldRef struct {
	name   string
	fi, ai int
}

// find returns the fi-th field named name, or nil.
func (r *fieldRef) find(msg *message.Message) *message.Field {
	fi := r.fi
	for i := range msg.Fields {
		f := &msg.Fields[i]
		if len(f.Name) == len(r.name) && f.Name[0] == r.name[0] && f.Name == r.name {
			if fi == 0 {
				return f
			}
			fi--
		}
	}
	return nil
}

// fieldNil tests Fields[...] == NIL (present false) or != NIL (present
// true). A value is present when the field exists and has a value of its
// type at the array index.
type fieldNil struct {
	ref     fieldRef
	present bool
}

func (n *fieldNil) eval(msg *message.Message) bool {
	f := n.ref.find(msg)
	return (f != nil && n.ref.ai < f.Len()) == n.present
}

// fieldStr tests a String or Bytes field value with a string comparison or
// a regex. It is false for a value of any other type, or none.
type fieldStr struct {
	ref fieldRef
	p   strPred
}

func (n *fieldStr) eval(msg *message.Message) bool {
	f := n.ref.find(msg)
	if f == nil {
		return false
	}
	switch f.Type {
	case message.String:
		if n.ref.ai < len(f.Strings) {
			return n.p.matchString(f.Strings[n.ref.ai])
		}
	case message.Bytes:
		if n.ref.ai < len(f.Bytes) {
			return n.p.matchBytes(f.Bytes[n.ref.ai])
		}
	}
	return false
}

// fieldStrEq tests a String or Bytes field value for equality with lit.
type fieldStrEq struct {
	ref fieldRef
	lit string
}

func (n *fieldStrEq) eval(msg *message.Message) bool {
	f := n.ref.find(msg)
	if f == nil {
		return false
	}
	switch f.Type {
	case message.String:
		return n.ref.ai < len(f.Strings) && f.Strings[n.ref.ai] == n.lit
	case message.Bytes:
		return n.ref.ai < len(f.Bytes) && string(f.Bytes[n.ref.ai]) == n.lit
	}
	return false
}

// fieldNum compares an Integer or Double field value with a number, exactly.
// It is false for a value of any other type, or none.
type fieldNum struct {
	ref fieldRef
	it  intTest
	ft  floatTest
}

func (n *fieldNum) eval(msg *message.Message) bool {
	f := n.ref.find(msg)
	if f == nil {
		return false
	}
	switch f.Type {
	case message.Integer:
		if n.ref.ai < len(f.Integers) {
			return n.it.test(f.Integers[n.ref.ai])
		}
	case message.Double:
		if n.ref.ai < len(f.Doubles) {
			return n.ft.test(f.Doubles[n.ref.ai])
		}
	}
	return false
}

// fieldBool tests a Bool field value: == lit when eq, != lit otherwise.
// It is false for a value of any other type, or none.
type fieldBool struct {
	ref fieldRef
	lit bool
	eq  bool
}

func (n *fieldBool) eval(msg *message.Message) bool {
	f := n.ref.find(msg)
	if f == nil || f.Type != message.Bool || n.ref.ai >= len(f.Bools) {
		return false
	}
	return (f.Bools[n.ref.ai] == n.lit) == n.eq
}
