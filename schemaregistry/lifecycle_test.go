package schemaregistry_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/schemaregistry"
	"github.com/sluicehq/sluice/schemaregistry/serde"
)

const (
	userV1 = `{"type":"record","name":"User","namespace":"acme","fields":[{"name":"id","type":"long"}]}`
	// v2 adds a field with a default: backward compatible.
	userV2 = `{"type":"record","name":"User","namespace":"acme","fields":[{"name":"id","type":"long"},{"name":"email","type":["null","string"],"default":null}]}`
	// bad adds a field without a default: not backward compatible.
	userBad = `{"type":"record","name":"User","namespace":"acme","fields":[{"name":"id","type":"long"},{"name":"age","type":"int"}]}`
	userV3  = `{"type":"record","name":"User","namespace":"acme","fields":[{"name":"id","type":"long"},{"name":"nick","type":"string","default":""}]}`
)

func schemaBody(s string) map[string]any { return map[string]any{"schema": s} }

// TestLifecycle walks the Confluent semantics the issue lists, through real
// HTTP against a registry on a real Kafka.
func TestLifecycle(t *testing.T) {
	kafka := startKafka(t)
	reg := startRegistry(t, kafka)
	u := reg.url

	expect(t, do(t, "GET", u+"/", nil), 200, 0)
	var types []string
	do(t, "GET", u+"/schemas/types", nil).json(t, &types)
	if strings.Join(types, ",") != "JSON,PROTOBUF,AVRO" {
		t.Fatalf("types %v", types)
	}

	// Register; the same schema again answers the same id.
	id1 := register(t, u, "users-value", schemaBody(userV1))
	if id1 != 1 {
		t.Fatalf("first id %d", id1)
	}
	spaced := strings.ReplaceAll(userV1, ",", " , ")
	if again := register(t, u, "users-value", schemaBody(spaced)); again != id1 {
		t.Fatalf("same schema got id %d, want %d", again, id1)
	}
	// Another subject reuses the id.
	if other := register(t, u, "audit-value", schemaBody(userV1)); other != id1 {
		t.Fatalf("second subject got id %d, want %d", other, id1)
	}
	var byID struct {
		Schema     string `json:"schema"`
		SchemaType string `json:"schemaType"`
	}
	do(t, "GET", fmt.Sprintf("%s/schemas/ids/%d", u, id1), nil).json(t, &byID)
	if byID.Schema != userV1 || byID.SchemaType != "" {
		t.Fatalf("schema by id: %+v", byID)
	}
	var subjects []string
	do(t, "GET", fmt.Sprintf("%s/schemas/ids/%d/subjects", u, id1), nil).json(t, &subjects)
	if strings.Join(subjects, ",") != "audit-value,users-value" {
		t.Fatalf("subjects of id: %v", subjects)
	}

	// An incompatible change is refused with 409.
	expect(t, do(t, "POST", u+"/subjects/users-value/versions", schemaBody(userBad)), 409, 409)
	var verdict struct {
		IsCompatible bool     `json:"is_compatible"`
		Messages     []string `json:"messages"`
	}
	do(t, "POST", u+"/compatibility/subjects/users-value/versions/latest?verbose=true", schemaBody(userBad)).json(t, &verdict)
	if verdict.IsCompatible || len(verdict.Messages) == 0 || !strings.Contains(strings.Join(verdict.Messages, " "), "READER_FIELD_MISSING_DEFAULT_VALUE") {
		t.Fatalf("verbose verdict: %+v", verdict)
	}
	do(t, "POST", u+"/compatibility/subjects/users-value/versions", schemaBody(userV2)).json(t, &verdict)
	if !verdict.IsCompatible {
		t.Fatalf("v2 reported incompatible")
	}

	id2 := register(t, u, "users-value", schemaBody(userV2))
	if id2 != 2 {
		t.Fatalf("v2 id %d", id2)
	}
	var v struct {
		Subject string `json:"subject"`
		Version int    `json:"version"`
		ID      int    `json:"id"`
		Schema  string `json:"schema"`
	}
	do(t, "GET", u+"/subjects/users-value/versions/latest", nil).json(t, &v)
	if v.Version != 2 || v.ID != id2 {
		t.Fatalf("latest: %+v", v)
	}
	do(t, "GET", u+"/subjects/users-value/versions/-1", nil).json(t, &v)
	if v.Version != 2 {
		t.Fatalf("-1: %+v", v)
	}
	// Lookup by content.
	do(t, "POST", u+"/subjects/users-value", schemaBody(userV1)).json(t, &v)
	if v.Version != 1 || v.ID != id1 {
		t.Fatalf("lookup: %+v", v)
	}
	expect(t, do(t, "POST", u+"/subjects/users-value", schemaBody(userV3)), 404, 40403)
	expect(t, do(t, "POST", u+"/subjects/nobody", schemaBody(userV3)), 404, 40401)

	// Soft delete of version 2; the next version still counts it.
	expect(t, do(t, "DELETE", u+"/subjects/users-value/versions/2", nil), 200, 0)
	expect(t, do(t, "DELETE", u+"/subjects/users-value/versions/2", nil), 404, 40406)
	var versions []int
	do(t, "GET", u+"/subjects/users-value/versions", nil).json(t, &versions)
	if fmt.Sprint(versions) != "[1]" {
		t.Fatalf("versions after soft delete: %v", versions)
	}
	do(t, "GET", u+"/subjects/users-value/versions?deleted=true", nil).json(t, &versions)
	if fmt.Sprint(versions) != "[1 2]" {
		t.Fatalf("versions with deleted: %v", versions)
	}
	expect(t, do(t, "GET", u+"/subjects/users-value/versions/2", nil), 404, 40402)
	expect(t, do(t, "GET", u+"/subjects/users-value/versions/2?deleted=true", nil), 200, 0)
	// The soft-deleted schema is still served by id.
	expect(t, do(t, "GET", fmt.Sprintf("%s/schemas/ids/%d", u, id2), nil), 200, 0)
	// Compatibility is checked against undeleted versions only: v3 is
	// compatible with v1 whatever v2 was.
	id3 := register(t, u, "users-value", schemaBody(userV3))
	do(t, "GET", u+"/subjects/users-value/versions/latest", nil).json(t, &v)
	if v.Version != 3 || v.ID != id3 || id3 != 3 {
		t.Fatalf("after soft delete, next: %+v id %d", v, id3)
	}

	// Hard delete only after a soft delete.
	expect(t, do(t, "DELETE", u+"/subjects/users-value/versions/1?permanent=true", nil), 404, 40407)
	expect(t, do(t, "DELETE", u+"/subjects/users-value/versions/2?permanent=true", nil), 200, 0)
	expect(t, do(t, "GET", u+"/subjects/users-value/versions/2?deleted=true", nil), 404, 40402)
	expect(t, do(t, "DELETE", u+"/subjects/audit-value?permanent=true", nil), 404, 40405)
	var deleted []int
	do(t, "DELETE", u+"/subjects/audit-value", nil).json(t, &deleted)
	if fmt.Sprint(deleted) != "[1]" {
		t.Fatalf("deleted versions %v", deleted)
	}
	expect(t, do(t, "DELETE", u+"/subjects/audit-value", nil), 404, 40404)
	expect(t, do(t, "GET", u+"/subjects/audit-value/versions", nil), 404, 40401)
	do(t, "GET", u+"/subjects?deleted=true", nil).json(t, &subjects)
	if strings.Join(subjects, ",") != "audit-value,users-value" {
		t.Fatalf("subjects with deleted: %v", subjects)
	}
	do(t, "GET", u+"/subjects?deletedOnly=true", nil).json(t, &subjects)
	if strings.Join(subjects, ",") != "audit-value" {
		t.Fatalf("deletedOnly subjects: %v", subjects)
	}
	do(t, "DELETE", u+"/subjects/audit-value?permanent=true", nil).json(t, &deleted)
	if fmt.Sprint(deleted) != "[1]" {
		t.Fatalf("hard deleted %v", deleted)
	}
	do(t, "GET", u+"/subjects?deleted=true", nil).json(t, &subjects)
	if strings.Join(subjects, ",") != "users-value" {
		t.Fatalf("subjects after hard delete: %v", subjects)
	}

	// Modes.
	expect(t, do(t, "PUT", u+"/mode/users-value", map[string]string{"mode": "READONLY"}), 200, 0)
	expect(t, do(t, "POST", u+"/subjects/users-value/versions", schemaBody(userV2)), 422, 42205)
	expect(t, do(t, "DELETE", u+"/subjects/users-value/versions/3", nil), 422, 42205)
	var mode struct{ Mode string }
	do(t, "GET", u+"/mode/users-value", nil).json(t, &mode)
	if mode.Mode != "READONLY" {
		t.Fatalf("mode %+v", mode)
	}
	expect(t, do(t, "DELETE", u+"/mode/users-value", nil), 200, 0)
	expect(t, do(t, "GET", u+"/mode/users-value", nil), 404, 40409)
	do(t, "GET", u+"/mode/users-value?defaultToGlobal=true", nil).json(t, &mode)
	if mode.Mode != "READWRITE" {
		t.Fatalf("default mode %+v", mode)
	}
	expect(t, do(t, "PUT", u+"/mode", map[string]string{"mode": "SIDEWAYS"}), 422, 42204)

	// IMPORT with explicit ids and versions.
	expect(t, do(t, "PUT", u+"/mode", map[string]string{"mode": "IMPORT"}), 422, 42205)
	expect(t, do(t, "PUT", u+"/mode?force=true", map[string]string{"mode": "IMPORT"}), 200, 0)
	imp := map[string]any{"schema": `{"type":"record","name":"Imported","fields":[{"name":"x","type":"int"}]}`, "id": 100, "version": 7}
	if got := register(t, u, "imported", imp); got != 100 {
		t.Fatalf("import id %d", got)
	}
	do(t, "GET", u+"/subjects/imported/versions/7", nil).json(t, &v)
	if v.ID != 100 || v.Version != 7 {
		t.Fatalf("imported version %+v", v)
	}
	// An id already taken by another schema cannot be overwritten.
	clash := map[string]any{"schema": `"int"`, "id": 100, "version": 1}
	expect(t, do(t, "POST", u+"/subjects/clash/versions", clash), 422, 42205)
	expect(t, do(t, "PUT", u+"/mode", map[string]string{"mode": "READWRITE"}), 200, 0)
	// Explicit ids outside IMPORT are refused.
	expect(t, do(t, "POST", u+"/subjects/clash/versions", map[string]any{"schema": `"int"`, "id": 55}), 422, 42205)
	// New ids continue above the imported one.
	if next := register(t, u, "after-import", schemaBody(`"long"`)); next != 101 {
		t.Fatalf("id after import %d, want 101", next)
	}

	// Config.
	var cfg map[string]any
	do(t, "GET", u+"/config", nil).json(t, &cfg)
	if cfg["compatibilityLevel"] != "BACKWARD" {
		t.Fatalf("global config %v", cfg)
	}
	expect(t, do(t, "PUT", u+"/config", map[string]string{"compatibility": "SOMETIMES"}), 422, 42203)
	do(t, "PUT", u+"/config/users-value", map[string]string{"compatibility": "none"}).json(t, &cfg)
	if cfg["compatibility"] != "NONE" {
		t.Fatalf("put config %v", cfg)
	}
	register(t, u, "users-value", schemaBody(userBad)) // NONE allows it
	expect(t, do(t, "GET", u+"/config/other", nil), 404, 40408)
	do(t, "GET", u+"/config/other?defaultToGlobal=true", nil).json(t, &cfg)
	if cfg["compatibilityLevel"] != "BACKWARD" {
		t.Fatalf("defaultToGlobal %v", cfg)
	}
	do(t, "DELETE", u+"/config/users-value", nil).json(t, &cfg)
	if cfg["compatibilityLevel"] != "NONE" {
		t.Fatalf("delete config answered %v", cfg)
	}
	expect(t, do(t, "DELETE", u+"/config/users-value", nil), 404, 40408)

	// Primitive schemas come back as Confluent returns them.
	pid := register(t, u, "prim", schemaBody(`{"type": "string"}`))
	var raw json.RawMessage
	raw = do(t, "GET", fmt.Sprintf("%s/schemas/ids/%d/schema", u, pid), nil).body
	if string(raw) != `"string"` {
		t.Fatalf("primitive schema text %s", raw)
	}
	do(t, "GET", u+"/subjects/prim/versions/1", nil).json(t, &v)
	if v.Schema != `"string"` {
		t.Fatalf("primitive schema %q", v.Schema)
	}

	// Unknown fields such as metadata and ruleSet are kept.
	withMeta := map[string]any{"schema": `"bytes"`, "metadata": map[string]any{"properties": map[string]string{"owner": "team-a"}}, "ruleSet": map[string]any{"domainRules": []any{}}}
	register(t, u, "meta", withMeta)
	var mv map[string]any
	do(t, "GET", u+"/subjects/meta/versions/1", nil).json(t, &mv)
	if fmt.Sprint(mv["metadata"]) != "map[properties:map[owner:team-a]]" || mv["ruleSet"] == nil {
		t.Fatalf("metadata not kept: %v", mv)
	}

	// GET /schemas with filters and paging.
	var all []map[string]any
	do(t, "GET", u+"/schemas?subjectPrefix=users&latestOnly=true", nil).json(t, &all)
	if len(all) != 1 || all[0]["subject"] != "users-value" {
		t.Fatalf("latestOnly: %v", all)
	}
	do(t, "GET", u+"/schemas?limit=2&offset=1", nil).json(t, &all)
	if len(all) != 2 {
		t.Fatalf("paging: %v", all)
	}
	var ctxs []string
	do(t, "GET", u+"/contexts", nil).json(t, &ctxs)
	if fmt.Sprint(ctxs) != "[.]" {
		t.Fatalf("contexts %v", ctxs)
	}
}

