package qemu

import (
	"reflect"
	"testing"
	"time"
)

func TestParseKeysFollowsPackersSyntax(t *testing.T) {
	press := func(k uint32) keyAction { return keyAction{keysym: k} }
	tests := []struct {
		name string
		in   string
		want []keyAction
	}{
		{"plain text is typed as keysyms", "ab", []keyAction{press('a'), press('b')}},
		{"upper case and symbols are typed with shift", "A!", []keyAction{{keysym: 'A', shift: true}, {keysym: '!', shift: true}}},
		{"special keys are case-insensitive", "<enter><TAB><f12>", []keyAction{press(0xff0d), press(0xff09), press(0xffc9)}},
		{"<wait> waits a second", "<wait>", []keyAction{{wait: time.Second}}},
		{"<wait5> waits seconds", "<wait5>", []keyAction{{wait: 5 * time.Second}}},
		{"<wait1m30s> takes a duration", "<wait1m30s>", []keyAction{{wait: 90 * time.Second}}},
		{"On and Off hold and release a modifier", "<leftCtrlOn>c<leftCtrlOff>",
			[]keyAction{{keysym: 0xffe3, down: true}, press('c'), {keysym: 0xffe3, up: true}}},
		{"an unknown <name> is typed literally", "<x>", []keyAction{{keysym: '<', shift: true}, press('x'), {keysym: '>', shift: true}}},
		{"a lone < is typed literally", "a<b", []keyAction{press('a'), {keysym: '<', shift: true}, press('b')}},
		{"newline in text is Return", "\n", []keyAction{press(0xff0d)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseKeys(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parseKeys(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}
