package shellenv

import "testing"

func TestReplaceVarsAtCommandStartOnlyWhereACommandStarts(t *testing.T) {
	const repl = ". {{.EnvVarFile}} &&"
	tests := []struct{ in, want string }{
		{"chmod +x {{.Path}}; {{.Vars}} {{.Path}}", "chmod +x {{.Path}}; . {{.EnvVarFile}} && {{.Path}}"},
		{"{{ .Vars }} sudo -E -S sh '{{ .Path }}'", ". {{.EnvVarFile}} && sudo -E -S sh '{{ .Path }}'"},
		{"cd /tmp && {{.Vars}} sh {{.Path}}", "cd /tmp && . {{.EnvVarFile}} && sh {{.Path}}"},
		{"( {{- .Vars -}} sh {{.Path}} )", "( . {{.EnvVarFile}} && sh {{.Path}} )"},
		{"true &\n{{.Vars}} sh {{.Path}}", "true &\n. {{.EnvVarFile}} && sh {{.Path}}"},
		// Elsewhere a replacement would change what runs.
		{"echo pw | sudo -S env {{ .Vars }} {{ .Path }}", ""},
		{"sudo sh -c '{{.Vars}} {{.Path}}'", ""},
		{"echo pw | {{.Vars}} sudo -S -E sh {{.Path}}", ""},
		{"true || {{.Vars}} sh {{.Path}}", ""},
		{"{{.Vars}} sh {{.Path}}; env {{.Vars}} true", ""},
	}
	for _, tt := range tests {
		if got := ReplaceVarsAtCommandStart(tt.in, repl); got != tt.want {
			t.Errorf("ReplaceVarsAtCommandStart(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if UsesVars("sh {{.Path}}") || !UsesVars("{{- .Vars }} sh") {
		t.Error("UsesVars does not tell a command with {{.Vars}} from one without")
	}
}
