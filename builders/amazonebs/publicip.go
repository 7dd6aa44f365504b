package amazonebs

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// defaultCheckIPURL answers with the caller's public address, for
// temporary_security_group_source_public_ip.
const defaultCheckIPURL = "https://checkip.amazonaws.com"

// publicIP asks url for this machine's public IPv4 address and returns it
// as a /32 CIDR. Each failure is one line that says what to do instead.
func publicIP(ctx context.Context, url string) (string, error) {
	const hint = "set temporary_security_group_source_cidrs instead of temporary_security_group_source_public_ip"
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", fmt.Errorf("finding this machine's public IP at %s: %v (%s)", url, err, hint)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("finding this machine's public IP: %v (%s)", oneLine(err), hint)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64))
	if err != nil {
		return "", fmt.Errorf("finding this machine's public IP at %s: reading the answer: %v (%s)", url, err, hint)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("finding this machine's public IP at %s: HTTP %s (%s)", url, resp.Status, hint)
	}
	text := strings.TrimSpace(string(b))
	ip := net.ParseIP(text)
	if ip == nil || ip.To4() == nil {
		if len(text) > 40 {
			text = text[:40] + "..."
		}
		return "", fmt.Errorf("finding this machine's public IP at %s: the answer %q is not an IPv4 address (%s)", url, text, hint)
	}
	return ip.String() + "/32", nil
}

func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}
