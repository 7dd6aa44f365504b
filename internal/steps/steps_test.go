package steps

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

type state struct{ log []string }

func step(name string, fail bool) Step[state] {
	return Step[state]{Name: name, Run: func(ctx context.Context, s *state) (Cleanup, error) {
		s.log = append(s.log, "run "+name)
		cleanup := func(ctx context.Context) error {
			s.log = append(s.log, "cleanup "+name)
			return nil
		}
		if fail {
			return cleanup, errors.New("boom")
		}
		return cleanup, nil
	}}
}

func TestCleanupsRunInReverseIncludingTheFailedStep(t *testing.T) {
	var s state
	err := Run(context.Background(), &s, Options{}, step("a", false), step("b", true), step("c", false))
	if err == nil || !strings.Contains(err.Error(), "b: boom") {
		t.Fatalf("err = %v, want b: boom", err)
	}
	want := "run a,run b,cleanup b,cleanup a"
	if got := strings.Join(s.log, ","); got != want {
		t.Fatalf("log = %s, want %s", got, want)
	}
}

func TestCleanupGetsLiveContextAfterCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var cleanupCtxErr error = errors.New("cleanup not run")
	var s state
	err := Run(ctx, &s, Options{CleanupTimeout: time.Second},
		Step[state]{Name: "make", Run: func(ctx context.Context, s *state) (Cleanup, error) {
			return func(ctx context.Context) error { cleanupCtxErr = ctx.Err(); return nil }, nil
		}},
		Step[state]{Name: "wait", Run: func(ctx context.Context, s *state) (Cleanup, error) {
			cancel()
			<-ctx.Done()
			return nil, ctx.Err()
		}},
	)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if cleanupCtxErr != nil {
		t.Fatalf("cleanup context was dead: %v", cleanupCtxErr)
	}
}

func TestKeepOnFailureSkipsCleanups(t *testing.T) {
	var s state
	err := Run(context.Background(), &s, Options{KeepOnFailure: func(error) bool { return true }},
		step("a", false), step("b", true))
	if !errors.Is(err, ErrKept) {
		t.Fatalf("err = %v, want ErrKept", err)
	}
	if got := strings.Join(s.log, ","); got != "run a,run b" {
		t.Fatalf("cleanups ran: %s", got)
	}
}

func TestCleanupErrorsAreJoined(t *testing.T) {
	var s state
	err := Run(context.Background(), &s, Options{}, Step[state]{Name: "x", Run: func(ctx context.Context, s *state) (Cleanup, error) {
		return func(context.Context) error { return errors.New("leak") }, nil
	}})
	if err == nil || !strings.Contains(err.Error(), "cleanup of x: leak") {
		t.Fatalf("err = %v", err)
	}
}

func TestBeforeStepCanStopTheBuild(t *testing.T) {
	var s state
	stop := errors.New("user quit")
	err := Run(context.Background(), &s, Options{BeforeStep: func(ctx context.Context, name string) error {
		if name == "b" {
			return stop
		}
		return nil
	}}, step("a", false), step("b", false))
	if !errors.Is(err, stop) || strings.Join(s.log, ",") != "run a,cleanup a" {
		t.Fatalf("err = %v log = %v", err, s.log)
	}
}

func TestRetryRunsTheFailedStepAgainAfterUndoingIt(t *testing.T) {
	var s state
	attempts := 0
	flaky := Step[state]{Name: "flaky", Run: func(ctx context.Context, s *state) (Cleanup, error) {
		attempts++
		s.log = append(s.log, "run flaky")
		undo := func(context.Context) error { s.log = append(s.log, "cleanup flaky"); return nil }
		if attempts < 3 {
			return undo, errors.New("not yet")
		}
		return undo, nil
	}}
	asked := 0
	err := Run(context.Background(), &s, Options{Retry: func(step string, err error) bool { asked++; return true }},
		step("a", false), flaky)
	if err != nil || asked != 2 {
		t.Fatalf("err = %v, asked %d times; want success after 2 retries", err, asked)
	}
	want := "run a,run flaky,cleanup flaky,run flaky,cleanup flaky,run flaky,cleanup flaky,cleanup a"
	if got := strings.Join(s.log, ","); got != want {
		t.Fatalf("log = %s\nwant  %s", got, want)
	}
}

func TestRetryIsNotOfferedForACancelledBuild(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var s state
	err := Run(ctx, &s, Options{Retry: func(string, error) bool { t.Error("Retry asked after cancel"); return true }},
		Step[state]{Name: "wait", Run: func(ctx context.Context, s *state) (Cleanup, error) {
			cancel()
			return nil, ctx.Err()
		}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}
