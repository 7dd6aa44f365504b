package amazonebs

import (
	"context"
	"errors"
	"sort"
	"strings"

	"github.com/imgbuild/imgbuild/internal/awsclient"
	"github.com/imgbuild/imgbuild/internal/plugin"
)

// Artifact is the AMIs a build made, one per region.
type Artifact struct {
	amis      []regionAMI
	generated plugin.GeneratedData
	access    *awsclient.AccessConfig
}

// BuilderID is Packer's id for amazon-ebs artifacts.
func (a *Artifact) BuilderID() string { return BuilderID }

// ID is "region:ami-id" per region, comma-separated and sorted, as Packer.
func (a *Artifact) ID() string {
	parts := make([]string, 0, len(a.amis))
	for _, x := range a.amis {
		parts = append(parts, x.Region+":"+x.ID)
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

// Files is empty: AMIs live in AWS.
func (a *Artifact) Files() []string { return nil }

func (a *Artifact) String() string {
	lines := make([]string, 0, len(a.amis))
	for _, x := range a.amis {
		lines = append(lines, x.Region+": "+x.ID)
	}
	return "AMIs were created:\n" + strings.Join(lines, "\n")
}

// AMIs maps each region to its AMI id.
func (a *Artifact) AMIs() map[string]string {
	m := make(map[string]string, len(a.amis))
	for _, x := range a.amis {
		m[x.Region] = x.ID
	}
	return m
}

// State answers "generated_data" and "atlas.artifact.metadata".
func (a *Artifact) State(name string) any {
	switch name {
	case "generated_data":
		return a.generated
	case "atlas.artifact.metadata":
		return a.AMIs()
	}
	return nil
}

// Destroy deregisters every AMI and deletes its snapshots.
func (a *Artifact) Destroy(ctx context.Context) error {
	var errs []error
	for _, x := range a.amis {
		cfg, err := a.access.Load(ctx, x.Region)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if _, err := awsclient.DeleteImage(ctx, a.access.EC2(cfg), x.ID, true); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
