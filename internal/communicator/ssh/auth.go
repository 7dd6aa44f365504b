package ssh

import (
	"errors"
	"fmt"
	"net"
	"os"

	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// credentials are the ways one SSH hop (the machine or the bastion) may
// authenticate, as configured.
type credentials struct {
	user           string
	password       string
	privateKeyFile string
	certFile       string
	privateKeyPEM  []byte // a generated temporary key
	agentAuth      bool
}

// authMethods turns credentials into x/crypto auth methods, reading key
// files now so that a bad key is reported before any connection attempt.
// The returned closer releases the agent connection, if one was opened.
func (c credentials) authMethods() (methods []gossh.AuthMethod, closer func(), err error) {
	closer = func() {}
	if c.agentAuth {
		sock := os.Getenv("SSH_AUTH_SOCK")
		if sock == "" {
			return nil, closer, errors.New("ssh agent authentication is on but SSH_AUTH_SOCK is not set: start an agent (ssh-agent) or turn agent auth off")
		}
		conn, err := net.Dial("unix", sock)
		if err != nil {
			return nil, closer, fmt.Errorf("connecting to the ssh agent at SSH_AUTH_SOCK=%s: %w", sock, err)
		}
		closer = func() { conn.Close() }
		methods = append(methods, gossh.PublicKeysCallback(agent.NewClient(conn).Signers))
	}
	var signers []gossh.Signer
	if c.privateKeyFile != "" {
		s, err := signerFromFile(c.privateKeyFile, c.certFile)
		if err != nil {
			closer()
			return nil, func() {}, err
		}
		signers = append(signers, s)
	}
	if len(c.privateKeyPEM) > 0 {
		s, err := gossh.ParsePrivateKey(c.privateKeyPEM)
		if err != nil {
			closer()
			return nil, func() {}, fmt.Errorf("reading the temporary private key: %w", err)
		}
		signers = append(signers, s)
	}
	if len(signers) > 0 {
		methods = append(methods, gossh.PublicKeys(signers...))
	}
	if c.password != "" {
		methods = append(methods, gossh.Password(c.password))
		// Many servers ask for passwords through keyboard-interactive only.
		methods = append(methods, gossh.KeyboardInteractive(answerAll(c.password)))
	}
	if len(methods) == 0 {
		closer()
		return nil, func() {}, errors.New("no ssh credentials: set ssh_password, ssh_private_key_file or ssh_agent_auth (or let the builder make a temporary key pair)")
	}
	return methods, closer, nil
}

// answerAll answers every keyboard-interactive question with the password.
func answerAll(password string) gossh.KeyboardInteractiveChallenge {
	return func(_, _ string, questions []string, _ []bool) ([]string, error) {
		answers := make([]string, len(questions))
		for i := range answers {
			answers[i] = password
		}
		return answers, nil
	}
}

// signerFromFile reads a private key, and wraps it with the certificate in
// certFile when one is given.
func signerFromFile(keyFile, certFile string) (gossh.Signer, error) {
	pemBytes, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("reading the ssh private key: %w", err)
	}
	signer, err := gossh.ParsePrivateKey(pemBytes)
	if err != nil {
		var missing *gossh.PassphraseMissingError
		if errors.As(err, &missing) {
			return nil, fmt.Errorf("ssh private key %s is protected by a passphrase: load it into ssh-agent and set ssh_agent_auth = true", keyFile)
		}
		return nil, fmt.Errorf("parsing the ssh private key %s: %w", keyFile, err)
	}
	if certFile == "" {
		return signer, nil
	}
	certBytes, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("reading the ssh certificate: %w", err)
	}
	pub, _, _, _, err := gossh.ParseAuthorizedKey(certBytes)
	if err != nil {
		return nil, fmt.Errorf("parsing the ssh certificate %s: %w", certFile, err)
	}
	cert, ok := pub.(*gossh.Certificate)
	if !ok {
		return nil, fmt.Errorf("%s is a public key, not an ssh certificate", certFile)
	}
	cs, err := gossh.NewCertSigner(cert, signer)
	if err != nil {
		return nil, fmt.Errorf("ssh certificate %s does not match the private key %s: %w", certFile, keyFile, err)
	}
	return cs, nil
}
