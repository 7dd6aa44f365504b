package template

// templateFunctions is where the engine gets its functions; tests may
// swap it.
import "github.com/imgbuild/imgbuild/internal/template/funcs"

var templateFunctions = funcs.Functions
