package awsclient

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/smithy-go"

	"github.com/imgbuild/imgbuild/internal/wait"
)

// Code returns the AWS error code of err ("InvalidInstanceID.NotFound"), or "".
func Code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// IsNotFound reports whether err says the resource does not exist.
func IsNotFound(err error) bool {
	c := Code(err)
	return strings.HasSuffix(c, ".NotFound") || strings.HasSuffix(c, ".Malformed") || c == "InvalidGroup.NotFound"
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

// retryable are the codes AWS returns while a resource created a moment ago
// is not yet visible everywhere, or while it throttles us.
func retryable(err error) bool {
	var re *retryableErr
	if errors.As(err, &re) {
		return true
	}
	c := Code(err)
	switch {
	case strings.HasSuffix(c, ".NotFound"), c == "RequestLimitExceeded", c == "Throttling",
		c == "ThrottlingException", c == "IncorrectState", c == "IncorrectInstanceState",
		c == "DependencyViolation", c == "InternalError", c == "Unavailable":
		return true
	}
	return false
}

// Retry runs fn until it succeeds, fails with an error that is not an
// eventual-consistency or throttling error, or the bound runs out. The
// backoff doubles from 500ms to 10s.
func Retry(ctx context.Context, bound time.Duration, fn func(ctx context.Context) error) error {
	deadline := time.Now().Add(bound)
	delay := 500 * time.Millisecond
	for {
		err := fn(ctx)
		if err == nil || !retryable(err) || time.Now().Add(delay).After(deadline) {
			return err
		}
		if serr := wait.Sleep(ctx, delay); serr != nil {
			return errors.Join(err, serr)
		}
		if delay *= 2; delay > 10*time.Second {
			delay = 10 * time.Second
		}
	}
}

// defaultRetry bounds the retries of one call.
const defaultRetry = 2 * time.Minute

// retryableErr marks an error a caller knows to be transient.
type retryableErr struct{ err error }

func (e *retryableErr) Error() string { return e.err.Error() }
func (e *retryableErr) Unwrap() error { return e.err }
