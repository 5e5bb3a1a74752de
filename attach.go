package trainyard

import (
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"unicode"
)

// AttachConfig says where an attached target is and how trainyard reaches it (SPEC §1.4–§1.8).
// Which fields a type takes, and its ways to be addressed, are in AttachRules. Keys in
// messages are those of the compute YAML.
type AttachConfig struct {
	ResourceID     string // /subscriptions/{sub}/resourceGroups/{rg}/providers/{namespace}/{type}/{name}
	SubscriptionID string
	ResourceGroup  string
	ResourceName   string // the VM, cluster, account or workspace name: key ResourceNameKey(type)
	Address        string // host name or IP address, reached over SSH
	SSHPort        int    // 1–65535; DefaultSSHPort when not given

	Username   string // the account trainyard logs in as
	Password   Secret
	PrivateKey Secret // PEM text, read by the client from the key file
	Passphrase Secret // of an encrypted PrivateKey

	AccessToken   Secret // databricks: personal access token; slurm: slurmrestd JWT
	Namespace     string // kubernetes: where jobs run
	Kubeconfig    Secret // kubernetes: the cluster, user and credentials, read from the kubeconfig file
	SlurmrestdURL string // slurm: http(s)://host:port of slurmrestd
}

// DefaultSSHPort is the port of an attached machine when none is given.
const DefaultSSHPort = 22

// DefaultNamespace is the Kubernetes namespace of an attached cluster when none is given.
const DefaultNamespace = "default"

// Attach modes: the ways to say where an attached target is.
const (
	ModeResourceID = "resource_id"
	ModeTriple     = "resource_group" // with the name key, and subscription_id
	ModeAddress    = "address"
	ModeKubeconfig = "kubeconfig"
	ModeSlurmREST  = "slurmrestd_url"
)

// AttachRule is what one attached type takes.
type AttachRule struct {
	Modes []string // the addressing modes it accepts; exactly one must be used
	// Providers are the "{namespace}/{type}" its resource_id may name.
	Providers []string
	NameKey   string // key of ResourceName in the triple mode: vm_name, cluster_name, …
	// SubscriptionRequired says the triple mode needs subscription_id (the SDK has no
	// workspace subscription to fill in for these types).
	SubscriptionRequired bool
	SSH                  bool // it is reached over SSH with an account (in address mode for slurm)
	AccessToken          bool // access_token is required (databricks; slurm in slurmrestd mode)
}

// AttachRules are the rules of each attached type (SPEC §1.4–§1.8). Slurm is not in the
// reference system; its shape is ours (also in `trainyard compute attach --help`): either
// `address` plus `ssh_settings` (admin_username; admin_password or ssh_private_key_file;
// ssh_port, default 22), for sbatch over SSH on a login node, or `slurmrestd_url`
// (http(s)://host:port) plus `access_token` (a JWT from `scontrol token`), for the REST API.
var AttachRules = map[ComputeType]AttachRule{
	TypeVirtualMachine: {Modes: []string{ModeResourceID, ModeTriple, ModeAddress}, Providers: []string{"Microsoft.Compute/virtualMachines"},
		NameKey: "vm_name", SubscriptionRequired: true, SSH: true},
	TypeHDInsight: {Modes: []string{ModeResourceID, ModeTriple, ModeAddress}, Providers: []string{"Microsoft.HDInsight/clusters"},
		NameKey: "cluster_name", SubscriptionRequired: true, SSH: true},
	TypeBatch: {Modes: []string{ModeResourceID, ModeTriple}, Providers: []string{"Microsoft.Batch/batchAccounts"},
		NameKey: "account_name"},
	TypeDatabricks: {Modes: []string{ModeResourceID, ModeTriple}, Providers: []string{"Microsoft.Databricks/workspaces"},
		NameKey: "workspace_name", AccessToken: true},
	TypeDataLakeAnalytics: {Modes: []string{ModeResourceID, ModeTriple}, Providers: []string{"Microsoft.DataLakeAnalytics/accounts"},
		NameKey: "account_name"},
	TypeKubernetes: {Modes: []string{ModeResourceID, ModeKubeconfig},
		Providers: []string{"Microsoft.Kubernetes/connectedClusters", "Microsoft.ContainerService/managedClusters"}},
	TypeSlurm: {Modes: []string{ModeAddress, ModeSlurmREST}, SSH: true, AccessToken: true},
}

