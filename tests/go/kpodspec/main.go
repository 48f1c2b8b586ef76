// kpodspec strictly decodes Knative Service YAML documents (serving.knative.dev/v1, as Knative and
// Cloud Run take them) into Kubernetes' own Go types (k8s.io/api core/v1 PodSpec, ObjectMeta,
// resource quantities), the types Knative's RevisionSpec embeds, and exits non-zero with the
// errors: an unknown or misspelt field, a wrong type, a quantity Kubernetes cannot parse, a
// container without an image. Knative's own Validate cannot be built here (its dependencies
// knative.dev/pkg and knative.dev/networking are not served), so this checks the Kubernetes
// part of the object with Kubernetes' code, and the Knative part with the few rules below.
//
// Usage: kpodspec FILE...
package main

import (
	"fmt"
	"os"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// revisionSpec has the shape of Knative's serving/v1 RevisionSpec: a PodSpec plus four fields.
type revisionSpec struct {
	corev1.PodSpec              `json:",inline"`
	ContainerConcurrency        *int64 `json:"containerConcurrency,omitempty"`
	TimeoutSeconds              *int64 `json:"timeoutSeconds,omitempty"`
	ResponseStartTimeoutSeconds *int64 `json:"responseStartTimeoutSeconds,omitempty"`
	IdleTimeoutSeconds          *int64 `json:"idleTimeoutSeconds,omitempty"`
}

type trafficTarget struct {
	Tag               string `json:"tag,omitempty"`
	RevisionName      string `json:"revisionName,omitempty"`
	ConfigurationName string `json:"configurationName,omitempty"`
	LatestRevision    *bool  `json:"latestRevision,omitempty"`
	Percent           *int64 `json:"percent,omitempty"`
}

type service struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              struct {
		Template struct {
			metav1.ObjectMeta `json:"metadata,omitempty"`
			Spec              revisionSpec `json:"spec"`
		} `json:"template"`
		Traffic []trafficTarget `json:"traffic,omitempty"`
	} `json:"spec"`
}

func check(path string) []string {
	data, err := os.ReadFile(path)
	if err != nil {
		return []string{err.Error()}
	}
	var s service
	if err := yaml.UnmarshalStrict(data, &s); err != nil {
		return []string{err.Error()}
	}
	var errs []string
	if s.APIVersion != "serving.knative.dev/v1" || s.Kind != "Service" {
		errs = append(errs, fmt.Sprintf("not a serving.knative.dev/v1 Service: %s %s", s.APIVersion, s.Kind))
	}
	if s.Name == "" {
		errs = append(errs, "metadata.name is empty")
	}
	spec := s.Spec.Template.Spec
	if len(spec.Containers) != 1 {
		errs = append(errs, fmt.Sprintf("%d containers (one serving container expected)", len(spec.Containers)))
	}
	for i, c := range spec.Containers {
		if c.Image == "" {
			errs = append(errs, fmt.Sprintf("containers[%d].image is empty", i))
		}
		if len(c.Ports) > 1 {
			errs = append(errs, fmt.Sprintf("containers[%d] has more than one port", i))
		}
		for name, q := range c.Resources.Limits {
			if req, ok := c.Resources.Requests[name]; ok && req.Cmp(q) > 0 {
				errs = append(errs, fmt.Sprintf("containers[%d] requests more %s than its limit", i, name))
			}
		}
		if p := c.ReadinessProbe; p != nil && p.HTTPGet == nil && p.TCPSocket == nil && p.GRPC == nil && p.Exec == nil {
			errs = append(errs, fmt.Sprintf("containers[%d].readinessProbe has no handler", i))
		}
	}
	if cc := spec.ContainerConcurrency; cc != nil && (*cc < 0 || *cc > 1000) {
		errs = append(errs, fmt.Sprintf("containerConcurrency %d is outside 0..1000", *cc))
	}
	if t := spec.TimeoutSeconds; t != nil && *t < 0 {
		errs = append(errs, "timeoutSeconds is negative")
	}
	ann := s.Spec.Template.Annotations
	bounds := map[string]int64{}
	for _, k := range []string{"autoscaling.knative.dev/min-scale", "autoscaling.knative.dev/max-scale",
		"autoscaling.knative.dev/minScale", "autoscaling.knative.dev/maxScale"} {
		if v, ok := ann[k]; ok {
			n, err := strconv.ParseInt(v, 10, 32)
			if err != nil || n < 0 {
				errs = append(errs, fmt.Sprintf("annotation %s=%q is not a whole number >= 0", k, v))
			}
			bounds[k] = n
		}
	}
	for _, pair := range [][2]string{{"autoscaling.knative.dev/min-scale", "autoscaling.knative.dev/max-scale"},
		{"autoscaling.knative.dev/minScale", "autoscaling.knative.dev/maxScale"}} {
		lo, okLo := bounds[pair[0]]
		hi, okHi := bounds[pair[1]]
		if okLo && okHi && hi > 0 && lo > hi {
			errs = append(errs, fmt.Sprintf("%s %d is above %s %d", pair[0], lo, pair[1], hi))
		}
	}
	if v, ok := ann["autoscaling.knative.dev/target-utilization-percentage"]; ok {
		n, err := strconv.ParseFloat(v, 64)
		if err != nil || n < 1 || n > 100 {
			errs = append(errs, fmt.Sprintf("target-utilization-percentage %q is not in 1..100", v))
		}
	}
	return errs
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: kpodspec FILE...")
		os.Exit(2)
	}
	failed := false
	for _, path := range os.Args[1:] {
		for _, e := range check(path) {
			fmt.Fprintf(os.Stderr, "%s: %s\n", path, e)
			failed = true
		}
	}
	if failed {
		os.Exit(1)
	}
}
