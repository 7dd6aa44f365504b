// Package amazonami is the amazon-ami data source (data.amazon-ami.NAME.id
// and friends: the AMI a filter selects) and the aws_secretsmanager and
// aws_secretsmanager_raw functions, all on aws-sdk-go-v2 with the standard
// credential chain and AWS_ENDPOINT_URL.
package amazonami
