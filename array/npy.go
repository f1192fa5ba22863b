package array

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
)

// dtypes maps numpy's descr of each supported element type to its size.
// Little-endian only ('<'); one-byte types take '|' (no byte order).
var dtypes = map[string]uint64{
	"|u1": 1, "|i1": 1, "<u2": 2, "<i2": 2, "<u4": 4, "<i4": 4,
	"<u8": 8, "<i8": 8, "<f4": 4, "<f8": 8,
}

// descrOf returns numpy's descr for T.
func descrOf[T Element]() string {
	var z T
	switch any(z).(type) {
	case uint8:
		return "|u1"
	case int8:
		return "|i1"
	case uint16:
		return "<u2"
	case int16:
		return "<i2"
	case uint32:
		return "<u4"
	case int32:
		return "<i4"
	case uint64:
		return "<u8"
	case int64:
		return "<i8"
	case float32:
		return "<f4"
	}
	return "<f8"
}

// goName names a descr's Go type, for messages.
func goName(descr string) string {
	switch descr {
	case "|u1":
		return "uint8"
	case "|i1":
		return "int8"
	case "<f4":
		return "float32"
	case "<f8":
		return "float64"
	}
	if t, ok := dtypes[descr]; ok {
		kind := map[byte]string{'u': "uint", 'i': "int"}[descr[1]]
		return kind + strconv.Itoa(int(t*8))
	}
	return "unsupported"
}

// FormatShape writes a shape as Python writes the tuple, and so as the
// .npy header holds it and numpy prints it: (), (5,), (3, 4).
func FormatShape(shape []int) string {
	var b strings.Builder
	b.WriteByte('(')
	for i, d := range shape {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Itoa(d))
	}
	if len(shape) == 1 {
		b.WriteByte(',')
	}
	b.WriteByte(')')
	return b.String()
}

// encodeHeader returns the .npy header (format 1.0) for descr and shape,
// padded so that its length is a multiple of dataAlign.
func encodeHeader(descr string, shape []int) []byte {
	var b strings.Builder
	b.WriteString("{'descr': '")
	b.WriteString(descr)
	b.WriteString("', 'fortran_order': False, 'shape': ")
	b.WriteString(FormatShape(shape))
	b.WriteString(", }")
	dict := b.String()
	total := roundUp(uint64(npyPrefix1+len(dict)+1), dataAlign)
	h := make([]byte, total)
	copy(h, npyMagic)
	h[6], h[7] = 1, 0
	binary.LittleEndian.PutUint16(h[8:], uint16(total-npyPrefix1))
	n := copy(h[npyPrefix1:], dict)
	for i := npyPrefix1 + n; i < len(h)-1; i++ {
		h[i] = ' '
	}
	h[len(h)-1] = '\n'
	return h
}

// headerLen reads the .npy prefix and returns the data offset H (the
// prefix plus the dict's length) and the prefix length.
func headerLen(prefix []byte) (dataOff, prefixLen uint64, err error) {
	if len(prefix) < npyPrefix1 || string(prefix[:6]) != npyMagic {
		return 0, 0, errorf(ErrCorrupt, "not a .npy file (no \\x93NUMPY magic); an array file is a .npy file that shmdict created")
	}
	switch major := prefix[6]; major {
	case 1:
		return npyPrefix1 + uint64(binary.LittleEndian.Uint16(prefix[8:])), npyPrefix1, nil
	case 2, 3:
		if len(prefix) < npyPrefix2 {
			return 0, 0, errorf(ErrCorrupt, "truncated .npy header")
		}
		return npyPrefix2 + uint64(binary.LittleEndian.Uint32(prefix[8:])), npyPrefix2, nil
	default:
		return 0, 0, errorf(ErrVersion, ".npy format version %d.%d; this package reads 1.0 and 2.0", major, prefix[7])
	}
}