// TestReferences registers a schema that uses another's named type and
// checks referencedby and the 42206 on deleting what is referenced.
func TestReferences(t *testing.T) {
	reg := startRegistry(t, startKafka(t))
	u := reg.url
	addr := `{"type":"record","name":"Address","namespace":"acme","fields":[{"name":"city","type":"string"}]}`
	addrID := register(t, u, "address", schemaBody(addr))
	person := map[string]any{
		"schema":     `{"type":"record","name":"Person","namespace":"acme","fields":[{"name":"home","type":"Address"}]}`,
		"references": []map[string]any{{"name": "acme.Address", "subject": "address", "version": 1}},
	}
	pid := register(t, u, "person", person)
	if pid == addrID {
		t.Fatal("same id for different schemas")
	}
	var ids []int
	do(t, "GET", u+"/subjects/address/versions/1/referencedby", nil).json(t, &ids)
	if fmt.Sprint(ids) != fmt.Sprint([]int{pid}) {
		t.Fatalf("referencedby %v", ids)
	}
	expect(t, do(t, "DELETE", u+"/subjects/address/versions/1", nil), 422, 42206)
	expect(t, do(t, "DELETE", u+"/subjects/address", nil), 422, 42206)
	var got struct {
		References []map[string]any `json:"references"`
	}
	do(t, "GET", fmt.Sprintf("%s/schemas/ids/%d", u, pid), nil).json(t, &got)
	if len(got.References) != 1 || got.References[0]["subject"] != "address" {
		t.Fatalf("references by id: %+v", got)
	}
	// A reference to nothing is an invalid schema.
	missing := map[string]any{
		"schema":     `{"type":"record","name":"P2","fields":[{"name":"a","type":"acme.Nowhere"}]}`,
		"references": []map[string]any{{"name": "acme.Nowhere", "subject": "nowhere", "version": 1}},
	}
	expect(t, do(t, "POST", u+"/subjects/p2/versions", missing), 422, 42201)
	// Once the referrer is gone, the referenced version may go.
	expect(t, do(t, "DELETE", u+"/subjects/person", nil), 200, 0)
	expect(t, do(t, "DELETE", u+"/subjects/address/versions/1", nil), 200, 0)
}

