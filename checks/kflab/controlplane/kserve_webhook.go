// KServe's own admission webhooks for InferenceServices, without the rest of KServe.
//
// The course's CI control plane has KServe's CRD but not its controller. This small
// server mounts KServe's InferenceServiceDefaulter and InferenceServiceValidator, at
// the pinned version, on the paths that KServe's webhook manifests name, so that a
// server-side dry run of an InferenceService passes the same admission chain as on a
// cluster with KServe. scripts/controlplane builds it (see build.py) and starts it.
package main

import (
	"flag"
	"log"
	"net/http"

	"github.com/kserve/kserve/pkg/apis/serving/v1beta1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

func main() {
	// controller-runtime's client config adds --kubeconfig: the defaulter reads KServe's ConfigMap.
	addr := flag.String("addr", "127.0.0.1:19444", "host:port to serve HTTPS on")
	cert := flag.String("cert", "", "serving certificate (PEM)")
	key := flag.String("key", "", "serving key (PEM)")
	flag.Parse()

	scheme := runtime.NewScheme()
	if err := v1beta1.AddToScheme(scheme); err != nil {
		log.Fatal(err)
	}
	isvc := &v1beta1.InferenceService{}
	mux := http.NewServeMux()
	mux.Handle("/mutate-serving-kserve-io-v1beta1-inferenceservice",
		admission.WithCustomDefaulter(scheme, isvc, &v1beta1.InferenceServiceDefaulter{}))
	mux.Handle("/validate-serving-kserve-io-v1beta1-inferenceservice",
		admission.WithCustomValidator(scheme, isvc, &v1beta1.InferenceServiceValidator{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	log.Printf("serving KServe's InferenceService webhooks on https://%s", *addr)
	log.Fatal(http.ListenAndServeTLS(*addr, *cert, *key, mux))
}
