package dockerengine

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// message is one line of the JSON stream the engine sends while it pulls,
// pushes or imports an image.
type message struct {
	Status      string `json:"status"`
	ID          string `json:"id"`
	Progress    string `json:"progress"`
	Stream      string `json:"stream"`
	Error       string `json:"error"`
	ErrorDetail *struct {
		Message string `json:"message"`
	} `json:"errorDetail"`
	Aux json.RawMessage `json:"aux"`
}

// ReadStream consumes an engine progress stream until its end. The engine
// reports failures inside the stream (with status 200), so this is where a
// failed pull or push is detected. say, when set, receives the status
// lines worth showing (per-layer progress ticks are left out). It returns
// the last "status" or "stream" text (an import's image id).
func ReadStream(r io.Reader, say func(string)) (last string, err error) {
	dec := json.NewDecoder(r)
	for {
		var m message
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return last, nil
			}
			return last, fmt.Errorf("reading the engine's response: %w", err)
		}
		if m.ErrorDetail != nil && m.ErrorDetail.Message != "" {
			return last, errors.New(m.ErrorDetail.Message)
		}
		if m.Error != "" {
			return last, errors.New(m.Error)
		}
		text := strings.TrimSpace(m.Status + m.Stream)
		if text == "" {
			continue
		}
		last = text
		if say != nil && m.Progress == "" && !isLayerTick(m.Status) {
			if m.ID != "" {
				text = m.ID + ": " + text
			}
			say(text)
		}
	}
}

// isLayerTick tells the per-layer chatter apart from the lines that say
// something (Pulling from, Digest, Status, pushed tags).
func isLayerTick(status string) bool {
	switch status {
	case "Waiting", "Preparing", "Downloading", "Extracting", "Verifying Checksum",
		"Download complete", "Pull complete", "Pushing", "Pushed", "Layer already exists",
		"Already exists", "Retrying":
		return true
	}
	return false
}
