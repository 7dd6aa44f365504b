// Package amazonebs is the amazon-ebs builder: it bakes an AMI from a
// source AMI with Packer's options and meanings, on aws-sdk-go-v2.
//
// Flow (one step each, see Builder.Run): resolve (credentials, region,
// source AMI, instance type, AMI name, network filters: every mistake
// caught before anything is created) -> temporary key pair -> temporary
// security group -> run instance -> wait running -> SSH and provisioners ->
// stop -> create image and wait -> tag -> encrypt/copy to ami_regions ->
// share -> finish. Every resource is tagged with the run's UUID and written
// to the resource ledger (internal/ledger) before the build relies on it;
// each step returns its cleanup, which the step runner calls on failure,
// timeout and Ctrl-C. `imgbuild cleanup` removes what a killed run left.
//
// A create the SDK retried after a lost answer does not leak either:
// RunInstances and CopyImage carry a ClientToken stable within the build,
// and after each create (instance, image, copy) the build removes any other
// instance or AMI of this build it finds (duplicates.go). Builds of one run
// build at once: each tags what it creates with its own id (TagBuildID) and
// never takes another build's resources for its own.
package amazonebs
