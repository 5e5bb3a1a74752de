package store

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/trainyard/trainyard"
)

// computeProps is the kind-specific part of a compute record, kept as JSON in
// computes.properties. It never holds a credential: those go to computes.secrets, sealed.
type computeProps struct {
	SSH      *sshProps      `json:"ssh,omitempty"`
	Instance *instanceProps `json:"instance,omitempty"`
	Attach   *attachProps   `json:"attach,omitempty"`
}

type sshProps struct {
	AdminUsername string `json:"admin_username,omitempty"`
	PublicKey     string `json:"public_key,omitempty"`
}

type instanceProps struct {
	Power               trainyard.PowerState `json:"power"`
	IdleShutdownSeconds int64                `json:"idle_shutdown_seconds,omitempty"`
}

type attachProps struct {
	ResourceID     string `json:"resource_id,omitempty"`
	SubscriptionID string `json:"subscription_id,omitempty"`
	ResourceGroup  string `json:"resource_group,omitempty"`
	ResourceName   string `json:"resource_name,omitempty"`
	Address        string `json:"address,omitempty"`
	SSHPort        int    `json:"ssh_port,omitempty"`
	Username       string `json:"username,omitempty"`
	Namespace      string `json:"namespace,omitempty"`
	SlurmrestdURL  string `json:"slurmrestd_url,omitempty"`
}

// Keys of the sealed credentials object.
const (
	secretAdminPassword = "admin_password"
	secretPrivateKey    = "ssh_private_key"
	secretPassphrase    = "ssh_private_key_passphrase"
	secretAccessToken   = "access_token"
	secretKubeconfig    = "kubeconfig"
)

// encodeProps splits c's kind-specific settings into the properties JSON and the sealed
// credentials ("" when c has none).
func (s *DB) encodeProps(c trainyard.ComputeTarget) (props, sealed string) {
	var p computeProps
	creds := map[string]string{}
	put := func(key string, v trainyard.Secret) {
		if v.IsSet() {
			creds[key] = v.Reveal()
		}
	}
	if c.SSH != nil {
		p.SSH = &sshProps{AdminUsername: c.SSH.AdminUsername, PublicKey: c.SSH.PublicKey}
		put(secretAdminPassword, c.SSH.AdminPassword)
	}
	if c.Instance != nil {
		p.Instance = &instanceProps{Power: c.Instance.Power, IdleShutdownSeconds: int64(c.Instance.IdleTimeBeforeShutdown / time.Second)}
	}
	if a := c.Attach; a != nil {
		p.Attach = &attachProps{ResourceID: a.ResourceID, SubscriptionID: a.SubscriptionID, ResourceGroup: a.ResourceGroup,
			ResourceName: a.ResourceName, Address: a.Address, SSHPort: a.SSHPort, Username: a.Username,
			Namespace: a.Namespace, SlurmrestdURL: a.SlurmrestdURL}
		put(secretAdminPassword, a.Password)
		put(secretPrivateKey, a.PrivateKey)
		put(secretPassphrase, a.Passphrase)
		put(secretAccessToken, a.AccessToken)
		put(secretKubeconfig, a.Kubeconfig)
	}
	b, _ := json.Marshal(p)
	if len(creds) > 0 {
		plain, _ := json.Marshal(creds)
		sealed = s.box.Seal(plain)
	}
	return string(b), sealed
}

// decodeProps fills c's kind-specific settings from the two columns, opening the credentials.
func (s *DB) decodeProps(c *trainyard.ComputeTarget, props, sealed string) error {
	var p computeProps
	if err := json.Unmarshal([]byte(props), &p); err != nil {
		return fmt.Errorf("compute %s/%s: properties: %w", c.Workspace, c.Name, err)
	}
	creds := map[string]string{}
	if sealed != "" {
		plain, err := s.box.Open(sealed)
		if err != nil {
			return fmt.Errorf("compute %s/%s: credentials: %w", c.Workspace, c.Name, err)
		}
		if err := json.Unmarshal(plain, &creds); err != nil {
			return fmt.Errorf("compute %s/%s: credentials: damaged", c.Workspace, c.Name)
		}
	}
	get := func(key string) trainyard.Secret { return trainyard.NewSecret(creds[key]) }
	if p.SSH != nil {
		c.SSH = &trainyard.SSHSettings{AdminUsername: p.SSH.AdminUsername, PublicKey: p.SSH.PublicKey, AdminPassword: get(secretAdminPassword)}
	}
	if p.Instance != nil {
		c.Instance = &trainyard.InstanceSettings{Power: p.Instance.Power, IdleTimeBeforeShutdown: time.Duration(p.Instance.IdleShutdownSeconds) * time.Second}
	}
	if a := p.Attach; a != nil {
		c.Attach = &trainyard.AttachConfig{ResourceID: a.ResourceID, SubscriptionID: a.SubscriptionID, ResourceGroup: a.ResourceGroup,
			ResourceName: a.ResourceName, Address: a.Address, SSHPort: a.SSHPort, Username: a.Username,
			Namespace: a.Namespace, SlurmrestdURL: a.SlurmrestdURL,
			Password: get(secretAdminPassword), PrivateKey: get(secretPrivateKey), Passphrase: get(secretPassphrase),
			AccessToken: get(secretAccessToken), Kubeconfig: get(secretKubeconfig)}
	}
	return nil
}
