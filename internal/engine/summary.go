package engine

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/imgbuild/imgbuild/internal/ui"
)

// PrintSummary prints Packer's closing lines: the wait time, the builds
// that failed, and every artifact of the builds that succeeded (also as
// machine-readable rows), then what failed builds kept.
func PrintSummary(u *ui.Root, results []Result, elapsed time.Duration) {
	u.Message("")
	u.Say("Wait completed after " + FormatDuration(elapsed))
	u.Message("")
	var failed []Result
	for _, r := range results {
		if r.Err != nil {
			failed = append(failed, r)
		}
	}
	if len(failed) > 0 {
		u.Error("==> Some builds didn't complete successfully and had errors:")
		for _, r := range failed {
			u.Error(fmt.Sprintf("--> %s: %s", r.Name, r.Err))
		}
		u.Message("")
	}
	var succeeded, kept []Result
	for _, r := range results {
		switch {
		case len(r.Artifacts) == 0:
		case r.Err == nil:
			succeeded = append(succeeded, r)
		default:
			kept = append(kept, r) // a failed build's artifacts it was asked to keep
		}
	}
	if len(succeeded) == 0 && len(kept) == 0 {
		u.Say("Builds finished but no artifacts were created.")
		return
	}
	if len(succeeded) > 0 {
		u.Say("Builds finished. The artifacts of successful builds are:")
		listArtifacts(u, succeeded)
	}
	if len(kept) > 0 {
		u.Say("Builds that had errors kept these artifacts (keep_input_artifact):")
		listArtifacts(u, kept)
	}
}

// listArtifacts prints each build's artifacts, and their machine-readable
// rows.
func listArtifacts(u *ui.Root, results []Result) {
	for _, r := range results {
		u.Machine(r.Name, "artifact-count", strconv.Itoa(len(r.Artifacts)))
		for i, a := range r.Artifacts {
			idx := strconv.Itoa(i)
			u.Machine(r.Name, "artifact", idx, "builder-id", a.BuilderID())
			u.Machine(r.Name, "artifact", idx, "id", a.ID())
			u.Machine(r.Name, "artifact", idx, "string", a.String())
			files := a.Files()
			u.Machine(r.Name, "artifact", idx, "files-count", strconv.Itoa(len(files)))
			for j, f := range files {
				u.Machine(r.Name, "artifact", idx, "file", strconv.Itoa(j), f)
			}
			u.Machine(r.Name, "artifact", idx, "end")
			u.Message(fmt.Sprintf("--> %s: %s", r.Name, a.String()))
		}
	}
}

// FormatDuration writes d as Packer does: "2 minutes 5 seconds 103 milliseconds".
func FormatDuration(d time.Duration) string {
	d = d.Round(time.Millisecond)
	if d < time.Millisecond {
		return "0 milliseconds"
	}
	units := []struct {
		size time.Duration
		name string
	}{{time.Hour, "hour"}, {time.Minute, "minute"}, {time.Second, "second"}, {time.Millisecond, "millisecond"}}
	var parts []string
	for _, un := range units {
		n := d / un.size
		d -= n * un.size
		if n == 0 {
			continue
		}
		name := un.name
		if n != 1 {
			name += "s"
		}
		parts = append(parts, fmt.Sprintf("%d %s", n, name))
	}
	return strings.Join(parts, " ")
}
