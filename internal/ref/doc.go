// Package ref parses manyarch's one reference syntax and turns references
// into image sources and destinations.
//
// The syntax is the containers-transports style that skopeo, buildah and
// podman users know:
//
//	NAME[:TAG|@DIGEST]        the local store first, then the registry
//	store:NAME[:TAG|@DIGEST]  the local store (explicit: for names with a registry host)
//	docker://NAME[:TAG|@DIGEST]  a registry only
//	oci:DIR[:TAG]             an OCI image layout directory
//	oci-archive:FILE[:TAG]    an OCI image layout in a tar file
//	docker-archive:FILE[:NAME[:TAG]]  a `docker save` tar file
//
// A plain NAME is kept in the store in its familiar form: "busybox" is
// "busybox:latest", and "docker.io/library/busybox:1.36" is
// "busybox:1.36", as docker prints them.
//
// What a reference names is an image.Artifact: a v1.Image or a v1.ImageIndex from
// go-containerregistry; callers tell them apart with a type switch. Read
// returns lazy values whose blobs are fetched (and verified) when used; Write
// stores every blob before it names the result, so a destination never holds
// a name that points at missing content.
package ref
