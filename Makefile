.PHONY: build test demo fixtures vet release

build:
	go build -o bin/manyarch ./cmd/manyarch

test:
	./hack/test.sh

demo:
	./hack/demo.sh

fixtures: build
	./hack/fixtures.sh

vet:
	gofmt -l $$(git ls-files '*.go')
	go vet ./...

release:
	./hack/release.sh
