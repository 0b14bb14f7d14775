//go:build tools

// Package krew pins the krew command that installs kubectl-ferrolb from its manifest
// (deploy/krew/ferrolb.yaml) and a local archive in e2e/tests/krew.rs, offline.
package krew

import (
	_ "sigs.k8s.io/krew/cmd/krew"
)
