package plugin

import "io"

// Aliases so that plugin authors need not import io just for the UI.
type (
	WriteCloser = io.WriteCloser
	ReadCloser  = io.ReadCloser
)
