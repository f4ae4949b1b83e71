package message

import (
	"math"
	"testing"
)

func TestSeverities(t *testing.T) {
	for i, name := range []string{"emergency", "alert", "critical", "error", "warning", "notice", "info", "debug"} {
		if got := SeverityName(int32(i)); got != name {
			t.Errorf("SeverityName(%d) = %q, want %q", i, got, name)
		}
		if got, err := ParseSeverity(name); err != nil || got != int32(i) {
			t.Errorf("ParseSeverity(%q) = %d, %v", name, got, err)
		}
	}
	if SeverityName(9) != "9" || SeverityName(-1) != "-1" {
		t.Error("out-of-range severities should print as numbers")
	}
	for in, want := range map[string]int32{"WARN": 4, " err ": 3, "crit": 2, "emerg": 0, "panic": 0, "5": 5, "0": 0, "Info": 6} {
		if got, err := ParseSeverity(in); err != nil || got != want {
			t.Errorf("ParseSeverity(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "8", "-1", "loud", "6.0"} {
		if _, err := ParseSeverity(bad); err == nil {
			t.Errorf("ParseSeverity(%q) accepted", bad)
		}
	}
}

func TestValueTypeNames(t *testing.T) {
	for vt := String; vt <= Bool; vt++ {
		got, ok := ParseValueType(vt.String())
		if !ok || got != vt {
			t.Errorf("ParseValueType(%q) = %v, %v", vt.String(), got, ok)
		}
	}
	if vt, ok := ParseValueType("int"); !ok || vt != Integer {
		t.Error(`"int" is Integer`)
	}
	if vt, ok := ParseValueType("float"); !ok || vt != Double {
		t.Error(`"float" is Double`)
	}
	if _, ok := ParseValueType("list"); ok {
		t.Error(`"list" accepted`)
	}
	if ValueType(7).String() != "valuetype(7)" {
		t.Error(ValueType(7).String())
	}
}

func TestFieldHelpers(t *testing.T) {
	var m Message
	m.AddString("s", "a")
	m.AddInt("n", -3)
	m.AddDouble("d", 2.5)
	m.AddBool("b", true)
	m.AddBytes("raw", []byte{1, 2})
	m.AddString("s", "second") // a second field of the same name
	m.Fields = append(m.Fields, NewInt("list", 1, 2, 3).WithRepresentation("count"))

	if v, ok := m.GetString("s"); !ok || v != "a" {
		t.Errorf("GetString = %q, %v", v, ok)
	}
	if f := m.FieldAt("s", 1); f == nil || f.Strings[0] != "second" {
		t.Errorf("FieldAt(s, 1) = %+v", f)
	}
	if m.FieldAt("s", 2) != nil || m.Field("missing") != nil {
		t.Error("absent fields must be nil")
	}
	if v, ok := m.GetInt("n"); !ok || v != -3 {
		t.Errorf("GetInt = %d, %v", v, ok)
	}
	if v, ok := m.GetDouble("d"); !ok || v != 2.5 {
		t.Errorf("GetDouble = %v, %v", v, ok)
	}
	if v, ok := m.GetNumber("n"); !ok || v != -3 {
		t.Errorf("GetNumber(int) = %v, %v", v, ok)
	}
	if v, ok := m.GetNumber("d"); !ok || v != 2.5 {
		t.Errorf("GetNumber(double) = %v, %v", v, ok)
	}
	if _, ok := m.GetNumber("s"); ok {
		t.Error("GetNumber of a string field")
	}
	if v, ok := m.GetBool("b"); !ok || !v {
		t.Errorf("GetBool = %v, %v", v, ok)
	}
	if v, ok := m.GetBytes("raw"); !ok || len(v) != 2 {
		t.Errorf("GetBytes = %v, %v", v, ok)
	}
	// Getters check the type.
	if _, ok := m.GetInt("s"); ok {
		t.Error("GetInt of a string field")
	}
	if _, ok := m.GetString("n"); ok {
		t.Error("GetString of an integer field")
	}
	f := m.Field("list")
	if f.Len() != 3 || f.Representation != "count" {
		t.Errorf("list field %+v", f)
	}
	if v, ok := f.Value(2); !ok || v != int64(3) {
		t.Errorf("Value(2) = %v, %v", v, ok)
	}
	if _, ok := f.Value(3); ok {
		t.Error("Value past the end")
	}
	if n := m.RemoveFields("s"); n != 2 || m.Field("s") != nil || len(m.Fields) != 5 {
		t.Errorf("RemoveFields removed %d, left %d fields", n, len(m.Fields))
	}
}

func TestResetReusesFieldCapacity(t *testing.T) {
	var m Message
	m.AddString("a", "x")
	m.AddString("b", "y")
	first := &m.Fields[0]
	m.Reset()
	if len(m.Fields) != 0 || cap(m.Fields) < 2 {
		t.Fatalf("Reset left %d fields, capacity %d", len(m.Fields), cap(m.Fields))
	}
	m.AddInt("c", 7)
	if &m.Fields[0] != first {
		t.Error("AddField after Reset did not reuse the field storage")
	}
	// The reused field carries nothing of the old one.
	if f := m.Fields[0]; f.Type != Integer || len(f.Strings) != 0 || f.Name != "c" || f.Representation != "" {
		t.Errorf("reused field %+v", f)
	}
	if n := testing.AllocsPerRun(100, func() {
		m.Reset()
		m.AddString("a", "x")
		m.AddInt("c", 7)
	}); n != 0 {
		t.Errorf("building into a reset message allocates %v times", n)
	}
}

func TestCloneAndEqual(t *testing.T) {
	m := counterMessage()
	m.AddBytes("raw", []byte("abc"))
	m.AddDouble("nan", math.NaN())
	c := m.Clone()
	if !c.Equal(m) {
		t.Fatal("a clone differs (NaN must equal NaN)")
	}
	c.Fields[2].Bytes[0][0] = 'X'
	c.Fields[1].Doubles[0] = 9
	if m.Fields[2].Bytes[0][0] != 'a' || m.Fields[1].Doubles[0] != 1 {
		t.Fatal("the clone shares memory with the original")
	}
	if c.Equal(m) {
		t.Fatal("Equal missed a changed value")
	}
	for _, change := range []func(*Message){
		func(x *Message) { x.Type = "other" },
		func(x *Message) { x.Severity++ },
		func(x *Message) { x.UUID[0]++ },
		func(x *Message) { x.Fields = x.Fields[:1] },
		func(x *Message) { x.Fields[1].Representation = "ms" },
	} {
		x := m.Clone()
		change(x)
		if x.Equal(m) {
			t.Errorf("Equal missed a change: %+v", x)
		}
	}
}
