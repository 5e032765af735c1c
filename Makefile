# The two commands of the README: `make demo` and `make test`.
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?= -DCMAKE_BUILD_TYPE=Release -DPython_EXECUTABLE=/usr/bin/python3

.PHONY: deps build demo test sanitize clean

deps:
	bash scripts/install-deps.sh

build: deps
	cmake -S . -B $(BUILD) -G Ninja $(CMAKE_FLAGS)
	cmake --build $(BUILD) -j $(JOBS)

demo: build
	./$(BUILD)/veloxquant demo

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# The whole C++ suite under AddressSanitizer + UndefinedBehaviorSanitizer (Debug build).
sanitize: deps
	cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DVELOXQUANT_SANITIZE=ON -DVELOXQUANT_PYTHON=OFF
	cmake --build build-asan -j $(JOBS)
	cd build-asan && ctest --output-on-failure -j $(JOBS)

clean:
	rm -rf $(BUILD) build-asan
