package qemu

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// keyAction is one thing to do at the console: press and release a key,
// hold or release it, or wait.
type keyAction struct {
	keysym uint32
	shift  bool          // press shift around the key (upper case, "!", ...)
	down   bool          // only press (for <xOn>)
	up     bool          // only release (for <xOff>)
	wait   time.Duration // a pause instead of a key
}

// X11 keysyms of Packer's special keys (names compared lower-cased).
var specialKeys = map[string]uint32{
	"bs": 0xff08, "del": 0xffff, "enter": 0xff0d, "return": 0xff0d, "esc": 0xff1b,
	"tab": 0xff09, "spacebar": 0x20, "insert": 0xff63, "home": 0xff50, "end": 0xff57,
	"pageup": 0xff55, "pagedown": 0xff56, "left": 0xff51, "up": 0xff52, "right": 0xff53,
	"down": 0xff54, "menu": 0xff67,
	"leftshift": 0xffe1, "rightshift": 0xffe2, "leftctrl": 0xffe3, "rightctrl": 0xffe4,
	"leftalt": 0xffe9, "rightalt": 0xffea, "leftsuper": 0xffeb, "rightsuper": 0xffec,
	"f1": 0xffbe, "f2": 0xffbf, "f3": 0xffc0, "f4": 0xffc1, "f5": 0xffc2, "f6": 0xffc3,
	"f7": 0xffc4, "f8": 0xffc5, "f9": 0xffc6, "f10": 0xffc7, "f11": 0xffc8, "f12": 0xffc9,
}

// shifted lists the US-layout characters typed with shift held.
const shifted = `~!@#$%^&*()_+{}|:"<>?`

// parseKeys turns a boot_command string in Packer's syntax into actions.
// A "<" that does not start a known special key is typed literally.
func parseKeys(s string) ([]keyAction, error) {
	var out []keyAction
	for i := 0; i < len(s); {
		if s[i] == '<' {
			if end := strings.IndexByte(s[i:], '>'); end > 0 {
				name := s[i+1 : i+end]
				acts, ok, err := parseSpecial(name)
				if err != nil {
					return nil, fmt.Errorf("<%s> at offset %d: %w", name, i, err)
				}
				if ok {
					out = append(out, acts...)
					i += end + 1
					continue
				}
			}
		}
		r, size := rune(s[i]), 1
		if s[i] >= 0x80 {
			r, size = decodeRune(s[i:])
		}
		out = append(out, keyAction{keysym: keysymOf(r), shift: needsShift(r)})
		i += size
	}
	return out, nil
}

// parseSpecial reads the name between < and >. ok is false when the name
// is not special syntax at all (then the text is typed as is).
func parseSpecial(name string) (acts []keyAction, ok bool, err error) {
	lower := strings.ToLower(name)
	if strings.HasPrefix(lower, "wait") {
		arg := name[4:]
		switch {
		case arg == "":
			return []keyAction{{wait: time.Second}}, true, nil
		case isDigits(arg):
			n, _ := strconv.Atoi(arg)
			return []keyAction{{wait: time.Duration(n) * time.Second}}, true, nil
		default:
			d, perr := time.ParseDuration(arg)
			if perr != nil {
				return nil, false, nil
			}
			if d < 0 {
				return nil, true, fmt.Errorf("a wait cannot be negative")
			}
			return []keyAction{{wait: d}}, true, nil
		}
	}
	if k, found := specialKeys[lower]; found {
		return []keyAction{{keysym: k}}, true, nil
	}
	for _, suffix := range []struct {
		s        string
		down, up bool
	}{{"on", true, false}, {"off", false, true}} {
		if base, cut := strings.CutSuffix(lower, suffix.s); cut {
			if k, found := specialKeys[base]; found {
				return []keyAction{{keysym: k, down: suffix.down, up: suffix.up}}, true, nil
			}
		}
	}
	return nil, false, nil
}

func keysymOf(r rune) uint32 {
	switch r {
	case '\n':
		return 0xff0d
	case '\t':
		return 0xff09
	}
	if r < 0x100 {
		return uint32(r)
	}
	return 0x01000000 | uint32(r) // X11 Unicode keysyms
}

func needsShift(r rune) bool {
	return (r >= 'A' && r <= 'Z') || strings.ContainsRune(shifted, r)
}

func isDigits(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

func decodeRune(s string) (rune, int) {
	for _, r := range s {
		return r, len(string(r))
	}
	return 0, 1
}
