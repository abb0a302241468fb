# init: the container images (Containerfile.*) and the Kubernetes
# manifests of weft; shipped in the tarball, not installed.
INIT_MANIFESTS = \
	init/manifests/00-namespace.yaml \
	init/manifests/10-rbac.yaml \
	init/manifests/20-server.yaml \
	init/manifests/30-ca-configmap.yaml \
	init/manifests/40-webhook.yaml
EXTRA_DIST += init/README init/Containerfile.init \
	init/Containerfile.sidecar init/Containerfile.server $(INIT_MANIFESTS)
