package awsclient

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/smithy-go"
)

// Code returns the AWS error code of err ("InvalidInstanceID.NotFound"), or "".
func Code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// IsNotFound reports whether err says the resource does not exist (EC2
// codes, launch templates' *.NotFoundException, and IAM's NoSuchEntity).
// An AMI that was deregistered is "no longer available": a DeregisterImage
// the SDK retried after its first answer was lost gets that answer.
func IsNotFound(err error) bool {
	c := Code(err)
	return strings.HasSuffix(c, ".NotFound") || strings.HasSuffix(c, ".NotFoundException") || strings.HasSuffix(c, ".Malformed") ||
		c == "InvalidGroup.NotFound" || c == "NoSuchEntity" || c == "InvalidAMIID.Unavailable"
}

// Explain turns the errors users meet first (bad credentials, no
// credentials at all, an unknown instance type) into one line that says
// what to do. Other errors pass through.
func Explain(err error) error {
	if err == nil {
		return nil
	}
	if isAuth(err) {
		return fmt.Errorf("AWS rejected the credentials (%s): check access_key/secret_key/token, profile, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY", Code(err))
	}
	switch c := Code(err); c {
	case "UnauthorizedOperation", "AccessDenied", "AccessDeniedException":
		return fmt.Errorf("the AWS credentials lack a permission (%s): %s", c, message(err))
	}
	if msg := err.Error(); strings.Contains(msg, "failed to retrieve credentials") || strings.Contains(msg, "failed to refresh cached credentials") ||
		strings.Contains(msg, "no EC2 IMDS role found") || strings.Contains(msg, "get credentials") {
		return errors.New("no AWS credentials found: set access_key and secret_key, profile, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
	}
	return err
}

func isAuth(err error) bool {
	switch Code(err) {
	case "AuthFailure", "InvalidClientTokenId", "SignatureDoesNotMatch", "UnrecognizedClientException", "InvalidAccessKeyId", "ExpiredToken":
		return true
	}
	return false
}

func message(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorMessage()
	}
	return err.Error()
}

// Codes EC2 answers while a resource created a moment ago is not yet
// visible everywhere (eventual consistency).
const (
	InstanceNotYetVisible = "InvalidInstanceID.NotFound"
	ImageNotYetVisible    = "InvalidAMIID.NotFound"
	SnapshotNotYetVisible = "InvalidSnapshot.NotFound"
	GroupNotYetVisible    = "InvalidGroup.NotFound"
)

// maxBackoff caps the delay between two attempts of a call.
const maxBackoff = 10 * time.Second

// RetryOn returns a per-call option: the client's retryer (the SDK's
// standard one, which retries throttling, server errors and broken
// connections) also retries the AWS error codes given — what EC2 answers
// while a resource is not yet visible, still in use or still changing
// state — for about bound, with the SDK's jittered exponential backoff
// capped at 10s. A code that means "done" to the caller (NotFound when
// deleting) must not be among them.
func RetryOn(bound time.Duration, codes ...string) func(*ec2.Options) {
	return func(o *ec2.Options) {
		r := retry.AddWithErrorCodes(o.Retryer, codes...)
		if n := attemptsWithin(bound); r.MaxAttempts() < n {
			r = retry.AddWithMaxAttempts(r, n)
		}
		o.Retryer = retry.AddWithMaxBackoffDelay(r, maxBackoff)
	}
}

// RetryWhen is RetryOn for errors a code alone cannot tell apart: the
// call is also retried, for about bound, while retryable(err) holds.
func RetryWhen(bound time.Duration, retryable func(error) bool) func(*ec2.Options) {
	return func(o *ec2.Options) {
		var r aws.Retryer = &retryIf{
			RetryerV2: retry.AddWithErrorCodes(o.Retryer).(aws.RetryerV2),
			retryable: retryable,
		}
		if n := attemptsWithin(bound); r.MaxAttempts() < n {
			r = retry.AddWithMaxAttempts(r, n)
		}
		o.Retryer = retry.AddWithMaxBackoffDelay(r, maxBackoff)
	}
}

type retryIf struct {
	aws.RetryerV2
	retryable func(error) bool
}

func (r *retryIf) IsErrorRetryable(err error) bool {
	return r.retryable(err) || r.RetryerV2.IsErrorRetryable(err)
}

// ProfileNotYetUsable reports whether EC2 refused an instance profile it
// does not see yet: IAM takes seconds to make a new one usable by EC2.
func ProfileNotYetUsable(err error) bool {
	return Code(err) == "InvalidParameterValue" && strings.Contains(message(err), "iamInstanceProfile")
}

// attemptsWithin is about how many attempts fit in bound: the jittered
// delay averages half the cap once the backoff has reached it.
func attemptsWithin(bound time.Duration) int {
	return 4 + int(bound/(maxBackoff/2))
}

// newRetryer is every client's retryer: the SDK's standard one with
// maxAttempts (max_retries; the SDK's default when 0) and no client-side
// retry quota: the quota is shared by every call of a client, and the
// eventual-consistency retries of one step (RetryOn) must not use it up
// for the others.
func newRetryer(maxAttempts int) func() aws.Retryer {
	return func() aws.Retryer {
		return retry.NewStandard(func(o *retry.StandardOptions) {
			o.RateLimiter = ratelimit.None
			if maxAttempts > 0 {
				o.MaxAttempts = maxAttempts
			}
		})
	}
}
