package amazonebs

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/imgbuild/imgbuild/internal/communicator"
)

// checkIPServer answers like checkip.amazonaws.com, with status and body.
func checkIPServer(t *testing.T, status int, body string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(status)
		w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestPublicIPLookupReturnsA32OrOneLineError(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	tests := []struct {
		name, url, want, wantErr string
	}{
		{"address with a newline", checkIPServer(t, 200, "203.0.113.7\n"), "203.0.113.7/32", ""},
		{"server error", checkIPServer(t, 500, "oops"), "", "HTTP 500"},
		{"not an address", checkIPServer(t, 200, "<html>\nhello\n</html>"), "", "is not an IPv4 address"},
		{"IPv6 address", checkIPServer(t, 200, "2001:db8::1"), "", "is not an IPv4 address"},
		{"unreachable", closed.URL, "", "connection refused"},
	}
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.name, " ", "_"), func(t *testing.T) {
			got, err := publicIP(context.Background(), tt.url)
			if tt.wantErr == "" {
				if err != nil || got != tt.want {
					t.Fatalf("publicIP = %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "\n") ||
				!strings.Contains(err.Error(), "temporary_security_group_source_cidrs") {
				t.Fatalf("publicIP error = %v, want one line with %q and the alternative option", err, tt.wantErr)
			}
		})
	}
}

// temporary_security_group_source_public_ip opens SSH to the address the
// lookup returns, and a failed lookup stops the build before anything is
// created.
func TestSourcePublicIPOpensSSHToTheLookedUpAddress(t *testing.T) {
	motoEnv(t)
	c := baseConfig(t, "pubip")
	c.Config = communicator.Config{SSHUsername: "nobody", SSHHost: "127.0.0.1", TemporaryKeyPairType: "ed25519"}
	c.TemporarySecurityGroupSourcePublicIP = true
	b := prepared(t, c)
	b.checkIPURL = checkIPServer(t, 200, "203.0.113.7\n")
	env, _ := newEnv(t, "pubip")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var ranges []string
	env.Steps.BeforeStep = func(ctx context.Context, step string) error {
		if step != "instance" {
			return nil
		}
		out, err := ec2For(t, "us-east-1").DescribeSecurityGroups(ctx, &ec2.DescribeSecurityGroupsInput{
			Filters: []types.Filter{{Name: aws.String("tag:" + TagRun), Values: []string{env.RunUUID}}}})
		if err != nil {
			t.Error(err)
		}
		for _, g := range out.SecurityGroups {
			for _, p := range g.IpPermissions {
				for _, r := range p.IpRanges {
					ranges = append(ranges, aws.ToString(r.CidrIp))
				}
			}
		}
		cancel() // enough: the group is what is under test
		return context.Cause(ctx)
	}
	if _, err := b.Run(ctx, env); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want the test's cancellation", err)
	}
	if len(ranges) != 1 || ranges[0] != "203.0.113.7/32" {
		t.Errorf("the temporary security group lets in %v, want [203.0.113.7/32]", ranges)
	}
	assertNoLeftovers(t, env.RunUUID, "us-east-1")

	b = prepared(t, c)
	b.checkIPURL = checkIPServer(t, 503, "")
	env, ui := newEnv(t, "pubip")
	_, err := b.Run(context.Background(), env)
	if err == nil || !strings.Contains(err.Error(), "finding this machine's public IP") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("Run = %v, want a one-line public IP error", err)
	}
	if strings.Contains(ui.String(), "Creating") {
		t.Errorf("the build created something before failing:\n%s", ui.String())
	}
	assertNoLeftovers(t, env.RunUUID, "us-east-1")
}
