package amazonebs

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// The AMI options reach EC2 the way Packer applies them: boot_mode
// "uefi" on CreateImage (moto reports the AMI's boot mode, though its AMIs
// boot uefi anyway), imds_support by ModifyImageAttribute on every AMI
// (moto accepts it and drops it, so only the request is proved), and
// deprecate_at by EnableImageDeprecation on every AMI (moto does not
// implement it: the build fails there, clearly, and leaves nothing).
func TestAMIOptionsAreSentToEC2(t *testing.T) {
	tests := []struct {
		name    string
		retries int // max_retries; 0 for the SDK's default
		set     func(c *Config)
		wantErr string // "" for success
		check   func(t *testing.T, r *ec2Recorder, c *Config)
	}{
		{"boot_mode uefi on CreateImage, imds_support by ModifyImageAttribute on each AMI", 0, func(c *Config) {
			c.BootMode, c.IMDSSupport = "uefi", "v2.0"
		}, "", func(t *testing.T, r *ec2Recorder, c *Config) {
			// The SDK may retry a call a busy moto failed: count what was
			// asked for, not the requests.
			calls := r.params("CreateImage")
			for _, c := range calls {
				if c.Get("BootModeOverride") != "uefi" {
					t.Errorf("CreateImage call %v lacks BootModeOverride=uefi", c)
				}
			}
			if len(calls) == 0 {
				t.Error("no CreateImage call")
			}
			for _, region := range []string{"us-east-1", "us-west-2"} {
				if imgs := imagesNamed(t, region, c.AMIName); len(imgs) != 1 || imgs[0].BootMode != "uefi" {
					t.Errorf("AMIs in %s: %v, want one booting uefi", region, imgs)
				}
			}
			amis := map[string]bool{}
			for _, v := range r.params("ModifyImageAttribute") {
				if v.Get("ImdsSupport.Value") == "v2.0" {
					amis[v.Get("ImageId")] = true
				}
			}
			if len(amis) != 2 {
				t.Errorf("ModifyImageAttribute set ImdsSupport=v2.0 on %v, want two AMIs (one per region)", amis)
			}
		}},
		// moto answers 500 for what it lacks: retried once, not for seconds.
		{"deprecate_at by EnableImageDeprecation, which moto lacks", 2, func(c *Config) { c.DeprecateAt = "2030-01-02T15:04:00Z" }, "setting deprecate_at on AMI", func(t *testing.T, r *ec2Recorder, c *Config) {
			calls := r.params("EnableImageDeprecation")
			if len(calls) == 0 || calls[0].Get("DeprecateAt") != "2030-01-02T15:04:00Z" {
				t.Errorf("EnableImageDeprecation calls %v, want DeprecateAt=2030-01-02T15:04:00Z", calls)
			}
			for _, region := range []string{"us-east-1", "us-west-2"} {
				if imgs := imagesNamed(t, region, c.AMIName); len(imgs) != 0 {
					t.Errorf("the failed build left %d AMIs in %s", len(imgs), region)
				}
			}
		}},
	}
	for _, tt := range tests {
		t.Run(strings.ReplaceAll(tt.name, " ", "_"), func(t *testing.T) {
			motoEnv(t)
			rec, endpoint := recordEC2(t)
			c := baseConfig(t, "amiopts")
			c.CustomEndpointEC2 = endpoint
			// Not 1: the shared moto sometimes fails a call under load (a
			// 500, a reset), which the SDK's retries absorb as they do AWS's.
			c.MaxRetries = tt.retries
			c.AMIRegions = []string{"us-west-2"}
			tt.set(c)
			art, env, _, err := buildWithoutProvisioning(t, c, "amiopts")
			removeAMIs(t, art)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Run: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("Run = %v, want an error containing %q", err, tt.wantErr)
			}
			tt.check(t, rec, c)
			assertNoLeftovers(t, env.RunUUID, "us-east-1", "us-west-2")
		})
	}
}

// A boot_mode CreateImage cannot force fails before anything is created
// when the source AMI boots otherwise (moto's AMIs boot uefi).
func TestBootModeTheSourceCannotGiveFailsBeforeCreatingAnything(t *testing.T) {
	motoEnv(t)
	c := baseConfig(t, "bootmode")
	c.BootMode = "legacy-bios"
	b := prepared(t, c)
	env, _ := newEnv(t, "bootmode")
	_, err := b.Run(context.Background(), env)
	if err == nil || !strings.Contains(err.Error(), `boot_mode "legacy-bios" cannot be applied: the source AMI`) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("Run = %v, want a one-line boot_mode error", err)
	}
	assertNoLeftovers(t, env.RunUUID, "us-east-1")
}

func TestBootModeCheckAgainstTheSourceAMI(t *testing.T) {
	tests := []struct {
		want   string
		source types.Image
		ok     bool
	}{
		{"", types.Image{BootMode: "uefi"}, true},
		{"uefi", types.Image{BootMode: "legacy-bios"}, true}, // forced by CreateImage
		{"legacy-bios", types.Image{BootMode: "legacy-bios"}, true},
		{"legacy-bios", types.Image{Architecture: types.ArchitectureValuesX8664}, true},
		{"legacy-bios", types.Image{Architecture: types.ArchitectureValuesArm64}, false},
		{"legacy-bios", types.Image{BootMode: "uefi"}, false},
		{"uefi-preferred", types.Image{BootMode: "uefi-preferred"}, true},
		{"uefi-preferred", types.Image{BootMode: "uefi"}, false},
	}
	for _, tt := range tests {
		s := &state{cfg: &Config{AMIConfig: AMIConfig{BootMode: tt.want}}, source: tt.source}
		if err := s.checkBootMode(); (err == nil) != tt.ok {
			t.Errorf("boot_mode %q on a source booting %q (%s): err = %v, want ok: %v", tt.want, tt.source.BootMode, tt.source.Architecture, err, tt.ok)
		}
	}
}
