// Package deploy holds no code: its tests check the repository's
// Dockerfile and .dockerignore, and deploy/kubernetes holds the
// Kubernetes manifests and their tests.
package deploy
