# MLX Manager — the two commands: `make run` and `make test`.
# SANITIZE=1 builds with ASan+UBSan into build-sanitize/ (CUDA off unless CUDA= is given).
# CUDA=ON|OFF|AUTO (default AUTO).
SHELL := /bin/bash
JOBS ?= 2
ifeq ($(SANITIZE),1)
BUILD_DIR ?= build-sanitize
# ASan/UBSan do not instrument device code: the sanitizer build is CPU-only unless asked.
CUDA ?= OFF
CMAKE_EXTRA := -DMLXM_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
else
BUILD_DIR ?= build
CMAKE_EXTRA := -DCMAKE_BUILD_TYPE=Release
endif
CUDA ?= AUTO
CTEST_ARGS ?=
# CI builds CUDA code for sm_90 only (compile check; no GPU there); developers get all archs.
ifdef CI
CMAKE_EXTRA += -DCMAKE_CUDA_ARCHITECTURES=90
endif

.PHONY: run test build setup configure clean format lint

setup:
	@scripts/setup

configure:
	@cmake -S . -B $(BUILD_DIR) -G Ninja -DMLXM_CUDA=$(CUDA) $(CMAKE_EXTRA) >/dev/null

build: setup configure
	@cmake --build $(BUILD_DIR) -j$(JOBS)

test: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -j$(JOBS) --timeout 600 $(CTEST_ARGS)

run: build
	@scripts/run-server $(BUILD_DIR)

clean:
	rm -rf build build-sanitize

format:
	@git ls-files '*.cpp' '*.h' '*.cu' '*.cuh' | xargs clang-format -i

lint: configure
	@git ls-files 'src/*.cpp' | xargs clang-tidy -p $(BUILD_DIR) --quiet

# libFuzzer targets (clang), each run for FUZZ_SECONDS with its corpus in build-fuzz/corpus/.
FUZZ_SECONDS ?= 60
.PHONY: fuzz
fuzz: setup
	@CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DMLXM_FUZZ=ON -DMLXM_CUDA=OFF \
	  -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build build-fuzz -j$(JOBS) --target fuzz_targets
	@for f in build-fuzz/fuzz/*_fuzz; do n=$$(basename $$f); mkdir -p build-fuzz/corpus/$$n; \
	  seeds=""; [ -d tests/fuzz/seeds/$$n ] && seeds=tests/fuzz/seeds/$$n; \
	  echo "== $$n ($(FUZZ_SECONDS)s)"; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=4096 build-fuzz/corpus/$$n \
	    $$seeds 2>&1 | tail -3; [ $${PIPESTATUS[0]} -eq 0 ] || exit 1; done