// ResourceNameKey is the key that names the resource of type t in the triple mode, or "".
func ResourceNameKey(t ComputeType) string { return AttachRules[t].NameKey }

// modeText describes a mode of type t for messages.
func modeText(t ComputeType, mode string) string {
	switch mode {
	case ModeTriple:
		if AttachRules[t].SubscriptionRequired {
			return "subscription_id + resource_group + " + AttachRules[t].NameKey
		}
		return "resource_group + " + AttachRules[t].NameKey + " (+ subscription_id)"
	case ModeAddress:
		return "address (+ ssh_settings)"
	}
	return mode
}

// modes lists the addressing modes a uses, in the order of rule.Modes, plus any mode it uses
// that t does not take.
func (a AttachConfig) modes() []string {
	var m []string
	if a.ResourceID != "" {
		m = append(m, ModeResourceID)
	}
	if a.SubscriptionID != "" || a.ResourceGroup != "" || a.ResourceName != "" {
		m = append(m, ModeTriple)
	}
	if a.Address != "" {
		m = append(m, ModeAddress)
	}
	if a.Kubeconfig.IsSet() {
		m = append(m, ModeKubeconfig)
	}
	if a.SlurmrestdURL != "" {
		m = append(m, ModeSlurmREST)
	}
	return m
}

// Validate applies the rules of attached type t: exactly one addressing mode, the shape of
// each field, and the credentials the mode needs (password xor private key for SSH). Its
// errors name the key, the value (never a secret's), the rule and the fix. Defaults (SSH port,
// namespace) must be filled in before.
func (a AttachConfig) Validate(t ComputeType) error {
	rule, ok := AttachRules[t]
	if !ok {
		return Errorf(Invalid, "type %s is not an attached type; attached types are: %s", t, attachedTypes())
	}
	if err := a.checkKeys(t, rule); err != nil {
		return err
	}
	modes := a.modes()
	var alts []string
	for _, m := range rule.Modes {
		alts = append(alts, modeText(t, m))
	}
	switch {
	case len(modes) == 0:
		return Errorf(Invalid, "type %s needs to know where the target is: give one of %s", t, strings.Join(alts, ", or "))
	case len(modes) > 1:
		var got []string
		for _, m := range modes {
			got = append(got, modeText(t, m))
		}
		return Errorf(Invalid, "type %s takes exactly one of %s; this request gives %s: remove all but one",
			t, strings.Join(alts, ", or "), strings.Join(got, " and "))
	}
	mode := modes[0]
	if !slices.Contains(rule.Modes, mode) {
		key := mode
		if mode == ModeTriple {
			key = strings.Join(givenOf(a, rule), " and ")
		}
		return Errorf(Invalid, "%s does not apply to type %s; give one of %s", key, t, strings.Join(alts, ", or "))
	}
	switch mode {
	case ModeResourceID:
		if err := CheckResourceID(t, a.ResourceID); err != nil {
			return err
		}
	case ModeTriple:
		if err := a.checkTriple(t, rule); err != nil {
			return err
		}
	case ModeAddress:
		if err := CheckAddress(a.Address); err != nil {
			return err
		}
	case ModeSlurmREST:
		if err := CheckSlurmrestdURL(a.SlurmrestdURL); err != nil {
			return err
		}
	}
	ssh := rule.SSH && (t != TypeSlurm || mode == ModeAddress)
	if !ssh && a.sshSet() {
		return Errorf(Invalid, "ssh_settings does not apply to type %s reached by %s; remove it (or reach it by address)", t, modeText(t, mode))
	}
	if ssh {
		if err := a.checkSSH(t); err != nil {
			return err
		}
	}
	token := rule.AccessToken && (t != TypeSlurm || mode == ModeSlurmREST)
	switch {
	case token && !a.AccessToken.IsSet():
		what := "the Databricks personal access token jobs are submitted with"
		if t == TypeSlurm {
			what = "the JWT slurmrestd accepts (scontrol token)"
		}
		return Errorf(Invalid, "access_token is required for type %s: %s (--access-token)", t, what)
	case token && strings.ContainsFunc(a.AccessToken.Reveal(), unicode.IsSpace):
		return Errorf(Invalid, "access_token: the token (not shown) contains white space; give the token alone")
	case !token && a.AccessToken.IsSet():
		return Errorf(Invalid, "access_token does not apply to type %s reached by %s; remove it", t, modeText(t, mode))
	}
	if t == TypeKubernetes {
		if err := CheckNamespace(a.Namespace); err != nil {
			return err
		}
	}
	return nil
}