// TestJSONSchema registers JSON schemas and checks a common incompatible
// change.
func TestJSONSchema(t *testing.T) {
	reg := startRegistry(t, startKafka(t))
	u := reg.url
	v1 := `{"type":"object","properties":{"id":{"type":"integer"}},"additionalProperties":false}`
	id := register(t, u, "j", map[string]any{"schema": v1, "schemaType": "JSON"})
	var got struct {
		SchemaType string `json:"schemaType"`
		Schema     string `json:"schema"`
	}
	do(t, "GET", fmt.Sprintf("%s/schemas/ids/%d", u, id), nil).json(t, &got)
	if got.SchemaType != "JSON" || got.Schema != v1 {
		t.Fatalf("json schema: %+v", got)
	}
	// Adding an optional property to a closed model is backward compatible.
	v2 := `{"type":"object","properties":{"id":{"type":"integer"},"name":{"type":"string"}},"additionalProperties":false}`
	register(t, u, "j", map[string]any{"schema": v2, "schemaType": "JSON"})
	// Making it required is not.
	v3 := `{"type":"object","properties":{"id":{"type":"integer"},"name":{"type":"string"}},"required":["name"],"additionalProperties":false}`
	expect(t, do(t, "POST", u+"/subjects/j/versions", map[string]any{"schema": v3, "schemaType": "JSON"}), 409, 409)
	expect(t, do(t, "POST", u+"/subjects/j/versions", map[string]any{"schema": `{"type":12}`, "schemaType": "JSON"}), 422, 42201)

	// The JSON serde validates against the registered schema.
	js := &serde.JSON{Client: &serde.Client{URL: u}}
	ctx := context.Background()
	b, err := js.Encode(ctx, id, map[string]any{"id": 7})
	if err != nil {
		t.Fatal(err)
	}
	var back struct{ ID int }
	if gotID, err := js.Decode(ctx, b, &back); err != nil || gotID != id || back.ID != 7 {
		t.Fatalf("decode: %v %d %+v", err, gotID, back)
	}
	if _, err := js.Encode(ctx, id, map[string]any{"id": "seven"}); err == nil {
		t.Fatal("a value not matching the schema was encoded")
	}
	if _, err := js.Encode(ctx, id, map[string]any{"id": 1, "extra": true}); err == nil {
		t.Fatal("an extra property passed a closed schema")
	}
}

