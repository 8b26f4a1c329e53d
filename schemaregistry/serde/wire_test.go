package serde

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

func TestHeader(t *testing.T) {
	b := append(AppendHeader(nil, 258), 'x')
	if !bytes.Equal(b, []byte{0, 0, 0, 1, 2, 'x'}) {
		t.Fatalf("% x", b)
	}
	id, payload, err := ParseHeader(b)
	if err != nil || id != 258 || string(payload) != "x" {
		t.Fatalf("%d %q %v", id, payload, err)
	}
	for _, bad := range [][]byte{nil, {0, 0, 0}, {1, 0, 0, 0, 1}} {
		if _, _, err := ParseHeader(bad); !errors.Is(err, ErrNotFramed) {
			t.Errorf("ParseHeader(% x) = %v", bad, err)
		}
	}
}

func TestMessageIndexes(t *testing.T) {
	for _, idx := range [][]int{{0}, {1}, {0, 2}, {3, 1, 4}} {
		b := AppendMessageIndexes(nil, idx)
		got, rest, err := ParseMessageIndexes(append(b, 'p'))
		if err != nil || !reflect.DeepEqual(got, idx) || string(rest) != "p" {
			t.Errorf("%v: got %v %q %v", idx, got, rest, err)
		}
	}
	// [0] is the single byte 0, as Confluent writes it.
	if b := AppendMessageIndexes(nil, []int{0}); !bytes.Equal(b, []byte{0}) {
		t.Fatalf("% x", b)
	}
	// [1]: count 1 and index 1, zig-zag: 02 02.
	if b := AppendMessageIndexes(nil, []int{1}); !bytes.Equal(b, []byte{2, 2}) {
		t.Fatalf("% x", b)
	}
	if _, _, err := ParseMessageIndexes([]byte{0x7e}); err == nil {
		t.Fatal("count larger than the data accepted")
	}
}