// checkKeys refuses fields that type t never takes.
func (a AttachConfig) checkKeys(t ComputeType, rule AttachRule) error {
	sshSet := a.sshSet()
	keys := []struct {
		key  string
		set  bool
		ok   bool
		want string // what takes it, for the message
	}{
		{"ssh_settings", sshSet, rule.SSH, "virtualmachine, hdinsight and slurm"},
		{"access_token", a.AccessToken.IsSet(), rule.AccessToken, "databricks and slurm"},
		{"namespace", a.Namespace != "", t == TypeKubernetes, "kubernetes"},
	}
	for _, k := range keys {
		if k.set && !k.ok {
			return Errorf(Invalid, "%s does not apply to type %s (only %s take it); remove it", k.key, t, k.want)
		}
	}
	return nil
}

func (a AttachConfig) sshSet() bool {
	return a.Username != "" || a.Password.IsSet() || a.PrivateKey.IsSet() || a.Passphrase.IsSet() || a.SSHPort != 0
}

// checkTriple checks the subscription_id + resource_group + name form.
func (a AttachConfig) checkTriple(t ComputeType, rule AttachRule) error {
	need := []struct{ key, val string }{{"resource_group", a.ResourceGroup}, {rule.NameKey, a.ResourceName}}
	if rule.SubscriptionRequired {
		need = append([]struct{ key, val string }{{"subscription_id", a.SubscriptionID}}, need...)
	}
	for _, n := range need {
		if n.val == "" {
			return Errorf(Invalid, "%s is required when %s is given: type %s takes %s together, or resource_id alone",
				n.key, strings.Join(givenOf(a, rule), " and "), t, modeText(t, ModeTriple))
		}
	}
	for _, n := range []struct{ key, val string }{{"subscription_id", a.SubscriptionID}, {"resource_group", a.ResourceGroup}, {rule.NameKey, a.ResourceName}} {
		if n.val != "" && !armSegment(n.val) {
			return Errorf(Invalid, "%s %q: must not contain '/' or white space", n.key, n.val)
		}
	}
	return nil
}

func givenOf(a AttachConfig, rule AttachRule) []string {
	var g []string
	name := rule.NameKey
	if name == "" {
		name = "a resource name"
	}
	for _, n := range []struct{ key, val string }{{"subscription_id", a.SubscriptionID}, {"resource_group", a.ResourceGroup}, {name, a.ResourceName}} {
		if n.val != "" {
			g = append(g, n.key)
		}
	}
	return g
}