// TestProtobuf registers .proto schemas, with a reference, and checks a
// common incompatible change.
func TestProtobuf(t *testing.T) {
	reg := startRegistry(t, startKafka(t))
	u := reg.url
	money := "syntax = \"proto3\";\npackage shop;\nmessage Money { string currency = 1; int64 units = 2; }\n"
	register(t, u, "money", map[string]any{"schema": money, "schemaType": "PROTOBUF"})
	order := "syntax = \"proto3\";\npackage shop;\nimport \"shop/money.proto\";\nmessage Order { string id = 1; Money total = 2; }\n"
	refs := []map[string]any{{"name": "shop/money.proto", "subject": "money", "version": 1}}
	id := register(t, u, "orders-value", map[string]any{"schema": order, "schemaType": "PROTOBUF", "references": refs})
	var got struct {
		SchemaType string `json:"schemaType"`
		Schema     string `json:"schema"`
	}
	do(t, "GET", fmt.Sprintf("%s/schemas/ids/%d", u, id), nil).json(t, &got)
	if got.SchemaType != "PROTOBUF" || !strings.Contains(got.Schema, "message Order") {
		t.Fatalf("protobuf by id: %+v", got)
	}
	// A field added: compatible. The id field's type changed: not.
	v2 := strings.Replace(order, "Money total = 2;", "Money total = 2; string note = 3;", 1)
	register(t, u, "orders-value", map[string]any{"schema": v2, "schemaType": "PROTOBUF", "references": refs})
	v3 := strings.Replace(v2, "string id = 1;", "int64 id = 1;", 1)
	expect(t, do(t, "POST", u+"/subjects/orders-value/versions", map[string]any{"schema": v3, "schemaType": "PROTOBUF", "references": refs}), 409, 409)
	expect(t, do(t, "POST", u+"/subjects/p/versions", map[string]any{"schema": "syntax = \"proto3\"; message {", "schemaType": "PROTOBUF"}), 422, 42201)
	// An import that is not a reference is refused.
	expect(t, do(t, "POST", u+"/subjects/p/versions", map[string]any{"schema": order, "schemaType": "PROTOBUF"}), 422, 42201)
	expect(t, do(t, "DELETE", u+"/subjects/money", nil), 422, 42206)
}

