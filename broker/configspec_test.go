package broker

import (
	"strings"
	"testing"
)

func TestConfigSpecs(t *testing.T) {
	for _, specs := range [][]ConfigSpec{BrokerConfigSpecs, TopicConfigSpecs} {
		seen := map[string]bool{}
		for _, s := range specs {
			if seen[s.Name] || s.Doc == "" {
				t.Errorf("%s: duplicate or undocumented", s.Name)
			}
			seen[s.Name] = true
			if !(s.Nullable && s.Default == "") {
				if err := s.validate(s.Default); err != nil {
					t.Errorf("%s: default %q fails its own validator: %v", s.Name, s.Default, err)
				}
			}
		}
	}
	for _, s := range TopicConfigSpecs {
		for _, syn := range s.Synonyms {
			if brokerSpecByName[syn.Name] == nil && !strings.HasPrefix(syn.Name, "log.") {
				t.Errorf("topic config %s: synonym %s unknown", s.Name, syn.Name)
			}
		}
	}
	var sb strings.Builder
	if err := WriteConfigReference(&sb); err != nil || !strings.Contains(sb.String(), "| `retention.ms` | long | `604800000` | `log.retention.ms`, `log.retention.minutes`, `log.retention.hours` |") {
		t.Fatalf("reference:\n%s", sb.String())
	}
	if err := ValidateTopicConfigs(map[string]string{"retention.ms": "-1", "cleanup.policy": "compact,delete", "min.cleanable.dirty.ratio": "0.1"}); err != nil {
		t.Fatal(err)
	}
	if err := ValidateBrokerSettings(map[string]string{"num.partitions": "0"}); err == nil {
		t.Fatal("num.partitions=0 accepted")
	}
}
