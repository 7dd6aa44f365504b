package awsclient

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
)

// AMIFilter is the source_ami_filter block (and the amazon-ami data
// source's query).
type AMIFilter struct {
	Filters           map[string]string `hcl:"filters,optional"`
	Owners            []string          `hcl:"owners,optional"`
	MostRecent        bool              `hcl:"most_recent,optional"`
	IncludeDeprecated bool              `hcl:"include_deprecated,optional"`
}

// Empty reports whether the filter selects nothing at all.
func (f *AMIFilter) Empty() bool { return f == nil || (len(f.Filters) == 0 && len(f.Owners) == 0) }

// Prepare checks the filter offline.
func (f *AMIFilter) Prepare() error {
	if f.Empty() {
		return errors.New("an AMI filter needs filters or owners")
	}
	return nil
}

// Find returns the one image the filter selects: the newest when
// most_recent is set, else an error when there are several.
func (f *AMIFilter) Find(ctx context.Context, c *ec2.Client) (types.Image, error) {
	in := &ec2.DescribeImagesInput{Owners: f.Owners}
	if f.IncludeDeprecated {
		in.IncludeDeprecated = aws.Bool(true)
	}
	keys := make([]string, 0, len(f.Filters))
	for k := range f.Filters {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		in.Filters = append(in.Filters, types.Filter{Name: aws.String(k), Values: []string{f.Filters[k]}})
	}
	out, err := c.DescribeImages(ctx, in)
	if err != nil {
		return types.Image{}, fmt.Errorf("looking up AMIs: %w", Explain(err))
	}
	switch n := len(out.Images); {
	case n == 0:
		return types.Image{}, fmt.Errorf("no AMI matches the filter (%s): check the name pattern, owners and region", f.describe())
	case n > 1 && !f.MostRecent:
		return types.Image{}, fmt.Errorf("%d AMIs match the filter (%s): set most_recent = true or narrow the filter", n, f.describe())
	}
	imgs := out.Images
	sort.SliceStable(imgs, func(i, j int) bool {
		return aws.ToString(imgs[i].CreationDate) > aws.ToString(imgs[j].CreationDate)
	})
	return imgs[0], nil
}

func (f *AMIFilter) describe() string {
	var parts []string
	keys := make([]string, 0, len(f.Filters))
	for k := range f.Filters {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%q", k, f.Filters[k]))
	}
	if len(f.Owners) > 0 {
		parts = append(parts, "owners="+strings.Join(f.Owners, ","))
	}
	return strings.Join(parts, " ")
}

// Tags turns EC2 tags into a map.
func Tags(ts []types.Tag) map[string]string {
	m := make(map[string]string, len(ts))
	for _, t := range ts {
		m[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return m
}
