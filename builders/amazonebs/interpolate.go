package amazonebs

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/google/uuid"
)

// Packer's amazon plugin still renders Go-template expressions such as
// "{{timestamp}}" or "{{ .SourceAMIName }}" in ami_name, ami_description
// and the tag values; templates rely on it, so imgbuild renders them too.

var cleanRE = regexp.MustCompile(`[^a-zA-Z0-9()\[\] ./\-'@_]`)

// render expands the legacy template expressions in s with data (the
// build's generated values: SourceAMI, SourceAMIName, BuildRegion, ...).
func render(s string, data map[string]string, now time.Time) (string, error) {
	if !strings.Contains(s, "{{") {
		return s, nil
	}
	funcs := template.FuncMap{
		"timestamp":      func() string { return strconv.FormatInt(now.Unix(), 10) },
		"isotime":        func(f ...string) string { return isotime(now, f...) },
		"uuid":           func() string { return uuid.NewString() },
		"packer_version": func() string { return "1.9.4" },
		"upper":          strings.ToUpper,
		"lower":          strings.ToLower,
		"replace":        func(old, new string, n int, s string) string { return strings.Replace(s, old, new, n) },
		"replace_all":    func(old, new, s string) string { return strings.ReplaceAll(s, old, new) },
		"split": func(s, sep string, i int) string {
			p := strings.Split(s, sep)
			if i < len(p) {
				return p[i]
			}
			return ""
		},
		"clean_resource_name": func(s string) string { return cleanRE.ReplaceAllString(s, "-") },
		"build_name":          func() string { return data["BuildName"] },
		"build_type":          func() string { return "amazon-ebs" },
	}
	t, err := template.New("").Funcs(funcs).Option("missingkey=zero").Parse(s)
	if err != nil {
		return "", fmt.Errorf("rendering %q: %w", s, err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return "", fmt.Errorf("rendering %q: %w", s, err)
	}
	return b.String(), nil
}

func isotime(now time.Time, f ...string) string {
	if len(f) == 0 {
		return now.UTC().Format(time.RFC3339)
	}
	return now.UTC().Format(f[0])
}

func renderMap(m map[string]string, data map[string]string, now time.Time) (map[string]string, error) {
	out := make(map[string]string, len(m))
	for k, v := range m {
		rk, err := render(k, data, now)
		if err != nil {
			return nil, err
		}
		rv, err := render(v, data, now)
		if err != nil {
			return nil, err
		}
		out[rk] = rv
	}
	return out, nil
}
