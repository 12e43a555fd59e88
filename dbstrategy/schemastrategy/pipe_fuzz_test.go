package schemastrategy

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// msg returns a protocol message of type typ with body body.
func msg(typ byte, body string) []byte {
	return appendMsg(nil, typ, func(b []byte) []byte { return append(b, body...) })
}

func join(ms ...[]byte) []byte { return bytes.Join(ms, nil) }

func TestGuarded(t *testing.T) {
	parse, bind, exec, sync := msg('P', "\x00SELECT 1\x00\x00\x00"), msg('B', "\x00\x00\x00\x00\x00\x00\x00\x00"), msg('E', "\x00\x00\x00\x00\x00"), msg('S', "")
	query := msg('Q', "SELECT 1\x00")
	for _, tt := range []struct {
		name string
		p    []byte
		want bool
	}{
		{"bind, execute, sync", join(bind, exec, sync), true},
		{"parse, describe, sync", join(parse, msg('D', "S\x00"), sync), true},
		{"no sync", join(bind, exec), true},
		{"a query", query, false},
		{"a query behind the extended messages", join(bind, exec, query), false},
		{"messages after the sync", join(bind, exec, sync, bind, exec, sync), false},
		{"a query after the sync", join(bind, exec, sync, query), false},
		{"a cut message", join(bind, exec, sync)[:10], false},
		{"a length below 4", []byte{'S', 0, 0, 0, 3}, false},
		{"a length past the end", []byte{'S', 0, 0, 0, 9}, false},
	} {
		if got := guarded(tt.p); got != tt.want {
			t.Errorf("%s: guarded = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// FuzzGuarded checks that guarded never panics and accepts only whole
// extended-protocol messages with no Sync but the last.
func FuzzGuarded(f *testing.F) {
	f.Add(join(msg('B', "\x00\x00"), msg('E', "\x00\x00\x00\x00\x00"), msg('S', "")))
	f.Add(join(msg('S', ""), msg('Q', "x\x00")))
	f.Add([]byte("S\x00\x00\x00\x04Q"))
	f.Fuzz(func(t *testing.T, p []byte) {
		if !guarded(p) {
			return
		}
		for rest := p; len(rest) > 0; {
			size := int(binary.BigEndian.Uint32(rest[1:5]))
			if !isExtended(rest[0]) || size < 4 || 1+size > len(rest) {
				t.Fatalf("guarded(%q) accepted a message it should not", p)
			}
			if rest[0] == 'S' && 1+size != len(rest) {
				t.Fatalf("guarded(%q) accepted messages after a Sync", p)
			}
			rest = rest[1+size:]
		}
	})
}

// FuzzPipeFilter feeds the filter of a pipelined scope's responses any
// bytes, cut at any point, in every phase: it must not panic, and what it
// passes on to pgconn must be whole messages of the input, in order.
func FuzzPipeFilter(f *testing.F) {
	scope := join(msg('T', "x"), msg('D', "y"), msg('C', "SET\x00"), msg('Z', "I"))
	guardOK := join(msg('1', ""), msg('2', ""), msg('D', "z"), msg('C', "SELECT 1\x00"))
	guardErr := msg('E', "SERROR\x00C22012\x00Mdivision by zero\x00\x00")
	lease := join(msg('2', ""), msg('C', "SELECT 1\x00"), msg('Z', "I"))
	f.Add(join(scope, guardOK, lease), uint8(3), uint8(readScope))
	f.Add(join(scope, guardErr, msg('Z', "I")), uint8(1), uint8(readScope))
	f.Add(join(msg('E', "SFATAL\x00C57P01\x00Mterminating\x00\x00")), uint8(2), uint8(readGuard))
	f.Add([]byte{'D', 0, 0, 0, 1}, uint8(0), uint8(readGuard))
	f.Fuzz(func(t *testing.T, in []byte, cut, phase uint8) {
		w := &pipeConn{phase: int(phase) % 3, sent: &tenantConnector{}}
		step := int(cut)%7 + 1
		for i := 0; i < len(in); i += step {
			w.in = append(w.in, in[i:min(i+step, len(in))]...)
			if err := w.filter(); err != nil {
				return
			}
		}
		// What it passed on is whole messages of the input, in order,
		// then, once it let everything through, the rest of the input.
		out, rest := w.out, in
		for len(out) > 0 {
			if w.phase == readPass && bytes.HasSuffix(rest, out) {
				break
			}
			if len(out) < 5 || 1+int(binary.BigEndian.Uint32(out[1:5])) > len(out) {
				t.Fatalf("filter passed on a part of a message: %q", out)
			}
			m := out[:1+int(binary.BigEndian.Uint32(out[1:5]))]
			i := bytes.Index(rest, m)
			if i < 0 {
				t.Fatalf("filter passed on %q, not a message of the input in order", m)
			}
			out, rest = out[len(m):], rest[i+len(m):]
		}
	})
}
