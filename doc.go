// Package trainyard holds the domain vocabulary of the trainyard control plane: compute targets
// of every kind (managed clusters and instances, attached machines and services with their
// attach rules), scale settings, VM sizes, nodes, jobs, their states and legal transitions, the
// naming rules, the Secret type that never prints its value, and the Error type with its Code.
//
// It imports the standard library only; adapters (store, API, providers, drivers) import it,
// never the other way round.
package trainyard
