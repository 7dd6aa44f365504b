# imgbuild: `make demo` and `make test` do all set-up on a fresh Debian machine.
GO      ?= go
VERSION ?= 0.1.0-dev
BIN     := bin/imgbuild
LDFLAGS := -X github.com/imgbuild/imgbuild/internal/cli.Version=$(VERSION)
# CI has 2 cores and a time budget: keep the whole suite well under 20 minutes.
TEST_TIMEOUT ?= 25m
# A count, not a duration: with a duration, Go before 1.27 may fail a fuzz
# run that found nothing with "context deadline exceeded" when a worker is
# mid-input as the time ends (golang/go#75804). About 20 s each here, as
# the time to minimize each new interesting input (60 s by default, which
# a count does not bound) is capped.
FUZZ_TIME    ?= 100000x
FUZZ_FLAGS   ?= -fuzzminimizetime 5s

.PHONY: all build setup test test-docker-modern unit fuzz vet demo bench clean

all: build

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/imgbuild

setup:
	bash scripts/test-setup.sh

vet:
	@test -z "$$(gofmt -l cmd internal builders provisioners postprocessors datasources bench 2>/dev/null)" || { gofmt -l cmd internal builders provisioners postprocessors datasources bench; echo 'gofmt: files above need formatting'; exit 1; }
	$(GO) vet ./...

# Every test, with the real components the set-up script provides; then
# what the tests left on the engines, registries, S3 server and in TMPDIR
# (scripts/leftovers.sh: a failure under IMGBUILD_E2E=1, else a warning).
LEFTOVERS_SNAPSHOT ?= bin/leftovers-before-test.txt
test: setup build vet
	bash scripts/leftovers.sh snapshot $(LEFTOVERS_SNAPSHOT)
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...
	$(MAKE) test-docker-modern
	bash scripts/leftovers.sh check $(LEFTOVERS_SNAPSHOT)
	$(MAKE) fuzz

# The docker tests again, against the modern engine testdata/docker-modern.sh
# starts (dockerd 28, containerd image store). Under IMGBUILD_E2E=1 (CI) a
# missing engine fails; otherwise it is one "skipped" line.
DOCKER_MODERN_PKGS ?= ./builders/docker/... ./postprocessors/docker... ./internal/dockerengine/...
test-docker-modern:
	@host=$$(bash testdata/docker-modern.sh socket); \
	if ! DOCKER_HOST=$$host docker info >/dev/null 2>&1; then \
	  if [ "$$IMGBUILD_E2E" = 1 ]; then echo "test-docker-modern: the modern engine is not running at $$host (scripts/test-setup.sh starts it)"; exit 1; fi; \
	  echo "test-docker-modern: skipped: the modern engine is not running at $$host (scripts/test-setup.sh starts it)"; exit 0; \
	fi; \
	DOCKER_HOST=$$host $(GO) test -count=1 -timeout $(TEST_TIMEOUT) $(DOCKER_MODERN_PKGS)

# Unit tests only, no set-up (quick loop while editing).
unit:
	$(GO) test -short -count=1 ./...

# Bounded fuzzing of the template parser and evaluator: must never panic.
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzTemplate$$' -fuzztime $(FUZZ_TIME) $(FUZZ_FLAGS) ./internal/template/
	$(GO) test -run '^$$' -fuzz '^FuzzTranslate$$' -fuzztime $(FUZZ_TIME) $(FUZZ_FLAGS) ./internal/template/legacy/

# The demo: the docker source of examples/nginx (Debian bookworm, nginx
# from Debian's mirror), then a container of the image answers a curl.
demo: build
	bash scripts/test-setup.sh docker
	./$(BIN) build -force -only 'docker.*' examples/nginx
	@echo
	@echo '--- the artifact, serving its page ---'
	docker image inspect --format '{{.Id}}  tags={{.RepoTags}}  cmd={{.Config.Cmd}}' imgbuild-nginx:latest
	@cid=$$(docker run -d -p 127.0.0.1::80 imgbuild-nginx:latest); \
	  port=$$(docker port $$cid 80/tcp | head -n1 | sed 's/.*://'); \
	  echo "curl http://127.0.0.1:$$port/"; \
	  ok=1; for i in $$(seq 20); do if curl -fsS http://127.0.0.1:$$port/; then ok=0; break; fi; sleep 0.5; done; \
	  docker rm -f $$cid >/dev/null; exit $$ok

# Benchmarks: each reports its ratio to a floor measured in the same run.
bench: setup build
	$(GO) test -run '^$$' -bench . -benchtime 3x -timeout 60m ./bench/

clean:
	rm -rf bin