// checkSSH checks the account of an SSH type: a user, and a password or a private key.
func (a AttachConfig) checkSSH(t ComputeType) error {
	if err := CheckUsername("ssh_settings.admin_username", a.Username, t); err != nil {
		return err
	}
	if a.SSHPort < 1 || a.SSHPort > 65535 {
		return Errorf(Invalid, "ssh_settings.ssh_port %d: must be 1 to 65535 (default %d)", a.SSHPort, DefaultSSHPort)
	}
	switch {
	case a.Password.IsSet() && a.PrivateKey.IsSet():
		return Errorf(Invalid, "ssh_settings: give admin_password or a private key (ssh_private_key_file), not both")
	case !a.Password.IsSet() && !a.PrivateKey.IsSet():
		return Errorf(Invalid, "ssh_settings: type %s needs admin_password or a private key (ssh_private_key_file, --ssh-private-key-file) for user %q", t, a.Username)
	case a.Passphrase.IsSet() && !a.PrivateKey.IsSet():
		return Errorf(Invalid, "ssh_settings.ssh_private_key_passphrase is set without a private key; give ssh_private_key_file or remove the passphrase")
	case a.PrivateKey.IsSet():
		if err := CheckPrivateKey("ssh_settings.ssh_private_key_file", a.PrivateKey, a.Passphrase.IsSet()); err != nil {
			// Case C-10: say whose key, for which host.
			return Errorf(Invalid, "%s (user %q at %s)", ErrorMessage(err), a.Username, a.where())
		}
	}
	return nil
}

// where names the target in messages: its address, resource id or resource name.
func (a AttachConfig) where() string {
	switch {
	case a.Address != "":
		return fmt.Sprintf("%s port %d", a.Address, a.SSHPort)
	case a.ResourceID != "":
		return a.ResourceID
	}
	return a.ResourceName
}

// CheckUsername checks an account name: 1 to 64 characters, no white space, ':' or '@'.
func CheckUsername(field, name string, t ComputeType) error {
	switch {
	case name == "":
		return Errorf(Invalid, "%s is required for type %s: the account trainyard logs in as (--admin-username)", field, t)
	case len(name) > 64:
		return Errorf(Invalid, "%s: %d characters; a user name has at most 64", field, len(name))
	case strings.ContainsFunc(name, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) || r == ':' || r == '@' }):
		return Errorf(Invalid, "%s %q: a user name has no white space, ':' or '@'", field, name)
	}
	return nil
}

// CheckResourceID applies the shape of SPEC §1.4–§1.8: nine '/'-separated parts,
// /subscriptions/{sub}/resourceGroups/{rg}/providers/{namespace}/{type}/{name}, with the
// provider of type t. Keywords, namespace and type compare without case, as ARM does.
func CheckResourceID(t ComputeType, id string) error {
	rule := AttachRules[t]
	want := "/subscriptions/{subscription}/resourceGroups/{group}/providers/" + rule.Providers[0] + "/{name}"
	bad := func(why string) error {
		return Errorf(Invalid, "resource_id %q: %s; a %s resource_id looks like %s", id, why, t, want)
	}
	parts := strings.Split(id, "/")
	if len(parts) != 9 || parts[0] != "" {
		return bad(fmt.Sprintf("it has %d '/'-separated parts, want 9 starting with '/'", len(parts)))
	}
	for _, kw := range []struct {
		i    int
		want string
	}{{1, "subscriptions"}, {3, "resourceGroups"}, {5, "providers"}} {
		if !strings.EqualFold(parts[kw.i], kw.want) {
			return bad(fmt.Sprintf("part %d is %q, want %q", kw.i, parts[kw.i], kw.want))
		}
	}
	for _, p := range parts[1:] {
		if !armSegment(p) {
			return bad("a part is empty or has white space")
		}
	}
	provider := parts[6] + "/" + parts[7]
	if !slices.ContainsFunc(rule.Providers, func(p string) bool { return strings.EqualFold(p, provider) }) {
		return bad(fmt.Sprintf("its provider is %s, want %s", provider, strings.Join(rule.Providers, " or ")))
	}
	return nil
}

func armSegment(s string) bool {
	return s != "" && !strings.ContainsFunc(s, func(r rune) bool { return r == '/' || unicode.IsSpace(r) || unicode.IsControl(r) })
}

