package cluster

import "k8s.io/apimachinery/pkg/runtime/schema"

// Resources `oc update service` reads and writes.
var (
	UpdateServiceResource = schema.GroupVersionResource{Group: "updateservice.operator.openshift.io", Version: "v1", Resource: "updateservices"}
	ProxyResource         = schema.GroupVersionResource{Group: "config.openshift.io", Version: "v1", Resource: "proxies"}
	ConfigMapResource     = schema.GroupVersionResource{Version: "v1", Resource: "configmaps"}
	SecretResource        = schema.GroupVersionResource{Version: "v1", Resource: "secrets"}
)

// ProxyName is the name of the cluster's one proxies.config.openshift.io object.
const ProxyName = "cluster"
