// Tiny stdlib-only certificate generator for the local test control plane.
module deployment-tracker/cluster/pki

go 1.26.0
