// Command lab-kubelet serves the part of the kubelet API the lab's node agent does not: exec into
// a Pod (`kubectl exec`, the apiserver's pods/exec), with upstream's own streaming server
// (k8s.io/cri-streaming, SPDY and WebSocket). One runs per lab node, in the node's network
// namespace, on the node's addresses at the kubelet port.
//
// A command runs with the host's tools inside the Pod's network namespace, whose name the
// agent writes to <pods-dir>/<namespace>/<pod>. The lab has no cluster DNS: before each exec
// the Services' names (short ones for the Pod's namespace, qualified ones for all) go into
// /etc/netns/<netns>/hosts, which `ip netns exec` mounts over /etc/hosts. Only clients with a
// certificate from the lab's CA (the apiserver's kubelet client) are served.
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
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
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
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig for reading Services (their names go into the Pods' hosts files)")
	flag.Parse()
	if len(listen) == 0 || *podsDir == "" || *clientCA == "" || *kubeconfig == "" {
		log.Fatal("lab-kubelet: --listen, --pods-dir, --client-ca and --kubeconfig are required")
	}
	restConfig, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		log.Fatalf("lab-kubelet: %v", err)
	}
	client, err := kubernetes.NewForConfig(restConfig)
	if err != nil {
		log.Fatalf("lab-kubelet: %v", err)
	}
	tlsConfig, err := serverTLS(*clientCA)
	if err != nil {
		log.Fatalf("lab-kubelet: %v", err)
	}
	handler := &server{podsDir: *podsDir, client: client}
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
	client  kubernetes.Interface
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
	if err := s.writeHosts(req.Context(), ns, netns); err != nil {
		log.Printf("exec %s/%s: no Service names in /etc/hosts: %v", ns, pod, err)
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
	if rc, err := wgetrc(); err == nil {
		c.Env = append(c.Env, "WGETRC="+rc)
	}
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

// writeHosts writes /etc/netns/<netns>/hosts: localhost, then every Service with a ClusterIP as
// <name>.<namespace>, <name>.<namespace>.svc and <name>.<namespace>.svc.cluster.local, and as
// plain <name> for the Services of namespace ns (what cluster DNS's search path gives a Pod).
func (s *server) writeHosts(ctx context.Context, ns, netns string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	svcs, err := s.client.CoreV1().Services("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	var b strings.Builder
	b.WriteString("127.0.0.1 localhost\n::1 localhost\n")
	for _, svc := range svcs.Items {
		names := []string{
			svc.Name + "." + svc.Namespace,
			svc.Name + "." + svc.Namespace + ".svc",
			svc.Name + "." + svc.Namespace + ".svc.cluster.local",
		}
		if svc.Namespace == ns {
			names = append([]string{svc.Name}, names...)
		}
		for _, ip := range svc.Spec.ClusterIPs {
			if net.ParseIP(ip) == nil {
				continue
			}
			fmt.Fprintf(&b, "%s %s\n", ip, strings.Join(names, " "))
		}
	}
	dir := filepath.Join("/etc/netns", netns)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp("/etc/netns", "."+netns+"-hosts-*")
	if err != nil {
		return err
	}
	if _, err := tmp.WriteString(b.String()); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), filepath.Join(dir, "hosts"))
}

// wgetrc is a wget configuration that makes the host's GNU wget try once, as the busybox wget
// of the images the tests expect does (GNU wget retries a timed-out connection 20 times, so
// `wget -T 5` would take minutes instead of 5 seconds).
func wgetrc() (string, error) {
	path := filepath.Join(os.TempDir(), "ferrolb-lab-kubelet.wgetrc")
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	return path, os.WriteFile(path, []byte("tries = 1\n"), 0o644)
}
