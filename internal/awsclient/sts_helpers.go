package awsclient

import (
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
)

func secondsDuration(n int) time.Duration { return time.Duration(n) * time.Second }

func ststypesPolicy(arn string) ststypes.PolicyDescriptorType {
	return ststypes.PolicyDescriptorType{Arn: aws.String(arn)}
}

func ststypesTag(k, v string) ststypes.Tag {
	return ststypes.Tag{Key: aws.String(k), Value: aws.String(v)}
}