// parseDict parses the header dict strictly: exactly the keys descr,
// fortran_order and shape (in any order, each once), with the literal
// syntax numpy writes, then spaces and a final '\n'.
func parseDict(s string) (descr string, fortran bool, shape []int, err error) {
	p := dictParser{s: s}
	seen := map[string]bool{}
	p.space()
	if !p.eat('{') {
		return "", false, nil, p.fail("expected '{'")
	}
	for {
		p.space()
		if p.eat('}') {
			break
		}
		key, ok := p.str()
		if !ok {
			return "", false, nil, p.fail("expected a quoted key")
		}
		if seen[key] {
			return "", false, nil, p.fail("key '" + key + "' repeated")
		}
		seen[key] = true
		p.space()
		if !p.eat(':') {
			return "", false, nil, p.fail("expected ':'")
		}
		p.space()
		switch key {
		case "descr":
			if descr, ok = p.str(); !ok {
				return "", false, nil, p.fail("descr: expected a string (a structured dtype is not supported)")
			}
		case "fortran_order":
			switch {
			case p.word("True"):
				fortran = true
			case p.word("False"):
			default:
				return "", false, nil, p.fail("fortran_order: expected True or False")
			}
		case "shape":
			if shape, ok = p.tuple(); !ok {
				return "", false, nil, p.fail("shape: expected a tuple of non-negative integers")
			}
		default:
			return "", false, nil, p.fail("unexpected key '" + key + "'")
		}
		p.space()
		if p.eat('}') {
			break
		}
		if !p.eat(',') {
			return "", false, nil, p.fail("expected ',' or '}'")
		}
	}
	if len(seen) != 3 {
		return "", false, nil, p.fail("the dict needs the keys descr, fortran_order and shape")
	}
	rest := s[p.i:]
	if !strings.HasSuffix(rest, "\n") || strings.TrimLeft(rest[:len(rest)-1], " ") != "" {
		return "", false, nil, p.fail("expected only spaces and '\\n' after the dict")
	}
	return descr, fortran, shape, nil
}

type dictParser struct {
	s string
	i int
}

func (p *dictParser) fail(what string) error {
	return errorf(ErrCorrupt, ".npy header dict at byte %d: %s", p.i, what)
}

func (p *dictParser) space() {
	for p.i < len(p.s) && p.s[p.i] == ' ' {
		p.i++
	}
}

func (p *dictParser) eat(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *dictParser) word(w string) bool {
	if strings.HasPrefix(p.s[p.i:], w) {
		p.i += len(w)
		return true
	}
	return false
}

// str reads a quoted string without escapes ('...' or "...").
func (p *dictParser) str() (string, bool) {
	if p.i >= len(p.s) || (p.s[p.i] != '\'' && p.s[p.i] != '"') {
		return "", false
	}
	q := p.s[p.i]
	end := strings.IndexByte(p.s[p.i+1:], q)
	if end < 0 || strings.IndexByte(p.s[p.i+1:p.i+1+end], '\\') >= 0 {
		return "", false
	}
	v := p.s[p.i+1 : p.i+1+end]
	p.i += end + 2
	return v, true
}

// tuple reads (), (n,) or (a, b, ...) with an optional trailing comma;
// numpy may write 2L-style longs in old files: not accepted.
func (p *dictParser) tuple() ([]int, bool) {
	if !p.eat('(') {
		return nil, false
	}
	shape := []int{}
	for {
		p.space()
		if p.eat(')') {
			return shape, true
		}
		start := p.i
		for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
			p.i++
		}
		if p.i == start || p.i-start > 18 || len(shape) >= maxRank {
			return nil, false
		}
		d, err := strconv.Atoi(p.s[start:p.i])
		if err != nil {
			return nil, false
		}
		shape = append(shape, d)
		p.space()
		if p.eat(')') {
			// (n) is an int in Python, not a tuple.
			return shape, len(shape) != 1 || p.s[p.i-2] == ','
		}
		if !p.eat(',') {
			return nil, false
		}
	}
}

// decodeHeader validates a whole .npy header (the first H bytes) and
// returns descr and shape.
func decodeHeader(h []byte, prefixLen uint64) (descr string, shape []int, err error) {
	dict := string(h[prefixLen:])
	for _, c := range []byte(dict) {
		if c >= 0x80 {
			return "", nil, errorf(ErrCorrupt, ".npy header dict is not ASCII")
		}
	}
	descr, fortran, shape, err := parseDict(dict)
	if err != nil {
		return "", nil, err
	}
	if fortran {
		return "", nil, errorf(ErrInvalid, "the .npy file is in Fortran order (column-major), which shmdict arrays do not support; save it with numpy.ascontiguousarray")
	}
	if _, ok := dtypes[descr]; !ok {
		why := "supported: |u1 |i1 <u2 <i2 <u4 <i4 <u8 <i8 <f4 <f8"
		if strings.HasPrefix(descr, ">") {
			why = "big-endian data is not supported; convert it with arr.astype(arr.dtype.newbyteorder('<'))"
		}
		return "", nil, fmt.Errorf("%w: dtype %q in the .npy header: %s", ErrDType, descr, why)
	}
	return descr, shape, nil
}
