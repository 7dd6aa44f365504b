package dockerengine

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/imgbuild/imgbuild/internal/plugin"
	"github.com/imgbuild/imgbuild/internal/secret"
)

func TestReadStreamFindsFailuresTheEngineReportsInsideTheStream(t *testing.T) {
	for _, c := range []struct {
		name, stream, wantErr, wantLast string
		wantShown                       []string
	}{
		{
			name: "a pull that worked",
			stream: `{"status":"Pulling from library/x","id":"1"}
{"status":"Downloading","progressDetail":{"current":1},"progress":"[=>  ]","id":"abc"}
{"status":"Pull complete","id":"abc"}
{"status":"Digest: sha256:00"}
{"status":"Status: Downloaded newer image for x:1"}`,
			wantLast:  "Status: Downloaded newer image for x:1",
			wantShown: []string{"1: Pulling from library/x", "Digest: sha256:00", "Status: Downloaded newer image for x:1"},
		},
		{
			name:    "a push refused half-way",
			stream:  `{"status":"Preparing","id":"abc"}` + "\n" + `{"errorDetail":{"message":"denied: requested access to the resource is denied"},"error":"denied"}`,
			wantErr: "denied: requested access to the resource is denied",
		},
		{name: "an import's image id", stream: `{"status":"sha256:1234"}`, wantLast: "sha256:1234", wantShown: []string{"sha256:1234"}},
		{name: "a cut stream", stream: `{"status":"Pulling`, wantErr: "reading the engine's response"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var shown []string
			last, err := ReadStream(strings.NewReader(c.stream), func(s string) { shown = append(shown, s) })
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil || last != c.wantLast {
				t.Fatalf("last %q, err %v; want %q", last, err, c.wantLast)
			}
			if strings.Join(shown, "|") != strings.Join(c.wantShown, "|") {
				t.Errorf("shown %q, want %q (per-layer ticks left out)", shown, c.wantShown)
			}
		})
	}
}

func TestRegistryAuthCarriesTheLoginAndMasksThePassword(t *testing.T) {
	defer secret.Reset()
	enc, err := Login{Enabled: true, Server: "reg:5001", Username: "u", Password: "pw-for-auth-test"}.RegistryAuth()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.URLEncoding.DecodeString(enc)
	if err != nil {
		t.Fatal(err)
	}
	var got struct{ Username, Password, ServerAddress string }
	json.Unmarshal(raw, &got)
	if got.Username != "u" || got.Password != "pw-for-auth-test" || got.ServerAddress != "reg:5001" {
		t.Errorf("auth = %+v", got)
	}
	if secret.Mask("x pw-for-auth-test y") != "x <sensitive> y" {
		t.Error("the password was not registered as a secret")
	}
	anon, _ := Login{}.RegistryAuth()
	raw, _ = base64.URLEncoding.DecodeString(anon)
	got.Username, got.Password = "", ""
	json.Unmarshal(raw, &got)
	if got.Username != "" || got.Password != "" {
		t.Errorf("anonymous auth carries credentials: %s", raw)
	}
}

func TestCheckChangeAcceptsWhatTheEngineApplies(t *testing.T) {
	for ch, ok := range map[string]bool{
		"ENV A=b": true, "cmd [\"x\"]": true, "EXPOSE 80 443": true, "HEALTHCHECK NONE": true,
		"RUN make": false, "FROM x": false, "COPY a b": false, "": false,
	} {
		if err := CheckChange(ch); (err == nil) != ok {
			t.Errorf("CheckChange(%q) = %v, want ok=%v", ch, err, ok)
		}
	}
}

func TestArtifactStateIsReadWhateverItsShape(t *testing.T) {
	a := &ImageArtifact{BuilderIDValue: BuilderIDTag, Ref: "r:1", Tags: []string{"r:1", "r:2"}, Generated: plugin.GeneratedData{"ID": "c"}}
	g := GeneratedOf(a)
	g["ID"] = "changed"
	if a.Generated["ID"] != "c" {
		t.Error("GeneratedOf returned the artifact's own map, not a copy")
	}
	if strings.Join(TagsOf(a), ",") != "r:1,r:2" {
		t.Errorf("TagsOf = %v", TagsOf(a))
	}
	if err := Accepts(a, "x", "images", BuilderIDImage); err == nil || !strings.Contains(err.Error(), BuilderIDTag) {
		t.Errorf("Accepts = %v", err)
	}
	if err := Accepts(a, "x", "images", BuilderIDImage, BuilderIDTag); err != nil {
		t.Errorf("Accepts = %v", err)
	}
}
