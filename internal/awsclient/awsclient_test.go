package awsclient

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/smithy-go"
)

func apiErr(code string) error { return &smithy.GenericAPIError{Code: code, Message: "m"} }

func TestExplainTurnsCredentialErrorsIntoOneActionableLine(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{apiErr("AuthFailure"), "AWS rejected the credentials (AuthFailure)"},
		{apiErr("InvalidClientTokenId"), "check access_key/secret_key"},
		{apiErr("UnauthorizedOperation"), "lack a permission"},
		{errors.New("get identity: get credentials: failed to refresh cached credentials, no EC2 IMDS role found"), "no AWS credentials found"},
		{apiErr("InvalidAMIID.NotFound"), "InvalidAMIID.NotFound"},
	}
	for _, tt := range tests {
		got := Explain(tt.err)
		if !strings.Contains(got.Error(), tt.want) || strings.Contains(got.Error(), "\n") {
			t.Errorf("Explain(%v) = %q, want one line containing %q", tt.err, got, tt.want)
		}
	}
}

func TestRetryRetriesEventualConsistencyErrorsOnly(t *testing.T) {
	tests := []struct {
		name      string
		errs      []error
		wantCalls int
		wantErr   bool
	}{
		{"not found then success", []error{apiErr("InvalidInstanceID.NotFound"), nil}, 2, false},
		{"throttled then success", []error{apiErr("RequestLimitExceeded"), nil}, 2, false},
		{"permanent error stops at once", []error{apiErr("InvalidParameterValue"), nil}, 1, true},
	}
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.name, " ", "_"), func(t *testing.T) {
			calls := 0
			err := Retry(context.Background(), time.Minute, func(context.Context) error {
				e := tt.errs[calls]
				calls++
				return e
			})
			if calls != tt.wantCalls || (err != nil) != tt.wantErr {
				t.Fatalf("calls=%d err=%v, want calls=%d wantErr=%v", calls, err, tt.wantCalls, tt.wantErr)
			}
		})
	}
}

func TestRetryStopsWhenTheBoundRunsOut(t *testing.T) {
	start := time.Now()
	err := Retry(context.Background(), 1200*time.Millisecond, func(context.Context) error { return apiErr("InvalidGroup.NotFound") })
	if err == nil || time.Since(start) > 3*time.Second {
		t.Fatalf("Retry = %v after %s, want the error within the bound", err, time.Since(start))
	}
}

func TestAccessConfigPrepareAndWaitParams(t *testing.T) {
	if err := (&AccessConfig{AccessKey: "AKIA"}).Prepare(); err == nil {
		t.Error("access_key without secret_key was accepted")
	}
	if err := (&AccessConfig{AccessKey: "AKIA", SecretKey: "s"}).Prepare(); err != nil {
		t.Errorf("a key pair was refused: %v", err)
	}
	t.Setenv("AWS_POLL_DELAY_SECONDS", "")
	t.Setenv("AWS_MAX_ATTEMPTS", "")
	c := &AccessConfig{Polling: &PollingConfig{DelaySeconds: 3, MaxAttempts: 10}}
	if d, max := c.WaitParams(time.Hour); d != 3*time.Second || max != 30*time.Second {
		t.Errorf("WaitParams = %s, %s; want 3s, 30s", d, max)
	}
	if _, max := (&AccessConfig{}).WaitParams(time.Hour); max != time.Hour {
		t.Errorf("default bound = %s, want 1h", max)
	}
}

func TestResolvedRegionFallsBackToTheEnvironment(t *testing.T) {
	t.Setenv("AWS_REGION", "")
	t.Setenv("AWS_DEFAULT_REGION", "eu-west-3")
	if r := (&AccessConfig{}).ResolvedRegion(); r != "eu-west-3" {
		t.Errorf("ResolvedRegion = %q", r)
	}
	if r := (&AccessConfig{Region: "us-east-2"}).ResolvedRegion(); r != "us-east-2" {
		t.Errorf("ResolvedRegion = %q", r)
	}
}
