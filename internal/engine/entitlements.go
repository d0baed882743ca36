package engine

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/manyarch/manyarch/internal/dockerfile"
	"github.com/manyarch/manyarch/internal/plan"
)

// EntitlementSecurityInsecure lets RUN --security=insecure run its step
// privileged (buildx build --allow security.insecure).
const EntitlementSecurityInsecure = "security.insecure"

// ErrNotAllowed is wrapped by the error of a step that needs an
// entitlement (--allow) the build does not grant.
var ErrNotAllowed = errors.New("entitlement not granted")

// securityInsecure is RunStep.Security of RUN --security=insecure.
const securityInsecure = "insecure"

// entitlements are the --allow values manyarch knows.
var entitlements = []string{EntitlementSecurityInsecure}

// CheckAllow refuses --allow values manyarch does not know.
func CheckAllow(allow []string) error {
	for _, a := range allow {
		if !slices.Contains(entitlements, a) {
			return fmt.Errorf("--allow %s: unknown entitlement: want %s", a, strings.Join(entitlements, ", "))
		}
	}
	return nil
}

// checkEntitlements fails a plan whose RUN steps need an entitlement the
// request does not grant, naming the first such step's Dockerfile line.
func checkEntitlements(p *plan.Plan, allow []string) error {
	insecure := slices.Contains(allow, EntitlementSecurityInsecure)
	for _, s := range p.Stages {
		for _, step := range s.Steps {
			if step.Kind != plan.StepRun || step.Run == nil || step.Run.Security != securityInsecure || insecure {
				continue
			}
			return &dockerfile.Error{Location: step.Location, Err: fmt.Errorf(
				"%w: RUN --security=insecure needs the %s entitlement: pass --allow %s to manyarch build if you trust this Dockerfile (the step then runs with every capability, no seccomp filter and an unmasked /proc)",
				ErrNotAllowed, EntitlementSecurityInsecure, EntitlementSecurityInsecure)}
		}
	}
	return nil
}
