package protobuf

import (
	"context"
	"testing"

	"github.com/bufbuild/protocompile"
	"google.golang.org/protobuf/reflect/protoreflect"
)

func compile(t *testing.T, src string) protoreflect.FileDescriptor {
	t.Helper()
	c := protocompile.Compiler{Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{
		Accessor: protocompile.SourceAccessorFromMap(map[string]string{"a.proto": src}),
	})}
	fs, err := c.Compile(context.Background(), "a.proto")
	if err != nil {
		t.Fatal(err)
	}
	return fs[0]
}

// TestCommonChanges: old is the writer, new the reader (BACKWARD).
func TestCommonChanges(t *testing.T) {
	const base = `syntax = "proto3"; package p; message M { string a = 1; int32 n = 2; }`
	cases := []struct {
		name, old, new string
		compatible     bool
	}{
		{"same", base, base, true},
		{"field added", base, `syntax = "proto3"; package p; message M { string a = 1; int32 n = 2; bool b = 3; }`, true},
		{"field removed", base, `syntax = "proto3"; package p; message M { string a = 1; }`, true},
		{"field renamed", base, `syntax = "proto3"; package p; message M { string title = 1; int32 n = 2; }`, true},
		{"int32 to int64 (same wire type)", base, `syntax = "proto3"; package p; message M { string a = 1; int64 n = 2; }`, true},
		{"string to bytes", base, `syntax = "proto3"; package p; message M { bytes a = 1; int32 n = 2; }`, true},
		{"int32 to string", base, `syntax = "proto3"; package p; message M { string a = 1; string n = 2; }`, false},
		{"int32 to sint32", base, `syntax = "proto3"; package p; message M { string a = 1; sint32 n = 2; }`, false},
		{"singular to repeated", base, `syntax = "proto3"; package p; message M { string a = 1; repeated int32 n = 2; }`, false},
		{"message removed", `syntax = "proto3"; package p; message M { string a = 1; } message N { int32 x = 1; }`, `syntax = "proto3"; package p; message M { string a = 1; }`, false},
		{"message added", base, base + ` message N { int32 x = 1; }`, true},
		{"package changed", base, `syntax = "proto3"; package q; message M { string a = 1; int32 n = 2; }`, false},
		{"message type of field changed", `syntax = "proto3"; message A {} message B {} message M { A f = 1; }`, `syntax = "proto3"; message A {} message B {} message M { B f = 1; }`, false},
		{"enum value added", `syntax = "proto3"; enum E { X = 0; } message M { E e = 1; }`, `syntax = "proto3"; enum E { X = 0; Y = 1; } message M { E e = 1; }`, true},
		{"enum removed", `syntax = "proto3"; enum E { X = 0; } enum F { Z = 0; } message M { E e = 1; }`, `syntax = "proto3"; enum E { X = 0; } message M { E e = 1; }`, false},
		{"one field into a new oneof", base, `syntax = "proto3"; package p; message M { oneof o { string a = 1; } int32 n = 2; }`, true},
		{"two fields into a new oneof", base, `syntax = "proto3"; package p; message M { oneof o { string a = 1; int32 n = 2; } }`, false},
		{"required added (proto2)", `syntax = "proto2"; message M { optional string a = 1; }`, `syntax = "proto2"; message M { optional string a = 1; required int32 b = 2; }`, false},
		{"syntax changed", `syntax = "proto2"; message M { optional string a = 1; }`, `syntax = "proto3"; message M { string a = 1; }`, false},
		{"map value changed", `syntax = "proto3"; message M { map<string, int32> m = 1; }`, `syntax = "proto3"; message M { map<string, string> m = 1; }`, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			probs := CanRead(compile(t, tc.new), compile(t, tc.old))
			if (len(probs) == 0) != tc.compatible {
				t.Fatalf("compatible = %v, want %v: %v", len(probs) == 0, tc.compatible, probs)
			}
		})
	}
}
