package cli

import "testing"

// TestValidateGivesPackersVerdictOnTheJSONCompatCorpus checks
// ../shared/compat-json, real legacy JSON templates, in the environment its
// README describes (the same plugins as the plugin corpus).
func TestValidateGivesPackersVerdictOnTheJSONCompatCorpus(t *testing.T) {
	dir, entries := compatCorpus(t, "compat-json")
	installCompatPlugins(t)
	checkCompatVerdicts(t, dir, entries)
}
