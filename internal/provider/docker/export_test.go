package docker

// SetRemoveAll replaces how p removes a node's folder from the host, so that tests can play a
// server that may not remove the files its nodes' jobs left.
func SetRemoveAll(p *Provider, f func(string) error) { p.removeAll = f }
