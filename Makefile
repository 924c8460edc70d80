# MLX Manager — the two commands: `make run` and `make test`.
# SANITIZE=1 builds with ASan+UBSan into build-sanitize/. CUDA=ON|OFF|AUTO (default AUTO).
SHELL := /bin/bash
JOBS ?= 2
CUDA ?= AUTO
ifeq ($(SANITIZE),1)
BUILD_DIR ?= build-sanitize
CMAKE_EXTRA := -DMLXM_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
else
BUILD_DIR ?= build
CMAKE_EXTRA := -DCMAKE_BUILD_TYPE=Release
endif
CTEST_ARGS ?=

.PHONY: run test build setup configure clean format lint

setup:
	@scripts/setup

configure:
	@cmake -S . -B $(BUILD_DIR) -G Ninja -DMLXM_CUDA=$(CUDA) $(CMAKE_EXTRA) >/dev/null

build: setup configure
	@cmake --build $(BUILD_DIR) -j$(JOBS)

test: build
	@cd $(BUILD_DIR) && ctest --output-on-failure -j$(JOBS) $(CTEST_ARGS)

run: build
	@scripts/run-server $(BUILD_DIR)

clean:
	rm -rf build build-sanitize

format:
	@git ls-files '*.cpp' '*.h' '*.cu' '*.cuh' | xargs clang-format -i

lint: configure
	@git ls-files 'src/*.cpp' | xargs clang-tidy -p $(BUILD_DIR) --quiet
