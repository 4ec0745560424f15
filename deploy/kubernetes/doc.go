// Package kubernetes holds no code: the folder holds lb's Kubernetes
// manifests (kubectl apply -k), and the package's tests validate them.
package kubernetes