// TestBadInput: invalid schemas, versions, levels, malformed and huge
// bodies get a clear JSON error, and the server keeps serving.
func TestBadInput(t *testing.T) {
	reg := startRegistry(t, startKafka(t), func(c *schemaregistry.Config) { c.MaxBodyBytes = 1 << 20 })
	u := reg.url
	for _, s := range []string{`{"type":"record","name":"R"}`, `nope`, `{"type":"enum","name":"E","symbols":["A","A"]}`, ``, `{"type":"record","name":"R","fields":[{"name":"a","type":"int","default":"x"}]}`} {
		expect(t, do(t, "POST", u+"/subjects/s/versions", schemaBody(s)), 422, 42201)
	}
	for _, v := range []string{"0", "-2", "abc", "2147483648", "1.5"} {
		expect(t, do(t, "GET", u+"/subjects/s/versions/"+v, nil), 422, 42202)
	}
	expect(t, do(t, "PUT", u+"/config", map[string]string{"compatibility": "MOSTLY"}), 422, 42203)
	expect(t, do(t, "PUT", u+"/config", map[string]string{}), 422, 42203)
	expect(t, do(t, "POST", u+"/subjects/s/versions", `{"schema": `), 400, 400)
	expect(t, do(t, "POST", u+"/subjects/s/versions", `[1,2,3]`), 400, 400)
	expect(t, do(t, "POST", u+"/subjects/s/versions", ``), 422, 422)
	huge := `{"schema":"` + strings.Repeat("x", 2<<20) + `"}`
	expect(t, do(t, "POST", u+"/subjects/s/versions", huge), 413, 413)
	deep := strings.Repeat(`{"type":"array","items":`, 5000) + `"int"` + strings.Repeat("}", 5000)
	expect(t, do(t, "POST", u+"/subjects/s/versions", schemaBody(deep)), 422, 42201)
	expect(t, do(t, "GET", u+"/schemas/ids/999", nil), 404, 40403)
	expect(t, do(t, "GET", u+"/schemas/ids/x", nil), 404, 404)
	expect(t, do(t, "GET", u+"/no/such/route", nil), 404, 404)
	expect(t, do(t, "DELETE", u+"/schemas", nil), 405, 0)
	req, _ := http.NewRequest("POST", u+"/subjects/s/versions", strings.NewReader(`{"schema":"\"int\""}`))
	req.Header.Set("Content-Type", "text/html")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 415 {
		t.Fatalf("text/html body: status %d", resp.StatusCode)
	}
	// Still alive and well.
	register(t, u, "s", schemaBody(`"int"`))
}
