package dockerengine

import (
	"errors"
	"fmt"
	"strings"

	"github.com/imgbuild/imgbuild/internal/plugin"
)

// ChangeInstructions are the Dockerfile instructions the engine applies
// at commit and import (Packer's list, plus the two the engine also takes).
var ChangeInstructions = []string{
	"CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL", "ONBUILD", "USER", "VOLUME", "WORKDIR",
	"HEALTHCHECK", "STOPSIGNAL",
}

// CheckChange accepts one entry of a changes option, so that a wrong one
// fails when the template is checked, not after the build.
func CheckChange(ch string) error {
	word, _, _ := strings.Cut(strings.TrimSpace(ch), " ")
	if word == "" {
		return errors.New("empty instruction")
	}
	for _, ok := range ChangeInstructions {
		if strings.EqualFold(word, ok) {
			return nil
		}
	}
	return fmt.Errorf("%q cannot be applied to an image: use one of %s",
		word, strings.Join(ChangeInstructions, ", "))
}

// GeneratedOf returns a copy of an artifact's build.* values, empty when
// it has none.
func GeneratedOf(a plugin.Artifact) plugin.GeneratedData {
	out := plugin.GeneratedData{}
	switch g := a.State("generated_data").(type) {
	case plugin.GeneratedData:
		for k, v := range g {
			out[k] = v
		}
	case map[string]string:
		for k, v := range g {
			out[k] = v
		}
	case map[string]any:
		for k, v := range g {
			if s, ok := v.(string); ok {
				out[k] = s
			}
		}
	}
	return out
}

// TagsOf returns the references docker-tag recorded on an artifact.
func TagsOf(a plugin.Artifact) []string {
	switch t := a.State("docker_tags").(type) {
	case []string:
		return append([]string(nil), t...)
	case []any:
		var out []string
		for _, v := range t {
			if s, ok := v.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// Accepts returns an error unless the artifact's builder id is one of ids.
// what names the post-processor; want says what it can take.
func Accepts(a plugin.Artifact, what, want string, ids ...string) error {
	for _, id := range ids {
		if a.BuilderID() == id {
			return nil
		}
	}
	return fmt.Errorf("%s can only take %s; it was given an artifact of type %q (%s)", what, want, a.BuilderID(), a.String())
}
