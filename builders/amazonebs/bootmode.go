package amazonebs

import (
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// An AMI made from an instance (CreateImage) keeps the boot mode of the
// instance's source AMI; EC2 lets CreateImage force only "uefi". So
// boot_mode = "uefi" is applied at image creation, and the other values
// are checked against the source AMI before anything is created.

// checkBootMode fails when boot_mode asks for a mode the AMI cannot get
// from the resolved source.
func (s *state) checkBootMode() error {
	want := s.cfg.BootMode
	if want == "" || want == "uefi" {
		return nil
	}
	have := string(s.source.BootMode)
	if have == want {
		return nil
	}
	// No boot mode on the source: x86 instance types boot legacy BIOS.
	if have == "" && want == "legacy-bios" && s.source.Architecture != types.ArchitectureValuesArm64 {
		return nil
	}
	if have == "" {
		have = "the instance type's default"
	}
	return fmt.Errorf("boot_mode %q cannot be applied: the source AMI %s boots %s, and an AMI created from an instance keeps its source's boot mode (only \"uefi\" can be forced): pick a source AMI that boots %s, or leave boot_mode unset",
		want, aws.ToString(s.source.ImageId), have, want)
}

// bootModeOverride is CreateImage's BootModeOverride for boot_mode.
func (s *state) bootModeOverride() types.BootModeOverrideValues {
	if s.cfg.BootMode == "uefi" {
		return types.BootModeOverrideValuesUefi
	}
	return ""
}
