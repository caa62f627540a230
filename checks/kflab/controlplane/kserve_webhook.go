// KServe's own admission webhooks for InferenceServices, without the rest of KServe.
//
// The course's CI control plane has KServe's CRD but not its controller. This small
// server mounts KServe's InferenceServiceDefaulter and InferenceServiceValidator, at
// the pinned version, on the paths that KServe's webhook manifests name, so that a
// server-side dry run of an InferenceService passes the same admission chain as on a
// cluster with KServe. It also answers, at /s3-secret-envs, what KServe's controller
// derives from a ServiceAccount's S3 Secret for a predictor's storage initializer
// (KServe's own credential builder; tests/test_object_store.py feeds that environment
// to the storage initializer). scripts/controlplane builds it (see build.py) and starts it.
package main

import (
	"encoding/json"
	"flag"
	"log"
	"net/http"

	"github.com/kserve/kserve/pkg/apis/serving/v1beta1"
	"github.com/kserve/kserve/pkg/credentials/s3"
	corev1 "k8s.io/api/core/v1"
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
	mux.HandleFunc("/s3-secret-envs", func(w http.ResponseWriter, r *http.Request) {
		// {"secret": a Secret, "s3Config": the "s3" part of inferenceservice-config's credentials}
		var in struct {
			Secret   corev1.Secret `json:"secret"`
			S3Config s3.S3Config   `json:"s3Config"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(s3.BuildSecretEnvs(&in.Secret, &in.S3Config))
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })
	log.Printf("serving KServe's InferenceService webhooks on https://%s", *addr)
	log.Fatal(http.ListenAndServeTLS(*addr, *cert, *key, mux))
}
