package file

import (
	"testing"

	"github.com/imgbuild/imgbuild/internal/testenv"
)

// TestMain removes the imgbuild binary the tests built.
func TestMain(m *testing.M) { testenv.Main(m) }
