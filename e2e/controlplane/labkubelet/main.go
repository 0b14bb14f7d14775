// Command lab-kubelet serves the part of the kubelet API the lab's node agent does not: exec into
// a Pod (`kubectl exec`, the apiserver's pods/exec), with upstream's own streaming server
// (k8s.io/cri-streaming, SPDY and WebSocket). One runs per lab node, in the node's network
// namespace, on the node's addresses at the kubelet port.
//
// A command runs with the host's tools inside the Pod's network namespace, whose name the
// agent writes to <pods-dir>/<namespace>/<pod>. Only clients with a certificate from the lab's
// CA (the apiserver's kubelet client) are served.
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
	utilexec "k8s.io/utils/exec"
)

type listenFlags []string

func (l *listenFlags) String() string     { return strings.Join(*l, ",") }
func (l *listenFlags) Set(v string) error { *l = append(*l, v); return nil }

// Longest an exec may run, and longest a stream may idle.
const (
	execTimeout       = 10 * time.Minute
	idleTimeout       = 5 * time.Minute
	streamCreationMax = 30 * time.Second
)

func main() {
	var listen listenFlags
	flag.Var(&listen, "listen", "address:port to serve on (repeatable)")
	podsDir := flag.String("pods-dir", "", "directory of <namespace>/<pod> files naming each Pod's network namespace")
	clientCA := flag.String("client-ca", "", "PEM file of the CA whose client certificates are served")
	flag.Parse()
	if len(listen) == 0 || *podsDir == "" || *clientCA == "" {
		log.Fatal("lab-kubelet: --listen, --pods-dir and --client-ca are required")
	}
	tlsConfig, err := serverTLS(*clientCA)
	if err != nil {
		log.Fatalf("lab-kubelet: %v", err)
	}
	handler := &server{podsDir: *podsDir}
	errs := make(chan error, len(listen))
	for _, addr := range listen {
		srv := &http.Server{
			Addr:              addr,
			Handler:           handler,
			TLSConfig:         tlsConfig,
			ReadHeaderTimeout: 10 * time.Second,
		}
		go func() { errs <- fmt.Errorf("serving %s: %w", addr, srv.ListenAndServeTLS("", "")) }()
	}
	log.Fatalf("lab-kubelet: %v", <-errs)
}

// serverTLS: a fresh self-signed serving certificate (the apiserver does not verify the
// kubelet's in the lab) and client certificates required from the lab's CA.
func serverTLS(caFile string) (*tls.Config, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("reading the client CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("no certificate in %s", caFile)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "lab-kubelet"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}},
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS12,
	}, nil
}

type server struct {
	podsDir string
}

// ServeHTTP serves /exec/{namespace}/{pod}/{container} and /exec/{namespace}/{pod}/{uid}/{container}
// (GET or POST, as the kubelet does); everything else is 404.
func (s *server) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	parts := strings.Split(strings.Trim(req.URL.Path, "/"), "/")
	if len(parts) < 4 || len(parts) > 5 || parts[0] != "exec" {
		http.NotFound(w, req)
		return
	}
	ns, pod, container := parts[1], parts[2], parts[len(parts)-1]
	uid := ""
	if len(parts) == 5 {
		uid = parts[3]
	}
	netns, err := s.netns(ns, pod)
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	opts, err := remotecommand.NewOptions(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	cmd := req.URL.Query()["command"]
	if len(cmd) == 0 {
		http.Error(w, "no command given", http.StatusBadRequest)
		return
	}
	log.Printf("exec %s/%s/%s in %s: %q", ns, pod, container, netns, cmd)
	remotecommand.ServeExec(w, req, executor{netns: netns}, ns+"/"+pod, uid, container, cmd, opts,
		idleTimeout, streamCreationMax, remotecommand.SupportedStreamingProtocols)
}

// netns reads the Pod's network namespace name from the agent's file.
func (s *server) netns(ns, pod string) (string, error) {
	for _, part := range []string{ns, pod} {
		if part == "" || part == "." || part == ".." || strings.ContainsAny(part, `/\`) {
			return "", fmt.Errorf("invalid name %q", part)
		}
	}
	b, err := os.ReadFile(filepath.Join(s.podsDir, ns, pod))
	if err != nil {
		return "", fmt.Errorf("pod %s/%s does not run on this node: %v", ns, pod, err)
	}
	name := strings.TrimSpace(string(b))
	if name == "" || strings.ContainsAny(name, "/ \t") {
		return "", fmt.Errorf("pod %s/%s has no network namespace recorded", ns, pod)
	}
	return name, nil
}

// executor runs a command in one network namespace.
type executor struct {
	netns string
}

func (e executor) ExecInContainer(ctx context.Context, _ string, _ string, _ string, cmd []string,
	in io.Reader, out, errOut io.WriteCloser, tty bool, _ <-chan remotecommand.TerminalSize, _ time.Duration) error {
	if tty {
		return errors.New("the lab's exec has no terminal; run without -t")
	}
	ctx, cancel := context.WithTimeout(ctx, execTimeout)
	defer cancel()
	argv := append([]string{"netns", "exec", e.netns}, cmd...)
	c := exec.CommandContext(ctx, "ip", argv...)
	c.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root"}
	if in != nil {
		c.Stdin = in
	}
	if out != nil {
		c.Stdout = out
	}
	if errOut != nil {
		c.Stderr = errOut
	}
	err := c.Run()
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		return utilexec.CodeExitError{Err: err, Code: exitErr.ExitCode()}
	}
	return err
}

