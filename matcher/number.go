package matcher

import "math"

// numLit is a number literal: an exact int64 when it was written without a
// fraction or exponent, a float64 otherwise.
type numLit struct {
	isInt bool
	i     int64
	f     float64
}

func intLit(i int64) numLit     { return numLit{isInt: true, i: i, f: float64(i)} }
func floatLit(f float64) numLit { return numLit{f: f} }

// intTest compares an int64 with a literal, exactly, as a range test:
// v is in [lo, hi], or not in it when neg. Every comparison of an integer
// with a literal, even one with a fraction, becomes one such test at
// compile time, so evaluation is two int64 comparisons and no branch on
// the operator.
type intTest struct {
	lo, hi int64
	neg    bool
}

func (t intTest) test(v int64) bool { return (v >= t.lo && v <= t.hi) != t.neg }

// konst reports whether t has the same result for every int64, and which.
func (t intTest) konst() (result, ok bool) {
	switch {
	case t.lo > t.hi: // empty
		return t.neg, true
	case t.lo == math.MinInt64 && t.hi == math.MaxInt64:
		return !t.neg, true
	}
	return false, false
}

// intRange returns the test "v op k" for an integer k.
func intRange(op cmpOp, k int64) intTest {
	switch op {
	case opEq:
		return intTest{lo: k, hi: k}
	case opNe:
		return intTest{lo: k, hi: k, neg: true}
	case opLt:
		if k == math.MinInt64 {
			return intTest{lo: 1, hi: 0}
		}
		return intTest{lo: math.MinInt64, hi: k - 1}
	case opLe:
		return intTest{lo: math.MinInt64, hi: k}
	case opGt:
		if k == math.MaxInt64 {
			return intTest{lo: 1, hi: 0}
		}
		return intTest{lo: k + 1, hi: math.MaxInt64}
	case opGe:
		return intTest{lo: k, hi: math.MaxInt64}
	}
	panic("matcher: not a relational operator: " + op.String())
}

// always returns a test that is b for every int64.
func always(b bool) intTest {
	return intTest{lo: math.MinInt64, hi: math.MaxInt64, neg: !b}
}

// newIntTest returns the exact test "v op lit" for every int64 v.
func newIntTest(op cmpOp, lit numLit) intTest {
	if lit.isInt {
		return intRange(op, lit.i)
	}
	f := lit.f
	switch {
	case f >= 0x1p63: // above every int64
		return always(op == opNe || op == opLt || op == opLe)
	case f < -0x1p63: // below every int64
		return always(op == opNe || op == opGt || op == opGe)
	}
	t := math.Floor(f) // in [-2^63, 2^63): fits an int64
	k := int64(t)
	if t == f {
		return intRange(op, k)
	}
	// k < f < k+1, and |f| < 2^52 since f has a fraction, so k+1 fits.
	switch op {
	case opLt, opLe:
		return intRange(opLe, k)
	case opGt, opGe:
		return intRange(opGe, k+1)
	}
	return always(op == opNe)
}

// floatTest compares a float64 (a Double field's value) with a literal. An
// integer literal is compared exactly, not through a lossy conversion to
// float64. NaN compares unequal to everything: only != is true for it.
type floatTest struct {
	op  cmpOp
	lit numLit
}

func (t floatTest) test(d float64) bool {
	if !t.lit.isInt {
		return cmpFloat(d, t.op, t.lit.f)
	}
	c, ok := compareFloatInt(d, t.lit.i)
	if !ok {
		return t.op == opNe
	}
	switch t.op {
	case opEq:
		return c == 0
	case opNe:
		return c != 0
	case opLt:
		return c < 0
	case opLe:
		return c <= 0
	case opGt:
		return c > 0
	case opGe:
		return c >= 0
	}
	return false
}

// cmpFloat applies a relational operator to two float64s (IEEE 754).
func cmpFloat(d float64, op cmpOp, f float64) bool {
	switch op {
	case opEq:
		return d == f
	case opNe:
		return d != f
	case opLt:
		return d < f
	case opLe:
		return d <= f
	case opGt:
		return d > f
	case opGe:
		return d >= f
	}
	return false
}

// compareFloatInt returns -1, 0 or +1 as d is less than, equal to or
// greater than k, exactly; ok is false when d is NaN.
func compareFloatInt(d float64, k int64) (c int, ok bool) {
	switch {
	case d != d:
		return 0, false
	case d >= 0x1p63:
		return 1, true
	case d < -0x1p63:
		return -1, true
	}
	t := math.Trunc(d) // in [-2^63, 2^63): fits an int64
	ti := int64(t)
	switch {
	case ti < k:
		return -1, true
	case ti > k:
		return 1, true
	case d > t:
		return 1, true
	case d < t:
		return -1, true
	}
	return 0, true
}
