package ui

import (
	"bufio"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
)

// asker reads answers from one input for every build: a single reader
// goroutine (started on the first question) feeds lines to whichever build
// asked, one question at a time.
type asker struct {
	in    io.Reader
	once  sync.Once
	lines chan string
	turn  sync.Mutex
}

func newAsker(in io.Reader) *asker { return &asker{in: in, lines: make(chan string)} }

func (a *asker) start() {
	go func() {
		defer close(a.lines)
		sc := bufio.NewScanner(a.in)
		for sc.Scan() {
			a.lines <- strings.TrimSpace(sc.Text())
		}
	}()
}

// ask shows the prompt and returns the next line of input.
func (a *asker) ask(ctx context.Context, prompt func()) (string, error) {
	if a.in == nil {
		return "", errors.New("a question needs an answer but there is no input (stdin)")
	}
	a.turn.Lock()
	defer a.turn.Unlock()
	a.once.Do(a.start)
	prompt()
	select {
	case <-ctx.Done():
		return "", context.Cause(ctx)
	case line, ok := <-a.lines:
		if !ok {
			return "", errors.New("a question needs an answer but stdin was closed")
		}
		return line, nil
	}
}
