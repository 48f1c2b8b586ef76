//go:build tools

// Pins kubeconform (github.com/yannh/kubeconform), which the deploy tests build from this module
// with `go build -o DIR/kubeconform github.com/yannh/kubeconform/cmd/kubeconform`.
package tools

import _ "github.com/yannh/kubeconform/cmd/kubeconform"