// CheckAddress checks a host to reach over SSH: a host name or an IP address, without a port,
// a scheme or a user.
func CheckAddress(addr string) error {
	const rule = "a host name (letters, digits, '-' and '.') or an IP address"
	switch {
	case strings.Contains(addr, "@"):
		// The part before '@' may be a user:password; the value is not repeated.
		return Errorf(Invalid, "address (not shown) has a user part; give %s, and the user in ssh_settings.admin_username", rule)
	case strings.Contains(addr, "://"):
		return Errorf(Invalid, "address %q: give %s, without a scheme", addr, rule)
	case net.ParseIP(addr) != nil:
		return nil
	}
	if h, p, err := net.SplitHostPort(addr); err == nil {
		return Errorf(Invalid, "address %q: give the port in ssh_settings.ssh_port (--ssh-port %s) and the host %q alone", addr, p, h)
	}
	ok := len(addr) <= 253
	for _, label := range strings.Split(strings.TrimSuffix(addr, "."), ".") {
		ok = ok && label != "" && len(label) <= 63 && label[0] != '-' && label[len(label)-1] != '-'
		for i := 0; ok && i < len(label); i++ {
			c := label[i]
			ok = isLetter(c) || isDigit(c) || c == '-'
		}
	}
	if !ok {
		return Errorf(Invalid, "address %q: must be %s, at most 253 characters, each dot-separated label 1 to 63 characters not starting or ending in '-'", addr, rule)
	}
	return nil
}

// NamespaceRule is the rule of Kubernetes namespace names (RFC 1123 labels).
const NamespaceRule = "1 to 63 characters, lowercase letters, digits and '-', starting and ending with a letter or digit"

// CheckNamespace applies NamespaceRule.
func CheckNamespace(ns string) error {
	ok := len(ns) >= 1 && len(ns) <= 63
	for i := 0; ok && i < len(ns); i++ {
		c := ns[i]
		alnum := c >= 'a' && c <= 'z' || isDigit(c)
		ok = alnum || c == '-' && i > 0 && i < len(ns)-1
	}
	if !ok {
		return Errorf(Invalid, "namespace %q is not a Kubernetes namespace name: %s; the namespace must exist already", ns, NamespaceRule)
	}
	return nil
}

// CheckSlurmrestdURL checks the URL of a slurmrestd: http or https, a host, and no user,
// password or query (a token belongs in access_token).
func CheckSlurmrestdURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return Errorf(Invalid, "slurmrestd_url: not a URL; give http(s)://host:port of slurmrestd, e.g. https://slurm.example.org:6820")
	case u.User != nil || u.RawQuery != "":
		return Errorf(Invalid, "slurmrestd_url %q: credentials do not belong in the URL; give the token in access_token (--access-token)", u.Scheme+"://"+u.Host)
	case u.Scheme != "http" && u.Scheme != "https" || u.Host == "":
		return Errorf(Invalid, "slurmrestd_url %q: give http(s)://host:port of slurmrestd, e.g. https://slurm.example.org:6820", raw)
	}
	return nil
}

// CredentialNames lists the keys of the credentials a holds, e.g. ["admin_password"]: what
// `compute show` may say about them.
func (a AttachConfig) CredentialNames() []string {
	var names []string
	for _, c := range []struct {
		key string
		s   Secret
	}{{"admin_password", a.Password}, {"ssh_private_key", a.PrivateKey}, {"ssh_private_key_passphrase", a.Passphrase},
		{"access_token", a.AccessToken}, {"kubeconfig", a.Kubeconfig}} {
		if c.s.IsSet() {
			names = append(names, c.key)
		}
	}
	return names
}

func attachedTypes() string {
	var names []string
	for _, t := range ComputeTypes {
		if t.Attached() {
			names = append(names, string(t))
		}
	}
	return strings.Join(names, ", ")
}
