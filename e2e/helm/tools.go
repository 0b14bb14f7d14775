//go:build tools

// Package helm pins the helm v3 command the chart tests and `cargo xtask lab install --helm` run.
package helm

import (
	_ "helm.sh/helm/v3/cmd/helm"
)
