package broker

import (
	"fmt"
	"io"
	"strings"
)

// WriteConfigReference writes the broker and topic config tables as
// Markdown (for docs/configuration.md), from the same specs that validate
// and describe them.
func WriteConfigReference(w io.Writer) error {
	var sb strings.Builder
	section := func(title, intro string, specs []ConfigSpec, synonyms bool) {
		fmt.Fprintf(&sb, "## %s\n\n%s\n\n", title, intro)
		if synonyms {
			sb.WriteString("| name | type | default | broker config(s) setting the default | description |\n|---|---|---|---|---|\n")
		} else {
			sb.WriteString("| name | type | default | dynamic | description |\n|---|---|---|---|---|\n")
		}
		for _, s := range specs {
			def := "`" + s.Default + "`"
			if s.Nullable && s.Default == "" {
				def = "(none)"
			}
			col := "yes"
			if synonyms {
				var names []string
				for _, syn := range s.Synonyms {
					names = append(names, "`"+syn.Name+"`")
				}
				col = strings.Join(names, ", ")
			} else if s.ReadOnly {
				col = "no"
			}
			fmt.Fprintf(&sb, "| `%s` | %s | %s | %s | %s |\n", s.Name, strings.ToLower(s.Type.String()), def, col, strings.ReplaceAll(s.Doc, "|", "\\|"))
		}
		sb.WriteString("\n")
	}
	section("Broker configs", "Set under `broker:` in sluice.yaml by Kafka's names; the dynamic ones also through AlterConfigs on the broker resource.", BrokerConfigSpecs, false)
	section("Topic configs", "Set per topic at creation or through AlterConfigs; a topic without an override takes the first broker config of its synonyms that is set, else Kafka's default.", TopicConfigSpecs, true)
	_, err := io.WriteString(w, sb.String())
	return err
}
