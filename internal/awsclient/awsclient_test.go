package awsclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
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

// ec2Answering serves the EC2 query API: the first len(codes) calls of
// any action fail with those error codes (HTTP 400, as EC2 sends them;
// "Code: message" gives the message too), later ones succeed. It counts
// the calls.
func ec2Answering(t *testing.T, codes ...string) (*ec2.Client, *atomic.Int32) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(calls.Add(1))
		w.Header().Set("Content-Type", "text/xml")
		if n <= len(codes) {
			w.WriteHeader(http.StatusBadRequest)
			code, msg, ok := strings.Cut(codes[n-1], ": ")
			if !ok {
				msg = "m"
			}
			fmt.Fprintf(w, `<Response><Errors><Error><Code>%s</Code><Message>%s</Message></Error></Errors><RequestID>r</RequestID></Response>`, code, msg)
			return
		}
		fmt.Fprint(w, `<TerminateInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId><instancesSet/></TerminateInstancesResponse>`)
	}))
	t.Cleanup(srv.Close)
	c := ec2.New(ec2.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(srv.URL),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		Retryer:     newRetryer(0)(),
	})
	return c, &calls
}

func TestRetryOnRetriesTheGivenCodesAndTheSDKsTransientErrorsOnly(t *testing.T) {
	tests := []struct {
		name      string
		errs      []string
		wantCalls int32
		wantErr   bool
	}{
		{"not yet visible then success", []string{InstanceNotYetVisible, InstanceNotYetVisible}, 3, false},
		{"throttled then success", []string{"RequestLimitExceeded"}, 2, false},
		{"another not found stops at once", []string{"InvalidGroup.NotFound"}, 1, true},
		{"permanent error stops at once", []string{"InvalidParameterValue"}, 1, true},
	}
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.name, " ", "_"), func(t *testing.T) {
			c, calls := ec2Answering(t, tt.errs...)
			_, err := c.TerminateInstances(context.Background(), &ec2.TerminateInstancesInput{InstanceIds: []string{"i-1"}},
				RetryOn(time.Minute, InstanceNotYetVisible))
			if calls.Load() != tt.wantCalls || (err != nil) != tt.wantErr {
				t.Fatalf("calls=%d err=%v, want calls=%d wantErr=%v", calls.Load(), err, tt.wantCalls, tt.wantErr)
			}
			if tt.wantErr && Code(err) != tt.errs[0] {
				t.Errorf("error code %q, want %q", Code(err), tt.errs[0])
			}
		})
	}
	// Without RetryOn a not-yet-visible id is final.
	c, calls := ec2Answering(t, InstanceNotYetVisible)
	if _, err := c.TerminateInstances(context.Background(), &ec2.TerminateInstancesInput{InstanceIds: []string{"i-1"}}); err == nil || calls.Load() != 1 {
		t.Errorf("without RetryOn: calls=%d err=%v, want one call and the error", calls.Load(), err)
	}
}

// A launch EC2 refuses because a new instance profile is not visible to
// it yet is retried; other invalid parameters are final at once.
func TestRetryWhenRetriesAProfileEC2DoesNotSeeYetOnly(t *testing.T) {
	notYet := "InvalidParameterValue: Value (packer-1) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name"
	c, calls := ec2Answering(t, notYet, notYet)
	_, err := c.TerminateInstances(context.Background(), &ec2.TerminateInstancesInput{InstanceIds: []string{"i-1"}},
		RetryWhen(time.Minute, ProfileNotYetUsable))
	if err != nil || calls.Load() != 3 {
		t.Errorf("profile not yet usable twice: calls=%d err=%v, want 3 calls and success", calls.Load(), err)
	}
	c, calls = ec2Answering(t, "InvalidParameterValue: Value (x9.huge) for parameter instanceType is invalid")
	_, err = c.TerminateInstances(context.Background(), &ec2.TerminateInstancesInput{InstanceIds: []string{"i-1"}},
		RetryWhen(time.Minute, ProfileNotYetUsable))
	if err == nil || calls.Load() != 1 {
		t.Errorf("another invalid parameter: calls=%d err=%v, want one call and the error", calls.Load(), err)
	}
	c, calls = ec2Answering(t, "RequestLimitExceeded")
	if _, err = c.TerminateInstances(context.Background(), &ec2.TerminateInstancesInput{InstanceIds: []string{"i-1"}},
		RetryWhen(time.Minute, ProfileNotYetUsable)); err != nil || calls.Load() != 2 {
		t.Errorf("throttled: calls=%d err=%v, want the SDK's own retry kept", calls.Load(), err)
	}
}

func TestRetryOnBoundsAttemptsByTimeAndKeepsALargerMaxRetries(t *testing.T) {
	attempts := func(maxRetries int, bound time.Duration) int {
		o := ec2.Options{Retryer: newRetryer(maxRetries)()}
		RetryOn(bound, InstanceNotYetVisible)(&o)
		return o.Retryer.MaxAttempts()
	}
	if a, b := attempts(0, time.Minute), attempts(0, 3*time.Minute); a < 8 || b <= a || b > 50 {
		t.Errorf("attempts for 1 and 3 minutes: %d, %d; want a bound that grows with the time, 8..50", a, b)
	}
	if got := attempts(100, time.Minute); got != 100 {
		t.Errorf("max_retries 100 became %d attempts", got)
	}
	if got := newRetryer(0)().MaxAttempts(); got != 3 {
		t.Errorf("without RetryOn the SDK's default attempts apply: got %d, want 3", got)
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
