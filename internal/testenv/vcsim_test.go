package testenv

import (
	"crypto/tls"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestVCSimServesTheDefaultInventoryAndStopsAtTestEnd(t *testing.T) {
	var sdk string
	t.Run("use", func(t *testing.T) {
		sdk = StartVCSim(t)
		u, err := url.Parse(sdk)
		if err != nil || u.Hostname() != "127.0.0.1" || u.User.Username() != "user" {
			t.Fatalf("URL %q is not a loopback SDK URL with the login", sdk)
		}
		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // the simulator's own certificate
		}}
		resp, err := client.Get("https://" + u.Host + "/about")
		if err != nil {
			t.Fatalf("GET /about: %v", err)
		}
		var about struct{ Methods []string }
		err = json.NewDecoder(resp.Body).Decode(&about)
		resp.Body.Close()
		if err != nil || len(about.Methods) == 0 {
			t.Fatalf("/about did not list the simulator's methods (err %v)", err)
		}

		found := false
		for _, vm := range VCSimVMs(t, sdk) {
			if vm.Path == "/DC0/vm/DC0_H0_VM0" && !vm.Template {
				found = true
			}
		}
		if !found {
			t.Errorf("the simulator does not list the VM /DC0/vm/DC0_H0_VM0: %v", VCSimVMs(t, sdk))
		}
	})
	if sdk == "" {
		return // skipped
	}
	u, _ := url.Parse(sdk)
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	if resp, err := c.Get("https://" + u.Host + "/about"); err == nil {
		resp.Body.Close()
		t.Errorf("the simulator still answers on %s after the test ended", u.Host)
	} else if !strings.Contains(err.Error(), "refused") {
		t.Logf("after the test: %v", err)
	}
}
