package shellenv

import (
	"regexp"
	"strings"
)

// varsToken is {{.Vars}} in an execute_command, however spaced or trimmed.
var varsToken = regexp.MustCompile(`\{\{-?\s*\.Vars\s*-?\}\}`)

// UsesVars reports whether an execute_command puts the variables in the
// command line.
func UsesVars(command string) bool { return varsToken.MatchString(command) }

// ReplaceVarsAtCommandStart returns command with each {{.Vars}} replaced
// by repl, or "" when one does not stand where a shell command starts.
// There the variables are assignments before a command (Packer's
// "{{.Vars}} {{.Path}}", "{{.Vars}} sudo -E sh {{.Path}}"), which sourcing
// a file or inheriting the environment can replace. Elsewhere (after env
// or sudo, inside quotes, after a | or ||) a replacement would change what
// runs.
func ReplaceVarsAtCommandStart(command, repl string) string {
	var b strings.Builder
	last := 0
	for _, loc := range varsToken.FindAllStringIndex(command, -1) {
		if !startsACommand(strings.TrimRight(command[:loc[0]], " \t")) {
			return ""
		}
		b.WriteString(command[last:loc[0]])
		b.WriteString(repl)
		last = loc[1]
	}
	b.WriteString(command[last:])
	return b.String()
}

// startsACommand reports whether what follows before (trailing blanks
// trimmed) begins a command on its own: the start of the line, or after
// ;, &&, a lone &, (, { or a newline.
func startsACommand(before string) bool {
	switch {
	case before == "", strings.HasSuffix(before, "&&"):
		return true
	case strings.HasSuffix(before, "|"):
		return false
	}
	return strings.ContainsAny(before[len(before)-1:], ";&({\n")
}
